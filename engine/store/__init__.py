"""The store: every call, its events, and every follow-up text, in SQL through SQLAlchemy Core.

Twilio's callbacks arrive twice, late and out of order, possibly on another engine
process sharing the same database, so every rule that must hold across them is a rule
of the store, not of one process's memory:

- a call row is created once; a retried first webhook finds it and gets the same answer;
- a call that has ended stays ended, whatever arrives after (events are still kept);
- a text is claimed by inserting its row under a unique (call, step) key: the second
  claim fails in the database, so a text is decided, and sent, at most once;
- a text is handed to Twilio only by the engine that moved it from `pending` to
  `sending` under its lease, and a lease that runs out lets another engine finish the
  work (`engine.store.outbox`); Twilio's status callbacks only ever move a text forward
  (MESSAGE_STATUS_RANK), so a late `sent` never overwrites `delivered`;
- opt-outs are kept per caller and line, landlines Twilio refused per number, and every
  reply per caller and line, retries of the same MessageSid kept once.

SQLite (WAL mode) is the default, for one host; PostgreSQL (`postgresql+psycopg://…`)
serves several engines. The schema is Alembic's (`engine.store.migrations`):
`ringback migrate` applies it, and `Store.ready` checks it at start.

The parts: `schema` (tables), `records` (what methods return), `calls`, `texts`,
`outbox` (leases), `replies` (opt-outs, landlines, replies), `migrations`.
"""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.exc import DatabaseError

from engine.store.calls import CallStore
from engine.store.migrations import HEAD, SchemaBehind, current_revision, upgrade
from engine.store.outbox import OutboxStore
from engine.store.records import Call, InboundReply, Message, StoreUnavailable, utcnow
from engine.store.replies import ReplyStore
from engine.store.schema import (
    FINAL_CALL_STATUSES,
    MESSAGE_STATUS_RANK,
    call_events,
    calls,
    landlines,
    message_events,
    messages,
    metadata,
    opt_outs,
    replies,
)
from engine.store.texts import TextStore

__all__ = [
    "FINAL_CALL_STATUSES", "MESSAGE_STATUS_RANK", "Call", "InboundReply", "Message",
    "SchemaBehind", "Store", "StoreUnavailable", "call_events", "calls", "landlines",
    "message_events", "messages", "metadata", "opt_outs", "replies", "utcnow",
]


class Store(CallStore, TextStore, OutboxStore, ReplyStore):
    """The engine's database. Every method is one short transaction, safe from any thread."""

    def create(self) -> None:
        """Bring the schema to the newest revision: create it in an empty database, else
        apply the migrations it lacks (what `ringback migrate` does)."""
        try:
            upgrade(self.engine)
        except DatabaseError as exc:
            raise StoreUnavailable(str(exc.orig)) from exc

    def revision(self) -> str | None:
        """The schema revision the database is at; None when it has none."""
        try:
            return current_revision(self.engine)
        except DatabaseError as exc:
            raise StoreUnavailable(str(exc.orig)) from exc

    def has_tables(self) -> bool:
        """Whether the database holds any of the store's tables (made before migrations,
        a store without `alembic_version` holds the first revision's)."""
        try:
            return bool(set(inspect(self.engine).get_table_names()) & set(metadata.tables))
        except DatabaseError as exc:
            raise StoreUnavailable(str(exc.orig)) from exc

    def ready(self, *, migrate: bool | None = None) -> None:
        """Make sure the schema is the newest before an engine serves from it.

        With `migrate` (by default on SQLite: one host, one engine, and the README's first
        command must work on a fresh machine) a schema that is behind is brought up to
        date. Without it (by default on PostgreSQL, where several engines share the
        database and an operator decides when its schema changes) a schema that is behind
        raises SchemaBehind, whose message names `ringback migrate`. One query when the
        schema is current.
        """
        found = self.revision()
        if found == HEAD:
            return
        if migrate if migrate is not None else self.dialect == "sqlite":
            self.create()
            return
        raise SchemaBehind(found, HEAD)
