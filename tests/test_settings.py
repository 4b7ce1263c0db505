"""Settings for several engines: the outbox's lease and the connection pool, from the
environment, refused with a message naming the setting when they cannot work."""

from __future__ import annotations

import pytest

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
