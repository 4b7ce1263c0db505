"""The outbox over real HTTP: Twilio's answers sorted, retries bounded, nothing sent twice.

What each answer must lead to is the issue's and twilio.md §4.3's: 429 and 5xx are
retried; 21211, 21610, 21612, 21614, 21635 are final and recorded with their code
(21610 also opts the caller out of the line); a request Twilio may have received but
never answered is `unknown` and not sent again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.sms.outbox import MAX_ATTEMPTS
from engine.sms.transport import TwilioTransport
from engine.store import Store
from tests.conftest import ACCOUNT_SID, TOKEN
from tests.texting import (
    PATIENCE,
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
def engine(tmp_path: Path, flows: Path, messages_api: MessagesApi) -> Iterator[Engine]:
    with running_engine(flows, f"sqlite:///{tmp_path / 'engine.db'}", messages_api) as running:
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
    tmp_path: Path, flows: Path, messages_api: MessagesApi
) -> None:
    impatient = TwilioTransport(ACCOUNT_SID, TOKEN, messages_api.url, timeout=0.2)
    db = f"sqlite:///{tmp_path / 'slow.db'}"
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
    tmp_path: Path, flows: Path, messages_api: MessagesApi
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    transport = TwilioTransport(ACCOUNT_SID, TOKEN, f"http://127.0.0.1:{port}")
    db = f"sqlite:///{tmp_path / 'nowhere.db'}"
    with running_engine(flows, db, messages_api, transport=transport) as engine:
        [text] = engine.missed_call(new_call_sid(), CALLER)
    assert (text.status, text.attempts) == ("failed", MAX_ATTEMPTS)
    assert messages_api.received == []


def test_texts_being_sent_when_the_engine_stopped_are_not_sent_again(
    tmp_path: Path, flows: Path, messages_api: MessagesApi
) -> None:
    db = f"sqlite:///{tmp_path / 'engine.db'}"
    store = Store(db)
    store.create()
    message_id = store.claim_message(_decided("CA" + "1" * 32, CALLER))
    assert message_id is not None and store.claim_send(message_id)  # then the engine died

    with running_engine(flows, db, messages_api) as engine:
        engine.wait_idle()
        assert engine.store.message(message_id).status == "unknown"  # type: ignore[union-attr]
    assert messages_api.received == []


# The engine in a process of its own, so that it can really be killed: its retries wait an
# hour, so texts refused once stay pending until the kill.
ENGINE_PROCESS = textwrap.dedent("""\
    import sys
    from pathlib import Path

    import uvicorn
    from engine.server import create_app
    from engine.settings import Settings

    folder, db, api, sid, token, fd = sys.argv[1:]
    flows = Path(folder)
    settings = Settings(flows=flows, greetings=flows, db=db, auth_token=token,
                        account_sid=sid, api_base=api, watch=False)
    app = create_app(settings, outbox_delay=3600)
    uvicorn.run(app, fd=int(fd), log_level="warning")
""")


def test_killed_with_five_texts_pending_sends_all_five_once_after_restart(
    tmp_path: Path, flows: Path, messages_api: MessagesApi
) -> None:
    db = f"sqlite:///{tmp_path / 'engine.db'}"
    calls = {new_call_sid(): f"+4479111234{n:02d}" for n in range(5)}
    messages_api.script(*[Answer.error(503, 20503)] * 5)
    with _EngineProcess(flows, db, messages_api) as first:
        for sid, caller in calls.items():
            first.missed_call_nowait(sid, caller)
        store = Store(db)
        wait_until(lambda: _pending_after_one_try(store) == 5)
    # killed (SIGKILL): no shutdown, no drain

    with running_engine(flows, db, messages_api) as engine:
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


class _Process(Engine):
    def missed_call_nowait(self, sid: str, caller: str) -> None:
        first = self.call(sid, caller)
        assert self.dial_ended(first, sid, caller).status_code == 200


class _EngineProcess:
    """`with`: an engine in a child process on a socket of ours; SIGKILL on the way out."""

    def __init__(self, flows: Path, db: str, api: MessagesApi) -> None:
        self.flows, self.db, self.api = flows, db, api

    def __enter__(self) -> _Process:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        fd = self.socket.fileno()
        args = [str(self.flows), self.db, self.api.url, ACCOUNT_SID, TOKEN, str(fd)]
        self.process = subprocess.Popen(
            [sys.executable, "-c", ENGINE_PROCESS, *args], pass_fds=(fd,),
            cwd=Path(__file__).parent.parent, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        httpx.get(url + "/healthz", timeout=PATIENCE).raise_for_status()  # it has started
        return _Process(url, None, Store(self.db), self.api)

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.socket.close()
