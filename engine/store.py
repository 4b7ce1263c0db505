"""The store: every call, its events, and every follow-up text, in SQL through SQLAlchemy Core.

Twilio's callbacks arrive twice, late and out of order, possibly on another process
sharing the same database, so every rule that must hold across them is a rule of the
store, not of one process's memory:

- a call row is created once; a retried first webhook finds it and gets the same answer;
- a call that has ended stays ended, whatever arrives after (events are still kept);
- a text is claimed by inserting its row under a unique (call, step) key: the second
  claim fails in the database, so a text is decided, and sent, at most once.
- a text is handed to Twilio only by the process that moved it from `pending` to
  `sending`, and Twilio's status callbacks only ever move it forward
  (MESSAGE_STATUS_RANK), so a late `sent` never overwrites `delivered`;
- opt-outs are kept per caller and line, landlines Twilio refused per number, and every
  reply per caller and line, retries of the same MessageSid kept once.

SQLite (WAL mode) is the default; the SQL is portable to PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import RLock, local
from typing import Any, Final, TypeVar

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
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

__all__ = [
    "MESSAGE_STATUS_RANK", "Call", "InboundReply", "Message", "Store", "StoreUnavailable",
    "utcnow",
]

FINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})

metadata = MetaData()

calls = Table(
    "calls",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("flow_id", String(200), nullable=False),
    Column("flow_version", String(32)),  # the digest of the flow the call started on
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
    Column("bridged_step", String(200)),  # the dial step bridging it to the business now
)
Index("calls_by_line_time", calls.c.line, calls.c.started_at)
# The dashboard's list (newest first, by flow) and a caller's history on a line.
Index("calls_by_time", calls.c.started_at, calls.c.call_sid)
Index("calls_by_flow_time", calls.c.flow_id, calls.c.started_at)
Index("calls_by_caller", calls.c.flow_id, calls.c.caller, calls.c.started_at)

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
    Column("status_callback", Text),  # where Twilio reports on it; kept for a restart
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("call_sid", "step", name="one_text_per_step"),
)
Index("messages_by_caller", messages.c.line, messages.c.to_number, messages.c.created_at)
Index("messages_by_status", messages.c.status)
Index("messages_by_time", messages.c.created_at)

# Every status callback Twilio sends about a text, even one for a message the engine
# cannot place (message_id NULL): nothing Twilio says is thrown away.
message_events = Table(
    "message_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", Integer, ForeignKey("messages.id"), index=True),
    Column("message_sid", String(64)),
    Column("status", String(32), nullable=False),
    Column("error_code", Integer),
    Column("params", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# Callers who replied an opt-out word to a line (or whom Twilio reports as opted out):
# one row per caller and line, removed when they opt back in.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("line", String(32), primary_key=True),
    Column("number", String(64), primary_key=True),
    Column("source", String(32), nullable=False),  # the word, or "twilio-21610"
    Column("since", DateTime(timezone=True), nullable=False),
)

# Numbers Twilio refused as landlines (21614, 21635, or 30006 on delivery): a number is
# a landline for every line, so the next text to it is skipped without asking again.
landlines = Table(
    "landlines",
    metadata,
    Column("number", String(64), primary_key=True),
    Column("error_code", Integer, nullable=False),
    Column("learned_at", DateTime(timezone=True), nullable=False),
)

# Texts callers sent to a line: the caller's side of their history with it.
replies = Table(
    "replies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_sid", String(64), unique=True),  # Twilio's retry finds the first
    Column("line", String(32), nullable=False),
    Column("caller", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # reply | opt-out | opt-in | help
    Column("answered", Boolean, nullable=False, default=False),
    Column("params", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)
Index("replies_by_caller", replies.c.line, replies.c.caller, replies.c.received_at)

# How far along a text is; a status callback only ever moves a text up this order, so a
# late `sent` cannot overwrite `delivered`. Twilio's final statuses share the top rank:
# the first one recorded stays. `unknown` (Twilio may or may not have it) is below every
# status Twilio reports, so a callback settles it; so is `pending`, so that a text Twilio
# reports on is never sent again. A `skipped` text has no rank: nothing moves it.
MESSAGE_STATUS_RANK: Final[dict[str, int]] = {
    "pending": 0, "sending": 0,
    "unknown": 1,
    "accepted": 2, "scheduled": 2, "queued": 2,
    "sent": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4,
    "partially_delivered": 4, "read": 5,
}  # fmt: skip


def utcnow() -> datetime:
    return datetime.now(UTC)


class StoreUnavailable(RuntimeError):
    """The database did not answer."""


@dataclass(frozen=True)
class Call:
    call_sid: str
    flow_id: str
    flow_version: str | None
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
    line: str
    to_number: str
    from_number: str | None
    body: str | None
    encoding: str | None
    segments: int | None
    status: str
    reason: str | None
    error_code: int | None
    attempts: int
    provider_sid: str | None = None
    status_callback: str | None = None


@dataclass(frozen=True)
class InboundReply:
    """A text a caller sent to a line, as `POST /sms` recorded it."""

    id: int
    line: str
    caller: str
    body: str
    kind: str
    answered: bool
    received_at: datetime


T = TypeVar("T")

# Webhook-path statements, built once: SQLAlchemy then skips building the statement and
# its cache key on every request (measured with bench/run.py: most of a webhook's cost).
_CALL_BY_SID = select(calls).where(calls.c.call_sid == bindparam("sid"))
_NEW_EVENT = insert(call_events)


def _insert_new_call(dialect: str) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` on the calls table where the database has it: a
    retried first webhook then costs no savepoint. None elsewhere."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        return None
    return dialect_insert(calls).on_conflict_do_nothing(index_elements=[calls.c.call_sid])


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
        self._new_call = _insert_new_call(self.engine.dialect.name)
        # SQLite has one writer at a time, and a thread refused the lock sleeps (busy_timeout)
        # in steps of up to 100 ms: this process's threads take turns here instead.
        sqlite = self.engine.dialect.name == "sqlite"
        self._one_writer: AbstractContextManager[Any] = RLock() if sqlite else nullcontext()
        self._atomic = local()

    def create(self) -> None:
        """Create the tables that do not exist yet."""
        try:
            metadata.create_all(self.engine)
        except OperationalError as exc:
            raise StoreUnavailable(str(exc.orig)) from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        current = getattr(self._atomic, "connection", None)
        if current is not None:  # inside `atomic`: its transaction
            try:
                yield current
            except OperationalError as exc:
                raise StoreUnavailable(str(exc.orig)) from exc
            return
        try:
            with self._one_writer, self.engine.begin() as connection:
                yield connection
        except OperationalError as exc:
            raise StoreUnavailable(str(exc.orig)) from exc

    def atomic(self, method: Callable[..., T], *args: Any) -> T:
        """`method(*args)` with every store call it makes in one transaction.

        A webhook's writes then commit together, once: all or nothing, and a fraction of
        the cost of a transaction each (bench/run.py).
        """
        with self._begin() as connection:
            self._atomic.connection = connection
            try:
                return method(*args)
            finally:
                self._atomic.connection = None

    def ping(self) -> bool:
        try:
            with self._begin() as connection:
                connection.execute(text("SELECT 1"))
        except StoreUnavailable:
            return False
        return True

    # --- calls ----------------------------------------------------------------------

    def start_call(
        self, call_sid: str, flow: tuple[str, str], line: str, caller: str, at: datetime,
        trigger: str,
    ) -> Call:
        """Record a new call, or return the one a retried first webhook already created.

        `flow` is the flow's id and version (digest).
        """
        values = dict(
            call_sid=call_sid, flow_id=flow[0], flow_version=flow[1], line=line,
            caller=caller, started_at=at.astimezone(UTC),  # SQLite keeps no offset
            trigger=trigger, state="active", status="ringing", sequence=-1, busy_known=False,
            answered=False,
        )
        with self._begin() as connection:
            if self._new_call is not None:
                connection.execute(self._new_call, values)
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
            started_at=_aware(row.started_at), trigger=row.trigger,  # type: ignore[arg-type]
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

    def claim_send(self, message_id: int, status_callback: str | None = None) -> bool:
        """Move a pending text to `sending`; False when someone else already did.

        A `status_callback` given is kept with the text, so an engine that restarts
        sends it with the same one.
        """
        callback = func.coalesce(status_callback, messages.c.status_callback)
        with self._begin() as connection:
            result = connection.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.status == "pending")
                .values(
                    status="sending", attempts=messages.c.attempts + 1,
                    status_callback=callback, updated_at=utcnow(),
                )
            )
            return result.rowcount == 1

    def finish_send(
        self, message_id: int, status: str, *, provider_sid: str | None = None,
        error_code: int | None = None,
    ) -> None:
        """Record what the transport said: sent (with the provider's id), failed, unknown,
        or pending again (to be retried).

        Only a text still `sending` (or `unknown`, when another process gave it up) takes
        the new status: a status callback that arrived first has said more already.
        """
        known = {"provider_sid": provider_sid, "error_code": error_code}
        given = {key: value for key, value in known.items() if value is not None}
        with self._begin() as connection:
            if given:
                connection.execute(
                    update(messages).where(messages.c.id == message_id).values(**given)
                )
            connection.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.status.in_(("sending", "unknown")))
                .values(status=status, updated_at=utcnow())
            )

    def give_up(self, message_id: int) -> bool:
        """A text retried as often as it may be is `failed`; False if it was not pending."""
        with self._begin() as connection:
            result = connection.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.status == "pending")
                .values(status="failed", updated_at=utcnow())
            )
            return result.rowcount == 1

    def message_by_sid(self, provider_sid: str) -> Message | None:
        with self._begin() as connection:
            row = connection.execute(
                select(messages).where(messages.c.provider_sid == provider_sid)
            ).first()
        return _message(row) if row else None

    def record_receipt(
        self, message_id: int | None, message_sid: str, status: str, error_code: int | None,
        params: Mapping[str, str],
    ) -> Message | None:
        """Keep a status callback; move its text forward, never back. The text after it.

        The callback is kept even when `message_id` is None (a text the engine cannot
        place). The text takes `status` only if that ranks above its own
        (MESSAGE_STATUS_RANK), and learns Twilio's id if it did not know it (a text
        recorded `unknown` that Twilio did accept).
        """
        rank = MESSAGE_STATUS_RANK.get(status, -1)
        below = [name for name, other in MESSAGE_STATUS_RANK.items() if other < rank]
        with self._begin() as connection:
            connection.execute(
                insert(message_events).values(
                    message_id=message_id, message_sid=message_sid or None, status=status,
                    error_code=error_code, params=json.dumps(dict(params), sort_keys=True),
                    received_at=utcnow(),
                )
            )
            if message_id is None:
                return None
            return self._advance(connection, message_id, message_sid, status, error_code, below)

    def _advance(
        self, connection: Connection, message_id: int, message_sid: str, status: str,
        error_code: int | None, below: list[str],
    ) -> Message | None:
        if message_sid:
            connection.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.provider_sid.is_(None))
                .values(provider_sid=message_sid)
            )
        changes: dict[str, Any] = {"status": status, "updated_at": utcnow()}
        if error_code is not None:
            changes["error_code"] = error_code
        connection.execute(
            update(messages)
            .where(messages.c.id == message_id, messages.c.status.in_(below))
            .values(**changes)
        )
        row = connection.execute(select(messages).where(messages.c.id == message_id)).first()
        return _message(row) if row else None

    def receipts(self, message_id: int) -> list[dict[str, Any]]:
        """The status callbacks kept for a text, in the order they arrived."""
        with self._begin() as connection:
            rows = connection.execute(
                select(message_events).where(message_events.c.message_id == message_id)
                .order_by(message_events.c.id)
            ).all()
        return [dict(row._mapping) for row in rows]

    # --- opt-outs, landlines, replies -------------------------------------------------

    def opt_out(self, line: str, number: str, source: str) -> bool:
        """This caller wants no more texts from this line; False if already opted out."""
        values = {"line": line, "number": number, "source": source, "since": utcnow()}
        with self._begin() as connection:
            try:
                with connection.begin_nested():
                    connection.execute(insert(opt_outs).values(**values))
            except IntegrityError:
                return False
            return True

    def opt_in(self, line: str, number: str) -> bool:
        """This caller may be texted by this line again; False if they were not opted out."""
        with self._begin() as connection:
            result = connection.execute(
                opt_outs.delete().where(opt_outs.c.line == line, opt_outs.c.number == number)
            )
            return result.rowcount > 0

    def opted_out(self, line: str, number: str) -> bool:
        with self._begin() as connection:
            row = connection.execute(
                select(opt_outs.c.since)
                .where(opt_outs.c.line == line, opt_outs.c.number == number)
            ).first()
        return row is not None

    def remember_landline(self, number: str, error_code: int) -> bool:
        """Twilio refused this number as a landline; False if that was known already."""
        values = {"number": number, "error_code": error_code, "learned_at": utcnow()}
        with self._begin() as connection:
            try:
                with connection.begin_nested():
                    connection.execute(insert(landlines).values(**values))
            except IntegrityError:
                return False
            return True

    def known_landline(self, number: str) -> bool:
        with self._begin() as connection:
            row = connection.execute(
                select(landlines.c.error_code).where(landlines.c.number == number)
            ).first()
        return row is not None

    def add_reply(
        self, message_sid: str, line: str, caller: str, body: str, kind: str,
        params: Mapping[str, str],
    ) -> int | None:
        """Keep a caller's text to a line; None when this MessageSid was kept already."""
        values = {
            "message_sid": message_sid or None, "line": line, "caller": caller, "body": body,
            "kind": kind, "answered": False, "params": json.dumps(dict(params), sort_keys=True),
            "received_at": utcnow(),
        }
        with self._begin() as connection:
            try:
                with connection.begin_nested():
                    result = connection.execute(insert(replies).values(**values))
            except IntegrityError:
                return None
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def mark_answered(self, reply_id: int) -> None:
        with self._begin() as connection:
            connection.execute(
                update(replies).where(replies.c.id == reply_id).values(answered=True)
            )

    def replies_from(self, line: str, caller: str) -> list[InboundReply]:
        """What this caller texted to this line, oldest first."""
        with self._begin() as connection:
            rows = connection.execute(
                select(replies)
                .where(replies.c.line == line, replies.c.caller == caller)
                .order_by(replies.c.id)
            ).all()
        return [
            InboundReply(
                id=row.id, line=row.line, caller=row.caller, body=row.body, kind=row.kind,
                answered=row.answered,
                received_at=_aware(row.received_at),  # type: ignore[arg-type]
            )
            for row in rows
        ]

    def last_auto_reply(self, line: str, caller: str) -> datetime | None:
        """When this line last answered this caller's reply with its `sms.reply` copy."""
        with self._begin() as connection:
            value = connection.execute(
                select(func.max(replies.c.received_at)).where(
                    replies.c.line == line, replies.c.caller == caller,
                    replies.c.answered.is_(True),
                )
            ).scalar()
        return _aware(value)


def _message(row: Any) -> Message:
    return Message(
        id=row.id, call_sid=row.call_sid, step=row.step, line=row.line,
        to_number=row.to_number, from_number=row.from_number, body=row.body,
        encoding=row.encoding, segments=row.segments, status=row.status, reason=row.reason,
        error_code=row.error_code, attempts=row.attempts, provider_sid=row.provider_sid,
        status_callback=row.status_callback,
    )


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL lets webhooks read while the outbox writes; busy_timeout waits out a lock."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
