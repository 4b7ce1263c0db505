"""The store: every call, its events, and every follow-up text, in SQL through SQLAlchemy Core.

Twilio's callbacks arrive twice, late and out of order, possibly on another process
sharing the same database, so every rule that must hold across them is a rule of the
store, not of one process's memory:

- a call row is created once; a retried first webhook finds it and gets the same answer;
- a call that has ended stays ended, whatever arrives after (events are still kept);
- a text is claimed by inserting its row under a unique (call, step) key: the second
  claim fails in the database, so a text is decided, and sent, at most once.

SQLite (WAL mode) is the default; the SQL is portable to PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

__all__ = ["Call", "Message", "Store", "StoreUnavailable", "utcnow"]

FINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})

metadata = MetaData()

calls = Table(
    "calls",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("flow_id", String(200), nullable=False),
    Column("line", String(32), nullable=False),
    Column("caller", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # active | ended
    Column("answered", Boolean, nullable=False, default=False),  # the business took it
    Column("status", String(32), nullable=False),  # Twilio's last CallStatus
    Column("sequence", Integer, nullable=False, default=-1),
    Column("busy_known", Boolean, nullable=False, default=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("duration", Integer),
    Column("recording_url", Text),
)
Index("calls_by_line_time", calls.c.line, calls.c.started_at)

call_events = Table(
    "call_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_sid", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(32)),
    Column("sequence", Integer),
    Column("params", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_sid", String(64), nullable=False),
    Column("step", String(200), nullable=False),
    Column("flow_id", String(200), nullable=False),
    Column("line", String(32), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("to_number", String(64), nullable=False),
    Column("from_number", String(64)),
    Column("body", Text),
    Column("encoding", String(8)),
    Column("segments", Integer),
    # pending → sending → sent/failed/unknown; then Twilio's statuses; or skipped
    Column("status", String(32), nullable=False),
    Column("reason", String(32)),
    Column("error_code", Integer),
    Column("provider_sid", String(64), index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("call_sid", "step", name="one_text_per_step"),
)
Index("messages_by_caller", messages.c.line, messages.c.to_number, messages.c.created_at)
Index("messages_by_status", messages.c.status)

message_events = Table(
    "message_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", Integer, ForeignKey("messages.id"), nullable=False, index=True),
    Column("status", String(32), nullable=False),
    Column("error_code", Integer),
    Column("params", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class StoreUnavailable(RuntimeError):
    """The database did not answer."""


@dataclass(frozen=True)
class Call:
    call_sid: str
    flow_id: str
    line: str
    caller: str
    started_at: datetime
    trigger: str
    state: str
    status: str
    busy_known: bool
    answered: bool

    @property
    def ended(self) -> bool:
        return self.state == "ended"


@dataclass(frozen=True)
class Message:
    id: int
    call_sid: str
    step: str
    to_number: str
    from_number: str | None
    body: str | None
    encoding: str | None
    segments: int | None
    status: str
    reason: str | None
    error_code: int | None
    attempts: int


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they were stored in UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Store:
    """The engine's database. Every method is one short transaction, safe from any thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def create(self) -> None:
        """Create the tables that do not exist yet."""
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except OperationalError as exc:
            raise StoreUnavailable(str(exc.orig)) from exc

    def ping(self) -> bool:
        try:
            with self._begin() as connection:
                connection.execute(text("SELECT 1"))
        except StoreUnavailable:
            return False
        return True

    # --- calls ----------------------------------------------------------------------

    def start_call(
        self, call_sid: str, flow_id: str, line: str, caller: str, at: datetime, trigger: str
    ) -> Call:
        """Record a new call, or return the one a retried first webhook already created."""
        values = dict(
            call_sid=call_sid, flow_id=flow_id, line=line, caller=caller, started_at=at,
            trigger=trigger, state="active", status="ringing", sequence=-1, busy_known=False,
            answered=False,
        )
        with self._begin() as connection:
            try:
                with connection.begin_nested():
                    connection.execute(insert(calls).values(**values))
            except IntegrityError:
                pass
            return self._call(connection, call_sid)  # type: ignore[return-value]

    def call(self, call_sid: str) -> Call | None:
        with self._begin() as connection:
            return self._call(connection, call_sid)

    def _call(self, connection: Connection, call_sid: str) -> Call | None:
        row = connection.execute(select(calls).where(calls.c.call_sid == call_sid)).first()
        if row is None:
            return None
        return Call(
            call_sid=row.call_sid, flow_id=row.flow_id, line=row.line, caller=row.caller,
            started_at=_aware(row.started_at), trigger=row.trigger,  # type: ignore[arg-type]
            state=row.state, status=row.status, busy_known=row.busy_known,
            answered=row.answered,
        )

    def add_event(self, call_sid: str, kind: str, params: Mapping[str, str]) -> None:
        """Keep a webhook's parameters in the call's history, whatever it changes."""
        sequence = params.get("SequenceNumber", "")
        with self._begin() as connection:
            connection.execute(
                insert(call_events).values(
                    call_sid=call_sid, kind=kind, status=params.get("CallStatus"),
                    sequence=int(sequence) if sequence.isdigit() else None,
                    params=json.dumps(dict(params), sort_keys=True), received_at=utcnow(),
                )
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

    # --- texts ----------------------------------------------------------------------

    def claim_message(self, values: Mapping[str, Any]) -> int | None:
        """Insert a text's decision under its (call, step) key; None if already claimed."""
        now = utcnow()
        row = {**values, "created_at": now, "updated_at": now, "attempts": 0}
        with self._begin() as connection:
            try:
                with connection.begin_nested():
                    result = connection.execute(insert(messages).values(**row))
            except IntegrityError:
                return None
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def claimed_steps(self, call_sid: str) -> set[str]:
        with self._begin() as connection:
            rows = connection.execute(
                select(messages.c.step).where(messages.c.call_sid == call_sid)
            ).all()
        return {row.step for row in rows}

    def messages_for_call(self, call_sid: str) -> list[Message]:
        with self._begin() as connection:
            rows = connection.execute(
                select(messages).where(messages.c.call_sid == call_sid).order_by(messages.c.id)
            ).all()
        return [_message(row) for row in rows]

    def message(self, message_id: int) -> Message | None:
        with self._begin() as connection:
            row = connection.execute(select(messages).where(messages.c.id == message_id)).first()
        return _message(row) if row else None

    def pending_messages(self) -> list[int]:
        """Texts decided but not yet handed to the transport: the outbox."""
        with self._begin() as connection:
            rows = connection.execute(
                select(messages.c.id).where(messages.c.status == "pending")
                .order_by(messages.c.id)
            ).all()
        return [row.id for row in rows]

    def last_text_to(self, line: str, to_number: str) -> datetime | None:
        """When this line last texted this number (sent or on its way)."""
        with self._begin() as connection:
            value = connection.execute(
                select(func.max(messages.c.created_at)).where(
                    messages.c.line == line,
                    messages.c.to_number == to_number,
                    messages.c.status.not_in(("skipped", "failed")),
                )
            ).scalar()
        return _aware(value)

    def abandon_sending(self) -> int:
        """Texts a stopped engine was sending: Twilio may have them, so they are `unknown`."""
        with self._begin() as connection:
            result = connection.execute(
                update(messages)
                .where(messages.c.status == "sending")
                .values(status="unknown", updated_at=utcnow())
            )
            return result.rowcount

    def claim_send(self, message_id: int) -> bool:
        """Move a pending text to `sending`; False when someone else already did."""
        with self._begin() as connection:
            result = connection.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.status == "pending")
                .values(status="sending", attempts=messages.c.attempts + 1, updated_at=utcnow())
            )
            return result.rowcount == 1

    def finish_send(self, message_id: int, **values: Any) -> None:
        """Record what the transport said: sent (with the provider's id), failed, unknown."""
        with self._begin() as connection:
            connection.execute(
                update(messages)
                .where(messages.c.id == message_id)
                .values(**values, updated_at=utcnow())
            )


def _message(row: Any) -> Message:
    return Message(
        id=row.id, call_sid=row.call_sid, step=row.step, to_number=row.to_number,
        from_number=row.from_number, body=row.body, encoding=row.encoding,
        segments=row.segments, status=row.status, reason=row.reason,
        error_code=row.error_code, attempts=row.attempts,
    )


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL lets webhooks read while the outbox writes; busy_timeout waits out a lock."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
