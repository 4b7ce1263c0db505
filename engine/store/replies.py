"""What callers say back: opt-outs per line, landlines per number, replies per caller.

Opt-outs are kept per caller and line, landlines Twilio refused per number, and every
reply per caller and line, a retry of the same MessageSid kept once: each is a unique
key in the database, so two engines receiving the same text record it once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.store._base import StoreBase
from engine.store.records import InboundReply, aware, utcnow
from engine.store.schema import landlines, opt_outs, replies

__all__ = ["ReplyStore"]


class ReplyStore(StoreBase):
    """Opt-outs, landlines and replies."""

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
                received_at=aware(row.received_at),  # type: ignore[arg-type]
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
        return aware(value)

