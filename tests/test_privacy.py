"""Personal data: retention deletes what is old, `export` gives one caller, `forget` erases
them everywhere but the opt-out list, and voicemails go from Twilio too."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from engine.cli import main
from engine.privacy import KEPT_TABLES, Erased, Recordings, forget, sweep, twilio_resource
from engine.settings import Settings
from engine.store import Store, metadata

LINE = "+48223071500"
ANNA = "+48601000001"
BORIS = "+48601000002"
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def a_call(store: Store, sid: str, caller: str, at: datetime, *, voicemail: bool = False) -> None:
    """A call with an event, a text, its receipt and (maybe) a voicemail, as webhooks leave it."""
    store.start_call(sid, ("salon", "v1"), LINE, caller, at, "busy")
    store.add_event(sid, "voice", {"CallSid": sid, "From": caller})
    message = store.claim_message(
        {
            "call_sid": sid,
            "step": "on.busy.0",
            "flow_id": "salon",
            "line": LINE,
            "trigger": "busy",
            "to_number": caller,
            "status": "pending",
        }
    )
    assert message is not None
    store.record_receipt(message, f"SM{sid}", "delivered", None, {"To": caller})
    if voicemail:
        store.keep_recording(sid, RECORDING + sid)


def count(store: Store, table: str, where: str = "1 = 1", **params: Any) -> int:
    with store.engine.connect() as connection:
        return int(
            connection.execute(
                text(f"SELECT count(*) FROM {table} WHERE {where}"), params
            ).scalar_one()
        )


@pytest.fixture
def store(new_db: Callable[..., str]) -> Store:
    store = Store(new_db("store"))
    store.create()
    return store


class Twilio:
    """Twilio's recordings API as an httpx mock: remembers each DELETE, answers `status`."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.deleted: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.deleted.append((request.method, str(request.url)))
        assert request.headers["authorization"].startswith("Basic ")
        return httpx.Response(self.status)

    def recordings(self) -> Recordings:
        settings = Settings(account_sid="AC1", auth_token="token", api_base="https://twilio.test")
        return Recordings(settings, httpx.Client(transport=httpx.MockTransport(self)))


def test_retention_deletes_old_calls_texts_replies_and_voicemails(store: Store) -> None:
    a_call(store, "CA1", ANNA, NOW - timedelta(days=400), voicemail=True)
    a_call(store, "CA2", BORIS, NOW - timedelta(days=10), voicemail=True)
    store.add_reply("SMr", LINE, ANNA, "thanks", "reply", {})
    twilio = Twilio()

    erased = sweep(store, 365, twilio.recordings(), now=datetime.now(UTC) + timedelta(days=400))

    assert count(store, "calls") == 0 and count(store, "messages") == 0
    assert count(store, "call_events") == 0 and count(store, "message_events") == 0
    assert count(store, "replies") == 0
    assert sorted(twilio.deleted) == [
        ("DELETE", f"https://twilio.test/2010-04-01/Accounts/AC1/Recordings/RE{sid}.json")
        for sid in ("CA1", "CA2")
    ]
    assert (erased.calls, erased.recordings) == (2, 2)


def test_retention_keeps_what_is_younger_than_the_period(store: Store) -> None:
    old, young = NOW - timedelta(days=366), NOW - timedelta(days=364)
    a_call(store, "CA1", ANNA, old)
    a_call(store, "CA2", BORIS, young)
    sweep(store, 365, Twilio().recordings(), now=NOW)
    with store.engine.connect() as connection:
        left = connection.execute(text("SELECT call_sid FROM calls")).scalars().all()
        texts = connection.execute(text("SELECT call_sid FROM messages")).scalars().all()
    assert left == texts == ["CA2"]


def test_a_voicemail_twilio_did_not_delete_keeps_its_call_for_the_next_sweep(store: Store) -> None:
    a_call(store, "CA1", ANNA, NOW - timedelta(days=400), voicemail=True)
    erased = sweep(store, 365, Twilio(status=500).recordings(), now=NOW)
    assert count(store, "calls") == 1 and erased.kept_recordings == [RECORDING + "CA1"]
    sweep(store, 365, Twilio().recordings(), now=NOW)
    assert count(store, "calls") == 0


def test_the_engine_sweeps_when_it_starts(serve: Any, new_db: Callable[..., str]) -> None:
    db = new_db("engine0")
    store = Store(db)
    store.create()
    a_call(store, "CA1", ANNA, datetime.now(UTC) - timedelta(days=31))
    a_call(store, "CA2", BORIS, datetime.now(UTC) - timedelta(days=29))
    store.close()
    engine = serve(db=db, retention_days=30)
    assert count(engine.store, "calls") == 1
    assert count(engine.store, "calls", "caller = :c", c=BORIS) == 1


def test_export_gives_one_callers_data_as_json(store: Store, capsys: Any) -> None:
    a_call(store, "CA1", ANNA, NOW, voicemail=True)
    a_call(store, "CA2", BORIS, NOW)
    store.add_reply("SMr", LINE, ANNA, "call me", "reply", {})
    store.opt_out(LINE, ANNA, "STOP")

    assert main(["--db", store.url, "export", "+48 601 000 001"]) == 0
    data = json.loads(capsys.readouterr().out)

    assert [call["call_sid"] for call in data["calls"]] == ["CA1"]
    assert [text["to_number"] for text in data["messages"]] == [ANNA]
    assert [reply["body"] for reply in data["replies"]] == ["call me"]
    assert [row["number"] for row in data["opt_outs"]] == [ANNA]
    assert len(data["call_events"]) == 1 and len(data["message_events"]) == 1
    assert BORIS not in json.dumps(data)


def test_forget_erases_a_caller_everywhere_but_the_opt_out_list(store: Store, capsys: Any) -> None:
    a_call(store, "CA1", ANNA, NOW)
    a_call(store, "CA2", BORIS, NOW)
    store.add_reply("SMr", LINE, ANNA, "STOP", "opt-out", {})
    store.opt_out(LINE, ANNA, "STOP")
    store.remember_landline(ANNA, 21614)

    assert main(["--db", store.url, "forget", ANNA, "--json"]) == 0
    erased = json.loads(capsys.readouterr().out)

    for table, column in (
        ("calls", "caller"),
        ("messages", "to_number"),
        ("replies", "caller"),
        ("landlines", "number"),
    ):
        assert count(store, table, f"{column} = :n", n=ANNA) == 0, table
    assert count(store, "call_events", "call_sid = 'CA1'") == 0
    assert count(store, "message_events", "message_sid = 'SMCA1'") == 0
    assert count(store, "opt_outs", "number = :n", n=ANNA) == 1
    assert count(store, "calls", "caller = :n", n=BORIS) == 1
    assert count(store, "message_events") == 1
    assert erased["calls"] == 1 and erased["replies"] == 1


def test_forget_stops_before_erasing_when_twilio_keeps_a_voicemail(store: Store) -> None:
    a_call(store, "CA1", ANNA, NOW, voicemail=True)
    with pytest.raises(RuntimeError, match="nothing was erased"):
        forget(store, ANNA, Twilio(status=503).recordings())
    assert count(store, "calls") == 1
    assert forget(store, ANNA, Twilio().recordings()).recordings == 1


def test_every_table_is_either_erased_by_forget_or_kept_on_purpose() -> None:
    erased_tables = {name for name in Erased().as_json() if name != "recordings"}
    assert set(metadata.tables) == erased_tables | KEPT_TABLES


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            RECORDING + "1",
            "https://twilio.test/2010-04-01/Accounts/AC1/Recordings/RE1",
            id="Twilio's URL, on the configured API base",
        ),
        pytest.param(
            RECORDING + "1.mp3",
            "https://twilio.test/2010-04-01/Accounts/AC1/Recordings/RE1",
            id="with a media extension",
        ),
        pytest.param("https://evil.example/RE1", None, id="anywhere else is refused"),
        pytest.param("https://api.twilio.com.evil.example/RE1", None, id="a look-alike host"),
    ],
)
def test_voicemails_are_fetched_and_deleted_only_at_twilio(url: str, expected: str | None) -> None:
    assert twilio_resource(url, "https://twilio.test") == expected


@pytest.mark.parametrize("caller", ["601 088 001", "", "Anonymous"])
def test_export_and_forget_want_a_number_in_e164(
    caller: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli import main

    for command in ("export", "forget"):
        assert main([command, caller]) == 2
        assert "E.164" in capsys.readouterr().err
