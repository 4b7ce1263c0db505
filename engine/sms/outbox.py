"""The outbox: follow-up texts decided in the store, sent after Twilio has its answer.

A webhook only decides a text and claims its row (`engine.sms.decide`); this module sends
what is pending, off the request path, and writes back what happened. Because pending
texts live in the store, an engine that stops with texts pending sends them when it
starts again (`resume`).

Retries: a rate limit, a server error or a connection that never opened is tried again
with exponential backoff and jitter, `MAX_ATTEMPTS` times in all; a permanent refusal is
recorded with its code; an attempt that may have reached Twilio unanswered is recorded
as `unknown`, never re-sent blindly.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable

import anyio.to_thread

from engine.phone import mask
from engine.sms.transport import Outcome, Transport
from engine.store import Store

__all__ = ["MAX_ATTEMPTS", "Outbox"]

log = logging.getLogger("ringback.sms")

MAX_ATTEMPTS = 5
BASE_DELAY = 1.0


class Outbox:
    """Sends pending texts in the background of the event loop it was started on."""

    def __init__(
        self, store: Store, transport: Transport, status_callback: str | None = None,
        base_delay: float = BASE_DELAY,
    ) -> None:
        self.store = store
        self.transport = transport
        self.status_callback = status_callback
        self.base_delay = base_delay
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, message_ids: Iterable[int], status_callback: str | None = None) -> None:
        """Start sending these texts; returns at once (call from the event loop)."""
        for message_id in message_ids:
            task = asyncio.get_running_loop().create_task(
                self._deliver(message_id, status_callback or self.status_callback)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def resume(self) -> int:
        """Send what an earlier run left pending; the number of texts taken up."""
        abandoned = await anyio.to_thread.run_sync(self.store.abandon_sending)
        if abandoned:
            log.warning(
                "%d texts were being sent when the engine stopped; Twilio may have them, "
                "so they are recorded as unknown and not sent again.", abandoned,
            )
        pending = await anyio.to_thread.run_sync(self.store.pending_messages)
        self.submit(pending)
        if pending:
            log.info("Resuming %d pending texts from the store.", len(pending))
        return len(pending)

    async def drain(self) -> None:
        """Wait until every text submitted so far has been sent or given up."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(self, message_id: int, status_callback: str | None) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            outcome = await anyio.to_thread.run_sync(
                self._attempt, message_id, status_callback
            )
            if outcome is None or outcome.status != "retry":
                return
            if attempt == MAX_ATTEMPTS:
                break
            delay = self.base_delay * 2 ** (attempt - 1)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
        await anyio.to_thread.run_sync(self._give_up, message_id)

    def _attempt(self, message_id: int, status_callback: str | None) -> Outcome | None:
        """One try at sending; None when the text is not pending (another process has it)."""
        if not self.store.claim_send(message_id):
            return None
        message = self.store.message(message_id)
        assert message is not None and message.body is not None
        outcome = self.transport.send(
            message.to_number, message.from_number or "", message.body, status_callback
        )
        self._record(message.call_sid, message_id, message.to_number, outcome)
        return outcome

    def _record(self, call_sid: str, message_id: int, to: str, outcome: Outcome) -> None:
        if outcome.status == "sent":
            self.store.finish_send(message_id, status="sent", provider_sid=outcome.provider_sid)
            log.info(
                "Text %s to %s sent (%s) for call %s.",
                message_id, mask(to), self.transport.name, call_sid,
            )
        elif outcome.status == "retry":
            self.store.finish_send(message_id, status="pending", error_code=outcome.error_code)
            log.warning(
                "Text %s for call %s not accepted yet, will retry: %s.",
                message_id, call_sid, outcome.detail,
            )
        else:
            self.store.finish_send(
                message_id, status=outcome.status, error_code=outcome.error_code
            )
            log.warning(
                "Text %s to %s for call %s %s: %s.",
                message_id, mask(to), call_sid, outcome.status, outcome.detail,
            )

    def _give_up(self, message_id: int) -> None:
        self.store.finish_send(message_id, status="failed")
        log.warning("Text %s failed after %d attempts.", message_id, MAX_ATTEMPTS)
