"""The store's tables, as SQLAlchemy Core declares them, and the order of a text's statuses.

The tables are the schema the migrations (`engine/store/migrations/`) create: a change to
one here is a new revision there, or `ringback migrate` and the engine's start-up check
disagree about what the database holds.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "FINAL_CALL_STATUSES", "MESSAGE_STATUS_RANK", "call_events", "calls", "landlines",
    "message_events", "messages", "metadata", "opt_outs", "replies",
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
    # The engine that holds the text (decided it, or sends it) and until when: another
    # engine takes it over only once the lease has run out (engine.store.outbox).
    Column("claimed_by", String(64)),
    Column("lease_until", DateTime(timezone=True)),
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

