"""The outbox over real HTTP: Twilio's answers sorted, retries bounded, nothing sent twice.

What each answer must lead to follows the Twilio reference (§4.3): 429 and 5xx are
retried; 21211, 21610, 21612, 21614, 21635 are final and recorded with their code
(21610 also opts the caller out of the line); a request Twilio may have received but
never answered is `unknown` and not sent again.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.sms.outbox import MAX_ATTEMPTS
from engine.sms.transport import TwilioTransport
from engine.store import Store
from tests.conftest import ACCOUNT_SID, TOKEN
from tests.processes import EngineProcess
from tests.texting import (
    SHOP_LINE,
    Engine,
    new_call_sid,
    running_engine,
    wait_until,
    write_flows,
)
from tests.twilio_standin import Answer, MessagesApi

CALLER = "+447911123456"


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    return write_flows(tmp_path / "flows")


@pytest.fixture
def engine(flows: Path, messages_api: MessagesApi, new_db: Callable[..., str]) -> Iterator[Engine]:
    with running_engine(flows, new_db(), messages_api) as running:
        yield running


def test_the_webhook_answers_before_the_text_is_sent(
    engine: Engine, messages_api: MessagesApi
) -> None:
    messages_api.script(Answer(hold=True))
    sid = new_call_sid()
    first = engine.call(sid, CALLER)
    assert engine.dial_ended(first, sid, CALLER).status_code == 200  # while Twilio holds on
    wait_until(lambda: len(messages_api.received) == 1)
    assert engine.store.messages_for_call(sid)[0].status == "sending"
    messages_api.release()
    engine.wait_idle()
    assert engine.store.messages_for_call(sid)[0].status == "sent"


def test_429_twice_then_accepted_is_one_message_in_three_attempts(
    engine: Engine, messages_api: MessagesApi
) -> None:
    messages_api.script(Answer.error(429, 20429), Answer.error(429, 20429))
    [text] = engine.missed_call(new_call_sid(), CALLER)
    assert [r.answer.status for r in messages_api.received] == [429, 429, 201]
    assert len({tuple(sorted(r.form.items())) for r in messages_api.received}) == 1
    [accepted] = messages_api.accepted()
    assert (text.status, text.attempts, text.provider_sid) == ("sent", 3, accepted.sid)


def test_server_errors_are_retried_a_bounded_number_of_times(
    engine: Engine, messages_api: MessagesApi
) -> None:
    messages_api.script(*[Answer.error(503, 20503)] * (MAX_ATTEMPTS + 1))
    [text] = engine.missed_call(new_call_sid(), CALLER)
    assert len(messages_api.received) == MAX_ATTEMPTS
    assert (text.status, text.attempts) == ("failed", MAX_ATTEMPTS)


@pytest.mark.parametrize("code", [21211, 21610, 21612, 21614, 21635])
def test_a_permanent_refusal_is_recorded_and_never_retried(
    engine: Engine, messages_api: MessagesApi, code: int
) -> None:
    messages_api.script(Answer.error(400, code))
    [text] = engine.missed_call(new_call_sid(), CALLER)
    assert (text.status, text.error_code, text.attempts) == ("failed", code, 1)
    assert len(messages_api.received) == 1
    assert engine.store.opted_out(SHOP_LINE, CALLER) is (code == 21610)
    assert engine.store.known_landline(CALLER) is (code in (21614, 21635))


def test_21610_opts_out_of_that_line_only(engine: Engine, messages_api: MessagesApi) -> None:
    messages_api.script(Answer.error(400, 21610))
    engine.missed_call(new_call_sid(), CALLER)
    [again] = engine.missed_call(new_call_sid(), CALLER)
    assert (again.status, again.reason) == ("skipped", "opted-out")
    [bakery] = engine.missed_call(new_call_sid(), CALLER, line="+442079460998")
    assert bakery.status == "sent"


def test_a_dropped_connection_after_sending_is_unknown_and_not_sent_again(
    engine: Engine, messages_api: MessagesApi
) -> None:
    messages_api.script(Answer(drop=True))
    [text] = engine.missed_call(new_call_sid(), CALLER)
    assert (text.status, text.attempts) == ("unknown", 1)
    assert len(messages_api.received) == 1


def test_a_slow_answer_is_unknown_until_twilio_reports(
    flows: Path, messages_api: MessagesApi, new_db: Callable[..., str]
) -> None:
    impatient = TwilioTransport(ACCOUNT_SID, TOKEN, messages_api.url, timeout=0.2)
    db = new_db()
    with running_engine(flows, db, messages_api, transport=impatient) as engine:
        messages_api.script(Answer(hold=True))
        [text] = engine.missed_call(new_call_sid(), CALLER)
        assert (text.status, text.provider_sid) == ("unknown", None)
        messages_api.release()

        # Twilio did accept it: its callback settles the text, through the id in its URL.
        [request] = messages_api.received
        assert request.sid is not None
        assert messages_api.report(request, "delivered") == 204
        [settled] = engine.store.messages_for_call(text.call_sid)
        assert (settled.status, settled.provider_sid) == ("delivered", request.sid)
        assert len(messages_api.received) == 1


def test_a_connection_that_never_opened_is_retried(
    flows: Path, messages_api: MessagesApi, new_db: Callable[..., str]
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    transport = TwilioTransport(ACCOUNT_SID, TOKEN, f"http://127.0.0.1:{port}")
    db = new_db()
    with running_engine(flows, db, messages_api, transport=transport) as engine:
        [text] = engine.missed_call(new_call_sid(), CALLER)
    assert (text.status, text.attempts) == ("failed", MAX_ATTEMPTS)
    assert messages_api.received == []


def test_a_text_whose_engine_stopped_while_sending_it_is_unknown_and_not_sent_again(
    flows: Path, messages_api: MessagesApi, new_db: Callable[..., str]
) -> None:
    db = new_db()
    stopped = Store(db, lease=0)  # an engine whose lease has run out: it stopped
    stopped.create()
    message_id = stopped.claim_message(_decided("CA" + "1" * 32, CALLER))
    assert message_id is not None and stopped.claim_send(message_id)  # then it died

    with running_engine(flows, db, messages_api) as engine:
        engine.wait_idle()
        assert engine.store.message(message_id).status == "unknown"  # type: ignore[union-attr]
    assert messages_api.received == []


def test_a_text_another_engine_is_sending_is_left_alone(
    flows: Path, messages_api: MessagesApi, new_db: Callable[..., str]
) -> None:
    db = new_db()
    alive = Store(db)  # an engine sending it now, its lease good for a minute
    alive.create()
    message_id = alive.claim_message(_decided("CA" + "2" * 32, CALLER))
    assert message_id is not None and alive.claim_send(message_id)

    with running_engine(flows, db, messages_api) as engine:
        engine.wait_idle()
        assert engine.store.message(message_id).status == "sending"  # type: ignore[union-attr]
        assert engine.store.take_over() == []
    assert messages_api.received == []


def test_killed_with_five_texts_pending_sends_all_five_once_after_restart(
    flows: Path, messages_api: MessagesApi, new_db: Callable[..., str]
) -> None:
    db = new_db()
    calls = {new_call_sid(): f"+4479111234{n:02d}" for n in range(5)}
    messages_api.script(*[Answer.error(503, 20503)] * 5)
    with EngineProcess(flows, db, messages_api, lease=1.0) as first:
        for sid, caller in calls.items():
            first.missed_call_nowait(sid, caller)
        store = Store(db)
        wait_until(lambda: _pending_after_one_try(store) == 5)
    # killed (SIGKILL): no shutdown, no drain; its leases run out a second later

    with running_engine(flows, db, messages_api, lease=1.0) as engine:
        wait_until(lambda: len(messages_api.accepted()) == 5)
        engine.wait_idle()
        texts = [m for sid in calls for m in engine.store.messages_for_call(sid)]
    callers = list(calls.values())
    assert sorted(r.form["To"] for r in messages_api.accepted()) == sorted(callers)
    assert len(messages_api.received) == 10  # five refused before the kill, five accepted
    assert [(t.status, t.attempts) for t in texts] == [("sent", 2)] * 5


# --- helpers ------------------------------------------------------------------------


def _decided(call_sid: str, to: str) -> dict[str, object]:
    return {"call_sid": call_sid, "step": "on.missed.1", "flow_id": "shop", "line": SHOP_LINE,
            "trigger": "missed", "to_number": to, "from_number": "CornerShop", "body": "Hello",
            "encoding": "GSM-7", "segments": 1, "status": "pending", "reason": None}


def _pending_after_one_try(store: Store) -> int:
    ids = store.pending_messages()
    return sum(1 for i in ids if store.message(i).attempts == 1)  # type: ignore[union-attr]
