"""The store's rules across processes: two Store objects on one database stand for two
engines (each its own connections and lease holder), racing from threads.

These run on SQLite and, with RINGBACK_TEST_DB, on PostgreSQL, where they matter most.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from engine.store import Store
from tests.databases import on_postgresql

T = TypeVar("T")
LINE, CALLER = "+442079460999", "+447911123456"


@pytest.fixture
def engines(new_db: Callable[..., str]) -> tuple[Store, Store]:
    db = new_db()
    return Store(db), Store(db)


def test_the_store_is_the_database_under_test(engines: tuple[Store, Store]) -> None:
    assert engines[0].dialect == ("postgresql" if on_postgresql() else "sqlite")


def test_a_final_status_seen_by_two_engines_at_once_ends_the_call_once(
    engines: tuple[Store, Store]
) -> None:
    for n in range(20):
        sid = f"CA{n:032d}"
        engines[0].start_call(sid, ("shop", "v1"), LINE, CALLER, datetime.now(UTC), "open")
        ended = _at_once(
            engines, lambda store, sid=sid: store.observe_status(sid, "completed", 3, 9)[1]
        )
        assert sorted(ended) == [False, True]


def test_a_text_claimed_by_two_engines_at_once_is_decided_once(
    engines: tuple[Store, Store]
) -> None:
    for n in range(20):
        sid = f"CA{n:032d}"
        claimed = _at_once(engines, lambda store, sid=sid: store.claim_message(_text(sid)))
        assert sum(1 for message_id in claimed if message_id is not None) == 1


def test_an_opt_out_and_a_duplicate_reply_hold_across_engines(
    engines: tuple[Store, Store]
) -> None:
    one, two = engines
    assert _at_once(engines, lambda store: store.opt_out(LINE, CALLER, "STOP")).count(True) == 1
    assert two.opted_out(LINE, CALLER)
    assert one.opt_in(LINE, CALLER) and not two.opted_out(LINE, CALLER)
    kept = _at_once(engines, lambda store: store.add_reply("SM1", LINE, CALLER, "hi", "reply", {}))
    assert sum(1 for reply in kept if reply is not None) == 1


def test_a_text_one_engine_sent_starts_the_cooldown_for_the_other(
    engines: tuple[Store, Store]
) -> None:
    one, two = engines
    message_id = one.claim_message(_text("CA1"))
    assert message_id is not None and two.last_text_to(LINE, CALLER) is not None


def test_only_the_holder_sends_a_text_while_its_lease_lasts(engines: tuple[Store, Store]) -> None:
    one, two = engines
    message_id = one.claim_message(_text("CA1"))
    assert message_id is not None
    assert not two.claim_send(message_id) and two.take_over() == []
    assert one.claim_send(message_id)
    one.finish_send(message_id, "pending")  # refused for now: one keeps it for its retry
    assert not two.claim_send(message_id) and two.take_over() == []


def test_a_lease_that_ran_out_lets_another_engine_take_the_text(new_db: Callable[..., str]) -> None:
    db = new_db()
    stopped, other = Store(db, lease=0), Store(db)  # a lease of 0: it has run out already
    message_id = stopped.claim_message(_text("CA1"))
    assert other.take_over() == [message_id]
    assert not stopped.claim_send(message_id)  # back too late: the other holds it now
    assert other.claim_send(message_id)


def test_renewing_a_lease_keeps_the_text(new_db: Callable[..., str]) -> None:
    db = new_db()
    holder, other = Store(db, lease=0), Store(db)
    message_id = holder.claim_message(_text("CA1"))
    assert message_id is not None
    holder.lease = timedelta(minutes=1)
    assert holder.renew({message_id}) == 1
    assert other.take_over() == []


def test_a_text_sent_when_its_lease_ran_out_is_unknown_not_pending(
    new_db: Callable[..., str]
) -> None:
    db = new_db()
    stopped, other = Store(db, lease=0), Store(db)
    message_id = stopped.claim_message(_text("CA1"))
    assert message_id is not None and stopped.claim_send(message_id)  # then it died
    assert other.take_over() == [] and other.abandon_sending() == 1
    assert other.message(message_id).status == "unknown"  # type: ignore[union-attr]


def test_engines_taking_over_at_once_split_the_texts(new_db: Callable[..., str]) -> None:
    db = new_db()
    stopped = Store(db, lease=0)
    ids = {stopped.claim_message(_text(f"CA{n:032d}")) for n in range(300)}
    engines = (Store(db), Store(db), Store(db))
    taken = _at_once(engines, lambda store: _take_all(store))
    assert sorted(i for batch in taken for i in batch) == sorted(ids)  # type: ignore[type-var]


# --- helpers ------------------------------------------------------------------------


def _take_all(store: Store) -> list[int]:
    taken: list[int] = []
    while batch := store.take_over(limit=25):
        taken += batch
    return taken


def _at_once(stores: Iterable[Store], act: Callable[[Store], T]) -> list[T]:
    """`act` on each store, in threads released together; the results."""
    stores = list(stores)
    barrier = threading.Barrier(len(stores))
    results: list[Any] = [None] * len(stores)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = act(stores[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _text(call_sid: str) -> dict[str, object]:
    return {"call_sid": call_sid, "step": "on.missed.1", "flow_id": "shop", "line": LINE,
            "trigger": "missed", "to_number": CALLER, "from_number": "CornerShop",
            "body": "Hello", "encoding": "GSM-7", "segments": 1, "status": "pending",
            "reason": None}
