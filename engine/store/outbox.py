"""Sending a text under a lease, so that any engine may send any text, exactly once.

A pending text is held by one engine at a time: `claimed_by` names it and `lease_until`
says until when. The engine that decided a text holds it from the start; while it lives
it renews the leases of the texts it works on (`renew`), through its backoffs too. When
an engine stops, its leases run out and any other engine takes the texts over:

- a `pending` text whose lease ran out was never handed to Twilio by its holder (or
  Twilio refused it for now): `take_over` claims it, and it is sent as if just decided;
- a `sending` text whose lease ran out was on its way when its holder stopped: the
  request may have reached Twilio, so it is never re-sent but recorded `unknown`
  (`abandon_sending`), and Twilio's status callback, if one comes, settles it.

Every move is one conditional UPDATE: two engines racing for a text both run it, and the
database lets one of them change the row. On PostgreSQL, `take_over` first locks the rows
it reads with `FOR UPDATE SKIP LOCKED`, so engines sweeping at once split the work
instead of waiting for each other. Leases are judged by each engine's clock: hosts must
agree on the time (NTP) to well within a lease.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from engine.store._base import StoreBase
from engine.store.records import utcnow
from engine.store.schema import messages

__all__ = ["OutboxStore"]

# Rows one sweep takes over at most: the rest wait for the next sweep (or another engine).
TAKE_AT_ONCE = 200


class OutboxStore(StoreBase):
    """The outbox's moves: claim, finish, give up, renew, take over, abandon."""

    def claim_send(self, message_id: int, status_callback: str | None = None) -> bool:
        """Move a pending text to `sending` under this engine's lease; False when another
        engine holds it or has moved it on.

        A `status_callback` given is kept with the text, so an engine that takes it over
        sends it with the same one.
        """
        now = utcnow()
        callback = func.coalesce(status_callback, messages.c.status_callback)
        with self._begin() as connection:
            result = connection.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.status == "pending",
                       self._free_or_mine(now))
                .values(
                    status="sending", attempts=messages.c.attempts + 1,
                    status_callback=callback, claimed_by=self.holder,
                    lease_until=now + self.lease, updated_at=now,
                )
            )
            return result.rowcount == 1

    def finish_send(
        self, message_id: int, status: str, *, provider_sid: str | None = None,
        error_code: int | None = None,
    ) -> None:
        """Record what the transport said: sent (with the provider's id), failed, unknown,
        or pending again (to be retried by this engine, which keeps holding it).

        Only a text still `sending` (or `unknown`, when another engine gave it up) takes
        the new status: a status callback that arrived first has said more already.
        """
        known = {"provider_sid": provider_sid, "error_code": error_code}
        given = {key: value for key, value in known.items() if value is not None}
        now = utcnow()
        lease = now + self.lease if status == "pending" else None
        with self._begin() as connection:
            if given:
                connection.execute(
                    update(messages).where(messages.c.id == message_id).values(**given)
                )
            connection.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.status.in_(("sending", "unknown")))
                .values(status=status, lease_until=lease, updated_at=now)
            )

    def give_up(self, message_id: int) -> bool:
        """A text retried as often as it may be is `failed`; False if it was not pending."""
        with self._begin() as connection:
            result = connection.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.status == "pending")
                .values(status="failed", lease_until=None, updated_at=utcnow())
            )
            return result.rowcount == 1

    def renew(self, message_ids: Collection[int]) -> int:
        """Extend this engine's lease on these texts; how many it still holds."""
        if not message_ids:
            return 0
        now = utcnow()
        with self._begin() as connection:
            result = connection.execute(
                update(messages)
                .where(
                    messages.c.id.in_(list(message_ids)), messages.c.claimed_by == self.holder,
                    messages.c.status.in_(("pending", "sending")),
                )
                .values(lease_until=now + self.lease)
            )
            return result.rowcount

    def take_over(self, limit: int = TAKE_AT_ONCE) -> list[int]:
        """Claim pending texts nobody holds (or whose holder's lease ran out), oldest first.

        The texts are held by this engine afterwards; send them with `claim_send`.
        """
        now = utcnow()
        free = and_(messages.c.status == "pending", self._free(now))
        with self._begin() as connection:
            ids = connection.execute(
                select(messages.c.id).where(free).order_by(messages.c.id).limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars().all()
            if not ids:
                return []
            taken = connection.execute(
                update(messages).where(messages.c.id.in_(ids), free)
                .values(claimed_by=self.holder, lease_until=now + self.lease)
                .returning(messages.c.id)
            ).scalars().all()
        return sorted(taken)

    def abandon_sending(self) -> int:
        """Texts whose engine stopped while sending them (their lease ran out): Twilio may
        have them, so they are `unknown`, never sent again. How many there were."""
        now = utcnow()
        with self._begin() as connection:
            result = connection.execute(
                update(messages)
                .where(messages.c.status == "sending", messages.c.lease_until < now)
                .values(status="unknown", lease_until=None, updated_at=now)
            )
            return result.rowcount

    def _free(self, now: Any) -> ColumnElement[bool]:
        return or_(messages.c.claimed_by.is_(None), messages.c.lease_until.is_(None),
                   messages.c.lease_until < now)

    def _free_or_mine(self, now: Any) -> ColumnElement[bool]:
        return or_(self._free(now), messages.c.claimed_by == self.holder)
