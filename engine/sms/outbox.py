"""The outbox: follow-up texts decided in the store, sent after Twilio has its answer.

A webhook only decides a text and claims its row (`engine.sms.decide`); this module sends
what is pending, off the request path, and writes back what happened. Because pending
texts live in the store, an engine that stops with texts pending sends them when it
starts again (`resume`), and `claim_send` (pending → sending, atomic in the store) lets
only one process send each.

Retries: a rate limit, a server error or a connection that never opened is tried again
with exponential backoff and jitter, `MAX_ATTEMPTS` times in all; a permanent refusal is
recorded with its code (and what it says about the number is kept, see
`engine.sms.refusals`); an attempt that may have reached Twilio unanswered is recorded
as `unknown`, never re-sent blindly: a status callback may still settle it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from urllib.parse import urlencode

import anyio.to_thread

from engine.phone import mask, mask_text
from engine.sms.refusals import consequence, learn
from engine.sms.transport import DryRun, Outcome, Transport
from engine.store import Message, Store

__all__ = ["MAX_ATTEMPTS", "Outbox", "status_callback_for"]

log = logging.getLogger("ringback.sms")

MAX_ATTEMPTS = 5
BASE_DELAY = 1.0
MAX_DELAY = 60.0


def status_callback_for(base: str | None, message_id: int) -> str | None:
    """The StatusCallback of one text: `…/sms/status` → `…/sms/status?message=7`.

    The id lets `/sms/status` place a callback even before the engine knows Twilio's id
    for the text (a callback can overtake the API's answer, or the answer was lost).
    """
    if base is None:
        return None
    return f"{base}?{urlencode({'message': message_id})}"


class Outbox:
    """Sends pending texts in the background of the event loop it was started on.

    `base_delay` is the first backoff in seconds (doubled on each retry, up to
    MAX_DELAY, times a jitter between 0.5 and 1.5); tests make it tiny.
    """

    def __init__(
        self, store: Store, transport: Transport, status_callback: str | None = None,
        base_delay: float = BASE_DELAY,
    ) -> None:
        self.store = store
        self.transport = transport
        self.status_callback = status_callback
        self.base_delay = base_delay
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def idle(self) -> bool:
        """Whether no text submitted to this outbox is still on its way."""
        return not self._tasks

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
            if attempt < MAX_ATTEMPTS:
                await asyncio.sleep(self._backoff(attempt))
        await anyio.to_thread.run_sync(self._give_up, message_id)

    def _backoff(self, attempt: int) -> float:
        """Seconds before try `attempt + 1`: doubling from base_delay, with jitter."""
        delay = min(self.base_delay * 2.0 ** (attempt - 1), MAX_DELAY)
        return delay * random.uniform(0.5, 1.5)

    def _attempt(self, message_id: int, status_callback: str | None) -> Outcome | None:
        """One try at sending; None when the text is not pending (another process has it)."""
        if not self.store.claim_send(message_id, status_callback):
            return None
        message = self.store.message(message_id)
        assert message is not None and message.body is not None
        outcome = self.transport.send(
            message.to_number, message.from_number or "", message.body,
            status_callback_for(message.status_callback, message_id),
        )
        self._record(message, outcome)
        return outcome

    def _record(self, message: Message, outcome: Outcome) -> None:
        status = "pending" if outcome.status == "retry" else outcome.status
        self.store.finish_send(
            message.id, status, provider_sid=outcome.provider_sid, error_code=outcome.error_code
        )
        if outcome.status == "sent":
            # Dry run: the log is the only place the text goes, so it carries the body.
            shown = f": {message.body!r}" if self.transport.name == DryRun.name else ""
            log.info(
                "Call %s: text %s to %s sent (%s)%s.",
                message.call_sid, message.id, mask(message.to_number), self.transport.name,
                mask_text(shown),
            )
        elif outcome.status == "retry":
            log.warning(
                "Call %s: text %s not accepted yet (attempt %d of %d), will retry: %s.",
                message.call_sid, message.id, message.attempts, MAX_ATTEMPTS,
                mask_text(outcome.detail),
            )
        else:
            self._refused(message, outcome)

    def _refused(self, message: Message, outcome: Outcome) -> None:
        after = consequence(learn(self.store, message, outcome.error_code))
        if outcome.status == "unknown":
            after = "; Twilio may have it, so it is not sent again"
        log.warning(
            "Call %s: text %s to %s %s (%s)%s.",
            message.call_sid, message.id, mask(message.to_number), outcome.status,
            mask_text(outcome.detail), after,
        )

    def _give_up(self, message_id: int) -> None:
        if not self.store.give_up(message_id):
            return
        message = self.store.message(message_id)
        call = message.call_sid if message else "?"
        log.warning(
            "Call %s: text %s failed: not accepted after %d attempts.",
            call, message_id, MAX_ATTEMPTS,
        )
