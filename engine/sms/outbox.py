"""The outbox: follow-up texts decided in the store, sent after Twilio has its answer.

A webhook only decides a text and claims its row (`engine.sms.decide`); this module sends
what is pending, off the request path, and writes back what happened. Pending texts live
in the store, under a lease (`engine.store.outbox`), so any engine sharing the store may
send any of them, exactly once:

- the engine that decided a text holds it and sends it; while it lives, its sweep (every
  third of a lease) renews the leases of the texts it works on, backoffs included;
- the same sweep takes over pending texts whose holder's lease ran out (an engine that
  stopped, or was killed), and sends them; at start it is the first thing an engine does;
- a text whose holder stopped while *sending* it may have reached Twilio: once its lease
  runs out it is recorded `unknown`, never re-sent blindly; a status callback settles it.

Retries: a rate limit, a server error or a connection that never opened is tried again
with exponential backoff and jitter, `MAX_ATTEMPTS` times in all (counted in the store,
across engines); a permanent refusal is recorded with its code (and what it says about
the number is kept, see `engine.sms.refusals`); an attempt that may have reached Twilio
unanswered is recorded as `unknown`, never re-sent blindly: a status callback may still
settle it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from functools import partial
from urllib.parse import urlencode

import anyio.to_thread

from engine.phone import mask, mask_text
from engine.sms.refusals import consequence, learn
from engine.sms.transport import DryRun, Outcome, Transport
from engine.store import Message, Store, StoreUnavailable

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
    MAX_DELAY, times a jitter between 0.5 and 1.5); tests make it tiny. The sweep runs
    every third of the store's lease.
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
        self._working: set[int] = set()  # texts this engine holds, whose leases it renews
        self._seen_callback: str | None = None  # the last StatusCallback a request gave
        self._sweeper: asyncio.Task[None] | None = None
        # The sweep's own thread: webhooks filling the shared thread pool must not delay
        # the renewals that keep this engine's leases (else another engine takes over).
        self._sweep_thread: anyio.CapacityLimiter | None = None

    @property
    def idle(self) -> bool:
        """Whether no text submitted to this outbox is still on its way."""
        return not self._tasks

    def submit(self, message_ids: Iterable[int], status_callback: str | None = None) -> None:
        """Start sending these texts; returns at once (call from the event loop)."""
        if status_callback is not None:
            self._seen_callback = status_callback
        for message_id in message_ids:
            if message_id in self._working:
                continue
            self._working.add(message_id)
            task = asyncio.get_running_loop().create_task(
                self._deliver(message_id, status_callback or self.status_callback)
            )
            self._tasks.add(task)
            task.add_done_callback(partial(self._done, message_id))

    def _done(self, message_id: int, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._working.discard(message_id)

    async def start(self) -> None:
        """Take up what stopped engines left, then sweep every third of a lease."""
        self._sweep_thread = anyio.CapacityLimiter(1)
        try:
            await self.sweep()
        except StoreUnavailable:
            log.warning("The store did not answer the outbox's first sweep; trying again.")
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        """Stop sweeping; texts on their way finish (`drain`)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None

    async def resume(self) -> int:
        """Send what stopped engines left pending (one sweep); the number of texts taken up."""
        return await self.sweep()

    async def sweep(self) -> int:
        """Renew this engine's leases, settle texts abandoned mid-send, take over pending
        texts nobody holds; the number taken over."""
        limiter = self._sweep_thread
        await anyio.to_thread.run_sync(self.store.renew, set(self._working), limiter=limiter)
        abandoned = await anyio.to_thread.run_sync(self.store.abandon_sending, limiter=limiter)
        if abandoned:
            log.warning(
                "%d texts were being sent by an engine that stopped; Twilio may have them, "
                "so they are recorded as unknown and not sent again.", abandoned,
            )
        taken = await anyio.to_thread.run_sync(self.store.take_over, limiter=limiter)
        self.submit(taken)
        if taken:
            log.info("Took up %d pending texts from the store.", len(taken))
        return len(taken)

    async def _sweep_forever(self) -> None:
        every = self.store.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                await self.sweep()
            except StoreUnavailable:
                log.warning("The store did not answer the outbox's sweep; trying again.")

    async def drain(self) -> None:
        """Wait until every text submitted so far has been sent or given up."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(self, message_id: int, status_callback: str | None) -> None:
        while True:
            tried = await anyio.to_thread.run_sync(self._attempt, message_id, status_callback)
            if tried is None or tried[0].status != "retry":
                return
            if tried[1] >= MAX_ATTEMPTS:
                await anyio.to_thread.run_sync(self._give_up, message_id)
                return
            await asyncio.sleep(self._backoff(tried[1]))

    def _backoff(self, attempt: int) -> float:
        """Seconds before try `attempt + 1`: doubling from base_delay, with jitter."""
        delay = min(self.base_delay * 2.0 ** (attempt - 1), MAX_DELAY)
        return delay * random.uniform(0.5, 1.5)

    def _attempt(
        self, message_id: int, status_callback: str | None
    ) -> tuple[Outcome, int] | None:
        """One try at sending: what the transport said and the text's attempts so far;
        None when the text is not this engine's to send (another holds it, or it is done)."""
        if not self.store.claim_send(message_id, status_callback):
            return None
        message = self.store.message(message_id)
        assert message is not None and message.body is not None
        outcome = self.transport.send(
            message.to_number, message.from_number or "", message.body,
            status_callback_for(message.status_callback or self._seen_callback, message_id),
        )
        self._record(message, outcome)
        return outcome, message.attempts

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
