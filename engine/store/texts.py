"""Texts in the store: each decided once per (call, step), moved forward only.

- a text is claimed by inserting its row under a unique (call, step) key: the second
  claim fails in the database, so a text is decided, and sent, at most once;
- Twilio's status callbacks only ever move it forward (MESSAGE_STATUS_RANK), so a late
  `sent` never overwrites `delivered`, and every callback is kept.

Sending it (pending → sending → sent/failed/unknown, under a lease) is `engine.store.outbox`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from engine.store._base import StoreBase
from engine.store.records import Message, aware, to_message, utcnow
from engine.store.schema import MESSAGE_STATUS_RANK, message_events, messages

__all__ = ["TextStore"]

# A transaction-scoped advisory lock on one (line, number): released at commit or rollback.
_LOCK_NUMBER = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


class TextStore(StoreBase):
    """Texts decided for calls, and the receipts Twilio sends about them."""

    def claim_message(self, values: Mapping[str, Any]) -> int | None:
        """Insert a text's decision under its (call, step) key; None if already claimed.

        A pending text is inserted held by this engine (its lease), which sends it next;
        another engine takes it over only if this one stops before renewing the lease.
        """
        now = utcnow()
        row = {**values, "created_at": now, "updated_at": now, "attempts": 0}
        if values.get("status") == "pending":
            row |= {"claimed_by": self.holder, "lease_until": now + self.lease}
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
        return [to_message(row) for row in rows]

    def message(self, message_id: int) -> Message | None:
        with self._begin() as connection:
            row = connection.execute(select(messages).where(messages.c.id == message_id)).first()
        return to_message(row) if row else None

    def pending_messages(self) -> list[int]:
        """Texts decided but not yet handed to the transport: the outbox."""
        with self._begin() as connection:
            rows = connection.execute(
                select(messages.c.id).where(messages.c.status == "pending")
                .order_by(messages.c.id)
            ).all()
        return [row.id for row in rows]

    def last_text_to(self, line: str, to_number: str) -> datetime | None:
        """When this line last texted this number (sent or on its way).

        On PostgreSQL this also locks the (line, number) pair until the transaction ends:
        inside a webhook's transaction (`atomic`) another engine deciding a text to the
        same number waits for this decision, so a cooldown holds even for two calls from
        one caller ending at the same moment on two engines. (SQLite has one writer.)
        """
        with self._begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(_LOCK_NUMBER, {"key": f"{line}|{to_number}"})
            value = connection.execute(
                select(func.max(messages.c.created_at)).where(
                    messages.c.line == line,
                    messages.c.to_number == to_number,
                    messages.c.status.not_in(("skipped", "failed")),
                )
            ).scalar()
        return aware(value)

    def message_by_sid(self, provider_sid: str) -> Message | None:
        with self._begin() as connection:
            row = connection.execute(
                select(messages).where(messages.c.provider_sid == provider_sid)
            ).first()
        return to_message(row) if row else None

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
        return to_message(row) if row else None

    def receipts(self, message_id: int) -> list[dict[str, Any]]:
        """The status callbacks kept for a text, in the order they arrived."""
        with self._begin() as connection:
            rows = connection.execute(
                select(message_events).where(message_events.c.message_id == message_id)
                .order_by(message_events.c.id)
            ).all()
        return [dict(row._mapping) for row in rows]
