"""Several engines, one PostgreSQL: every call's callbacks reach both, one text goes out.

Two engines run in processes of their own on one database (tests/processes.py), each
texting through a Messages API stand-in. Each call comes in (`/voice`) on one engine
chosen at random; its callbacks (the dial's action, then the final status callback) are
each delivered twice, once to each engine, the engine that gets one first chosen at
random, calls running 16 at a time. Then:

- exactly one text per call reaches the stand-in, every call has ended, no text is left
  pending or on its way;
- an engine killed (SIGKILL) while holding texts waiting for their retry leaves them
  to the other, which sends each once its lease has run out: none twice, none lost;
- two calls from one caller ending at the same moment on two engines send one text (the
  other is skipped for the cooldown), and a STOP on one engine holds on the other.

A text whose engine dies *during* its request to Twilio is the one case the outbox will
not resend (Twilio may have it): test_outbox.py shows it recorded `unknown`. The kill
here lands where the victim has no request in flight: the test stops it (SIGSTOP), sees
in the store that every text it holds waits for a retry, and only then kills it.

SQLite serves one host and one engine, so these run on PostgreSQL only (RINGBACK_TEST_DB).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from engine.store import Message, Store, calls, messages
from tests.conftest import ACCOUNT_SID, TOKEN
from tests.databases import on_postgresql
from tests.processes import EngineProcess, Process
from tests.texting import (
    SHOP_LINE,
    Engine,
    call_params,
    dial_action,
    new_call_sid,
    running_engine,
    wait_until,
    write_flows,
)
from tests.twilio_standin import Answer, MessagesApi

pytestmark = pytest.mark.skipif(
    not on_postgresql(), reason="several engines share PostgreSQL (set RINGBACK_TEST_DB)"
)

CALLS = 1_000
AT_ONCE = 16
LEASE = 3.0  # seconds: short, so that a killed engine's texts are taken over quickly
SETTLED = 90.0  # the most a run may take to settle; never spent when all is well


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    return write_flows(tmp_path / "flows")


@pytest.fixture
def refusing() -> Iterator[MessagesApi]:
    """Twilio as one engine sees it: every request refused for now (503), to retry."""
    api = MessagesApi(ACCOUNT_SID, TOKEN).start()
    api.script(*[Answer.error(503, 20503)] * (2 * CALLS))
    yield api
    api.stop()


def test_two_engines_receiving_every_callback_send_one_text_per_missed_call(
    flows: Path, messages_api: MessagesApi, new_db: Callable[..., str]
) -> None:
    db = new_db()
    missed = _calls(CALLS)
    with _engine(flows, db, messages_api) as one, _engine(flows, db, messages_api) as two:
        _deliver(missed, (one, two), random.Random(9))
        store = Store(db)
        wait_until(lambda: _settled(store, CALLS), SETTLED)

    _assert_one_text_each(messages_api, missed)
    assert len(messages_api.received) == CALLS
    assert _ended(store) == CALLS
    assert _statuses(store) == {"sent": CALLS}


def test_an_engine_killed_holding_texts_leaves_them_to_the_other_once_its_lease_runs_out(
    flows: Path, messages_api: MessagesApi, refusing: MessagesApi, new_db: Callable[..., str]
) -> None:
    db = new_db()
    missed = _calls(CALLS)
    first, rest = missed[: CALLS // 2], missed[CALLS // 2:]
    victim_side = EngineProcess(flows, db, refusing, outbox_delay=3600, lease=LEASE)
    with _engine(flows, db, messages_api) as survivor, victim_side as victim:
        _deliver(first, (survivor, victim), random.Random(5))
        store = Store(db)
        holder = f"%:{victim_side.process.pid}:%"
        held = _kill_between_requests(victim_side, store, holder)

        _deliver(rest, (survivor, victim), random.Random(6))
        wait_until(lambda: _settled(store, CALLS), SETTLED)

    assert held > 0  # the victim did hold texts when it died
    _assert_one_text_each(messages_api, missed)
    assert refusing.accepted() == []  # what the victim tried was refused, never sent
    assert _ended(store) == CALLS
    assert _statuses(store) == {"sent": CALLS}


def test_a_cooldown_and_an_opt_out_hold_across_engines(
    flows: Path, messages_api: MessagesApi, new_db: Callable[..., str]
) -> None:
    db = new_db()
    with running_engine(flows, db, messages_api) as one, \
            running_engine(flows, db, messages_api) as two:
        for n in range(10):  # two calls from one caller end at once, one on each engine
            caller = f"+447911{n:06d}"
            texts = _at_once([(one, new_call_sid()), (two, new_call_sid())], caller)
            assert sorted((t.status, t.reason) for t in texts) == [
                ("sent", None), ("skipped", "cooldown")
            ]
        one.reply("+447911123456", "STOP")
        [text] = two.missed_call(new_call_sid(), "+447911123456")
        assert (text.status, text.reason) == ("skipped", "opted-out")


# --- helpers ------------------------------------------------------------------------


def _at_once(calls: Sequence[tuple[Engine, str]], caller: str) -> list[Message]:
    """A call from `caller` on each engine; their dials report at the same moment."""
    firsts = [(engine, sid, engine.call(sid, caller)) for engine, sid in calls]
    barrier = threading.Barrier(len(firsts))

    def report(engine: Engine, sid: str, first: httpx.Response) -> None:
        barrier.wait()
        assert engine.dial_ended(first, sid, caller).status_code == 200

    threads = [threading.Thread(target=report, args=call) for call in firsts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine, _ in calls:
        engine.wait_idle()
    return [m for engine, sid in calls for m in engine.store.messages_for_call(sid)]


def _engine(flows: Path, db: str, api: MessagesApi) -> EngineProcess:
    return EngineProcess(flows, db, api, outbox_delay=0.001, lease=LEASE)


def _calls(count: int) -> list[tuple[str, str]]:
    """(CallSid, caller) for `count` calls from as many mobiles."""
    return [(new_call_sid(), f"+447911{n:06d}") for n in range(count)]


def _deliver(
    missed: Sequence[tuple[str, str]], engines: Sequence[Process], rng: random.Random
) -> None:
    """Each call in on one engine, each callback to every engine, which first at random."""
    orders = [rng.sample(list(engines), len(engines)) for _ in range(3 * len(missed))]
    client = httpx.Client(timeout=30)
    lock = threading.Lock()

    def one(index: int, call: tuple[str, str]) -> None:
        with lock:
            voice, dial, status = orders[3 * index: 3 * index + 3]
        sid, caller = call
        ringing = call_params(sid, caller, SHOP_LINE)
        answer = _post(client, voice[0], "/voice", ringing) or _post(
            client, voice[1], "/voice", ringing  # the first engine was killed: the other
        )
        assert answer is not None
        action = dial_action(answer)
        dialed = {**ringing, "CallStatus": "in-progress", "DialCallStatus": "no-answer",
                  "DialCallSid": "CA" + "d" * 32}
        for to in dial:
            _post(client, to, action, dialed)
        ended = {**ringing, "CallStatus": "completed", "CallDuration": "25",
                 "SequenceNumber": "3"}
        for to in status:
            _post(client, to, "/voice/status", ended)

    with client, ThreadPoolExecutor(AT_ONCE) as pool:
        list(pool.map(one, range(len(missed)), missed))


def _post(client: httpx.Client, to: Process, path: str, params: dict[str, str]) -> str | None:
    """A signed webhook; its TwiML, or None when that engine is gone (killed)."""
    url = to.url + path
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    try:
        response = client.post(url, data=params, headers={"X-Twilio-Signature": signature})
    except httpx.TransportError:
        return None
    assert response.status_code in (200, 204), response.text
    return response.text


def _assert_one_text_each(api: MessagesApi, missed: Sequence[tuple[str, str]]) -> None:
    sent_to = sorted(request.form["To"] for request in api.accepted())
    twice = sorted({number for number in sent_to if sent_to.count(number) > 1})
    lost = sorted({caller for _, caller in missed} - set(sent_to))
    assert (twice, lost, len(sent_to)) == ([], [], len(missed))


def _settled(store: Store, count: int) -> bool:
    """Every call has its text, and no text is pending or on its way."""
    statuses = _statuses(store)
    return sum(statuses.values()) == count and not {"pending", "sending"} & statuses.keys()


def _statuses(store: Store) -> dict[str, int]:
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(messages.c.status, func.count()).group_by(messages.c.status)
        ).all()
    return {status: number for status, number in rows}


def _ended(store: Store) -> int:
    with store.engine.connect() as connection:
        query = select(func.count()).select_from(calls).where(calls.c.state == "ended")
        return int(connection.execute(query).scalar_one())


def _kill_between_requests(side: EngineProcess, store: Store, holder: str) -> int:
    """SIGKILL the engine at a moment it has no request to Twilio in flight: stopped
    (SIGSTOP) while every text it holds waits for its retry, else let go on and try again.
    The number of texts it held when it died."""
    while True:
        wait_until(lambda: _waiting_for_retry(store, holder), SETTLED)
        side.pause()
        if _waiting_for_retry(store, holder):
            held = _held_by(store, holder)
            side.kill()
            return held
        side.go_on()


def _waiting_for_retry(store: Store, holder: str) -> bool:
    """The victim has no request in flight: each text it holds was tried and refused."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(messages.c.status, messages.c.attempts)
            .where(messages.c.claimed_by.like(holder))
        ).all()
    return all(row.status == "pending" and row.attempts == 1 for row in rows)


def _held_by(store: Store, holder: str) -> int:
    with store.engine.connect() as connection:
        query = select(func.count()).select_from(messages).where(
            messages.c.claimed_by.like(holder), messages.c.status == "pending"
        )
        return int(connection.execute(query).scalar_one())
