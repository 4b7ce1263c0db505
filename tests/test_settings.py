"""Settings from the environment and the command line, refused with one line naming the
setting when they cannot work."""

from __future__ import annotations

import pytest

from engine.cli import main
from engine.errors import ConfigError
from engine.settings import Settings


def test_the_lease_and_the_pool_default_to_a_minute_and_ten_connections() -> None:
    settings = Settings.from_env({})
    assert (settings.outbox_lease, settings.db_pool) == (60.0, 10)


def test_the_lease_and_the_pool_come_from_the_environment() -> None:
    settings = Settings.from_env({"RINGBACK_OUTBOX_LEASE": "7.5", "RINGBACK_DB_POOL": "3"})
    assert (settings.outbox_lease, settings.db_pool) == (7.5, 3)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param("RINGBACK_OUTBOX_LEASE", "0.5", "RINGBACK_OUTBOX_LEASE must be a number "
                     "of seconds, 1 or more, got '0.5'", id="a lease under a second"),
        pytest.param("RINGBACK_OUTBOX_LEASE", "soon", "RINGBACK_OUTBOX_LEASE must be a number "
                     "of seconds, 1 or more, got 'soon'", id="a lease that is no number"),
        pytest.param("RINGBACK_DB_POOL", "0", "RINGBACK_DB_POOL must be a whole number, 1 or "
                     "more, got '0'", id="an empty pool"),
    ],
)
def test_a_lease_or_pool_that_cannot_work_is_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({name: value})
    assert str(refused.value) == message


@pytest.mark.parametrize(("env", "names"), [
    pytest.param({"RINGBACK_DB": "garbage"}, "RINGBACK_DB", id="a store that is no URL"),
    pytest.param({"FORWARDED_ALLOW_IPS": "not-an-ip"}, "FORWARDED_ALLOW_IPS", id="a bad proxy"),
    pytest.param({"PUBLIC_URL": "calls.example.com"}, "PUBLIC_URL", id="a URL with no scheme"),
])
def test_a_setting_that_cannot_work_is_one_line_naming_it(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert names in str(caught.value) and "\n" not in str(caught.value)


def test_trusted_proxies_are_matched_by_address_and_network() -> None:
    settings = Settings.from_env({"FORWARDED_ALLOW_IPS": "10.0.0.0/8, 192.0.2.7"})
    assert [settings.trusts(peer) for peer in ("10.9.8.7", "192.0.2.7", "192.0.2.8", None)] == [
        True, True, False, False,
    ]


@pytest.mark.parametrize("argv", [
    pytest.param(["serve", "--port", "99999"], id="a port out of range"),
    pytest.param(["simulate", "salon-belle", "--hangup-after", "-1"], id="negative seconds"),
])
def test_impossible_options_are_refused_by_the_command_line(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2


def test_serving_a_missing_flows_folder_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--flows", "/nonexistent/flows", "serve"]) == 2
    assert "flows folder /nonexistent/flows does not exist" in capsys.readouterr().err


def test_every_setting_has_a_flag_that_wins_before_or_after_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.cli import _parser, _settings

    monkeypatch.setenv("TWILIO_API_BASE", "https://env.example.test")
    monkeypatch.setenv("RINGBACK_DB", "sqlite:///from-env.db")
    args = _parser().parse_args([
        "--db", "sqlite:///before.db", "check", "--flows", "elsewhere",
        "--twilio-api-base", "https://flag.example.test", "--twilio-auth-token", "t0k3n",
    ])
    settings = _settings(args)
    assert (str(settings.flows), settings.db, settings.api_base, settings.auth_token) == (
        "elsewhere", "sqlite:///before.db", "https://flag.example.test", "t0k3n",
    )
