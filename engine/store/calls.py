"""Calls in the store: created once, moved between triggers, ended once.

Twilio's callbacks arrive twice, late and out of order, possibly on another engine: a
call row is created once (a retried first webhook finds it and gets the same answer), and
a call that has ended stays ended, whatever arrives after (events are still kept).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from engine.store._base import StoreBase
from engine.store.records import Call, aware, utcnow
from engine.store.schema import FINAL_CALL_STATUSES, call_events, calls, messages

__all__ = ["CallStore"]

# Webhook-path statements, built once: SQLAlchemy then skips building the statement and
# its cache key on every request (measured with bench/run.py: most of a webhook's cost).
_CALL_BY_SID = select(calls).where(calls.c.call_sid == bindparam("sid"))
_NEW_EVENT = insert(call_events)


def _insert_new_call(dialect: str) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` on the calls table where the database has it: a
    retried first webhook then costs no savepoint. None elsewhere."""
    if dialect == "sqlite":
        return sqlite.insert(calls).on_conflict_do_nothing(index_elements=[calls.c.call_sid])
    if dialect == "postgresql":
        return postgresql.insert(calls).on_conflict_do_nothing(index_elements=[calls.c.call_sid])
    return None


class CallStore(StoreBase):
    """Calls, their events, and the counts `/metrics` reads."""

    @cached_property
    def _new_call(self) -> Any:
        return _insert_new_call(self.dialect)

    def start_call(
        self, call_sid: str, flow: tuple[str, str], line: str, caller: str, at: datetime,
        trigger: str,
    ) -> Call:
        """Record a new call, or return the one a retried first webhook already created.

        `flow` is the flow's id and version (digest).
        """
        values = {
            "call_sid": call_sid, "flow_id": flow[0], "flow_version": flow[1], "line": line,
            "caller": caller, "started_at": at.astimezone(UTC),  # SQLite keeps no offset
            "trigger": trigger, "state": "active", "status": "ringing", "sequence": -1,
            "busy_known": False, "answered": False,
        }
        with self._begin() as connection:
            if self._new_call is not None:
                if connection.execute(self._new_call, values).rowcount == 1:  # a new call
                    fields: dict[str, Any] = {k: v for k, v in values.items() if k != "sequence"}
                    return Call(**fields)
                return self._call(connection, call_sid)  # type: ignore[return-value]
            try:
                with connection.begin_nested():
                    connection.execute(insert(calls), values)
            except IntegrityError:
                pass
            return self._call(connection, call_sid)  # type: ignore[return-value]

    def call(self, call_sid: str) -> Call | None:
        with self._begin() as connection:
            return self._call(connection, call_sid)

    def _call(self, connection: Connection, call_sid: str) -> Call | None:
        row = connection.execute(_CALL_BY_SID, {"sid": call_sid}).first()
        if row is None:
            return None
        return Call(
            call_sid=row.call_sid, flow_id=row.flow_id, flow_version=row.flow_version,
            line=row.line, caller=row.caller,
            started_at=aware(row.started_at), trigger=row.trigger,  # type: ignore[arg-type]
            state=row.state, status=row.status, busy_known=row.busy_known,
            answered=row.answered,
        )

    def counts(self) -> dict[str, Any]:
        """Calls by trigger, texts by (status, reason), and the outbox's depth."""
        with self._begin() as connection:
            calls_by = connection.execute(
                select(calls.c.trigger, func.count()).group_by(calls.c.trigger)
            ).all()
            texts_by = connection.execute(
                select(messages.c.status, messages.c.reason, func.count())
                .group_by(messages.c.status, messages.c.reason)
            ).all()
        texts = {(status, reason): number for status, reason, number in texts_by}
        return {
            "calls": {trigger: number for trigger, number in calls_by},
            "texts": texts,
            "pending": sum(n for (status, _), n in texts.items() if status == "pending"),
        }

    def add_event(self, call_sid: str, kind: str, params: Mapping[str, str]) -> None:
        """Keep a webhook's parameters in the call's history, whatever it changes."""
        sequence = params.get("SequenceNumber", "")
        with self._begin() as connection:
            connection.execute(
                _NEW_EVENT,
                {
                    "call_sid": call_sid, "kind": kind, "status": params.get("CallStatus"),
                    "sequence": int(sequence) if re.fullmatch(r"[0-9]{1,9}", sequence) else None,
                    "params": json.dumps(dict(params), sort_keys=True), "received_at": utcnow(),
                },
            )

    def events(self, call_sid: str) -> list[dict[str, Any]]:
        with self._begin() as connection:
            rows = connection.execute(
                select(call_events).where(call_events.c.call_sid == call_sid)
                .order_by(call_events.c.id)
            ).all()
        return [dict(row._mapping) for row in rows]

    def move(self, call_sid: str, trigger: str, *, busy: bool = False) -> Call | None:
        """Put a call the business did not take under another trigger.

        This also applies to a call that has just ended: the trigger it ended in decides
        its follow-up text.
        """
        changes: dict[str, Any] = {"trigger": trigger}
        if busy:
            changes["busy_known"] = True
        with self._begin() as connection:
            connection.execute(
                update(calls)
                .where(calls.c.call_sid == call_sid, calls.c.answered.is_(False))
                .values(**changes)
            )
            return self._call(connection, call_sid)

    def answer(self, call_sid: str) -> None:
        """The business took the call."""
        with self._begin() as connection:
            connection.execute(
                update(calls).where(calls.c.call_sid == call_sid).values(answered=True)
            )

    def bridge(self, call_sid: str, step: str | None) -> None:
        """The business took the call through dial `step`; None when that bridge is over."""
        with self._begin() as connection:
            connection.execute(
                update(calls).where(calls.c.call_sid == call_sid).values(bridged_step=step)
            )

    def bridged(self, flow_id: str, step: str) -> int:
        """How many live calls of `flow_id` dial `step` has bridged to the business now."""
        with self._begin() as connection:
            query = select(func.count()).select_from(calls).where(
                calls.c.flow_id == flow_id, calls.c.bridged_step == step,
                calls.c.state == "active",
            )
            return int(connection.execute(query).scalar_one())

    def keep_recording(self, call_sid: str, url: str) -> None:
        with self._begin() as connection:
            connection.execute(
                update(calls).where(calls.c.call_sid == call_sid).values(recording_url=url)
            )

    def observe_status(
        self, call_sid: str, status: str, sequence: int | None, duration: int | None
    ) -> tuple[Call | None, bool]:
        """Apply a call status callback; return the call and whether this event ended it.

        A final status ends the call once: the first event showing the call is over
        settles it, and the update is conditional on the call not being ended already, so
        two processes cannot both settle it. A non-final status only moves the recorded
        status forward in `SequenceNumber` order and never reopens an ended call.
        """
        with self._begin() as connection:
            if status in FINAL_CALL_STATUSES:
                result = connection.execute(
                    update(calls)
                    .where(calls.c.call_sid == call_sid, calls.c.state != "ended")
                    .values(
                        state="ended", status=status, ended_at=utcnow(), duration=duration,
                        sequence=func.coalesce(sequence, calls.c.sequence),
                    )
                )
                return self._call(connection, call_sid), result.rowcount == 1
            order = sequence if sequence is not None else 10**9
            connection.execute(
                update(calls)
                .where(
                    calls.c.call_sid == call_sid,
                    calls.c.state != "ended",
                    calls.c.sequence < order,
                )
                .values(status=status, sequence=func.coalesce(sequence, calls.c.sequence))
            )
            return self._call(connection, call_sid), False
