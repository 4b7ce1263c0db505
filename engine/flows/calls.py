"""Running a call through its flow: one method per webhook, each a short transaction.

`Calls` is the engine without HTTP. Given a webhook's parameters it picks the trigger,
records what happened in the store, decides the texts the call has reached and returns
the TwiML Twilio should run next. Its methods block on the store, so the server calls
them from a worker thread.

The heart of the product is `settle`: when a call is over, whichever callback says so
first, a caller who hung up while the business had not taken the call counts as
`missed` (or `busy`), and the `sms` steps of the trigger the call ended in that were not
carried out yet are carried out now, skipping everything the caller would have heard.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from engine.dsl import model as m
from engine.dsl.flow import Action, Flow
from engine.flows.registry import FlowSet
from engine.flows.twiml import apology, emit, empty, hangup
from engine.phone import mask
from engine.sms.decide import decide
from engine.store import Call, Store

__all__ = ["Calls", "Reply", "dial_outcome"]

log = logging.getLogger("ringback.call")

ANSWERED = frozenset({"completed", "answered"})
OUTCOMES = {"busy": "busy", "no-answer": "missed", "canceled": "missed", "failed": "failed"}
GONE = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


@dataclass(frozen=True)
class Reply:
    """What a webhook answers, and the texts it queued for the outbox."""

    xml: str
    texts: tuple[int, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)


def dial_outcome(status: str) -> str | None:
    """`DialCallStatus` → the trigger it moves the call to; None when the business answered.

    Read case-insensitively; a value Twilio may add later counts as `missed`.
    """
    value = status.strip().lower()
    if value in ANSWERED:
        return None
    return OUTCOMES.get(value, "missed")


class Calls:
    """The call logic of one engine: flows, a store and a clock."""

    def __init__(
        self, flows: Callable[[], FlowSet], store: Store,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._flows = flows
        self.store = store
        self.clock = clock

    @property
    def flows(self) -> FlowSet:
        return self._flows()

    def incoming(self, params: Mapping[str, str], base_url: str, at: datetime | None) -> Reply:
        """`POST /voice`: a call comes in on a line."""
        sid, to = params.get("CallSid", ""), params.get("To", "")
        flow = self.flows.for_number(to)
        if flow is None:
            log.warning("Call %s to %s: no flow answers this number.", sid, mask(to))
            return Reply(apology())
        moment = at or self.clock()
        trigger = flow.starting_trigger(moment)
        caller = params.get("From", "")
        call = self.store.start_call(sid, flow.id, flow_line(flow, to), caller, moment, trigger)
        self.store.add_event(sid, "voice", params)
        log.info(
            "Call %s from %s on flow %s starts under %s.", sid, mask(caller), flow.id, call.trigger
        )
        return self._run(flow, call, base_url)

    def dial_ended(
        self, flow_id: str, step: str, params: Mapping[str, str], base_url: str
    ) -> Reply:
        """`POST /voice/dial`: the `<Dial>` of `step` reports how it ended."""
        sid = params.get("CallSid", "")
        self.store.add_event(sid, "dial", params)
        flow, call = self._locate(flow_id, sid)
        if flow is None or call is None:
            return Reply(empty())
        status = params.get("DialCallStatus", "")
        trigger = dial_outcome(status)
        if trigger is None:
            self.store.answer(sid)
            log.info("Call %s on flow %s: the business took the call.", sid, flow.id)
            return Reply(empty())
        if status.strip().lower() not in (*OUTCOMES, *ANSWERED):
            log.warning("Call %s: unknown DialCallStatus %r counted as missed.", sid, status)
        moved = self.store.move(sid, trigger, busy=trigger == "busy")
        log.info("Call %s on flow %s: dial %s, now under %s.", sid, flow.id, status, trigger)
        if moved is None or moved.ended or params.get("CallStatus", "") in GONE:
            return Reply(empty(), self._settle_texts(flow, moved or call))
        return self._run(flow, moved, base_url)

    def recorded(self, flow_id: str, step: str, params: Mapping[str, str]) -> Reply:
        """`POST /voice/recorded`: a voicemail ended; keep it on the call, then hang up."""
        sid = params.get("CallSid", "")
        self.store.add_event(sid, "recording", params)
        url = params.get("RecordingUrl")
        if url:
            self.store.keep_recording(sid, url)
            log.info("Call %s on flow %s: voicemail recorded.", sid, flow_id)
        return Reply(hangup())

    def status(self, params: Mapping[str, str]) -> Reply:
        """`POST /voice/status`: the call's status; the first that shows it over settles it."""
        sid = params.get("CallSid", "")
        self.store.add_event(sid, "status", params)
        status = params.get("CallStatus", "").strip().lower()
        sequence = _int(params.get("SequenceNumber"))
        duration = _int(params.get("CallDuration"))
        call, ended_now = self.store.observe_status(sid, status, sequence, duration)
        if call is None or not ended_now:
            return Reply(empty())
        flow = self.flows.by_id.get(call.flow_id)
        if flow is None:
            return Reply(empty())
        if call.trigger == "open" and not call.answered:
            call = self._hung_up(call)
        log.info("Call %s on flow %s ended (%s) under %s.", sid, flow.id, status, call.trigger)
        return Reply(empty(), self._settle_texts(flow, call))

    # --- helpers --------------------------------------------------------------------

    def _run(self, flow: Flow, call: Call, base_url: str) -> Reply:
        """Answer with the steps of the call's trigger, and decide the texts among them."""
        handled = flow.handler(call.trigger)
        if handled is None:
            return Reply(hangup())
        document = emit(flow, handled[1], base_url, call.line)
        return Reply(document.xml, self._carry_out(flow, call, document.texts))

    def _hung_up(self, call: Call) -> Call:
        """A caller gone before the business took the call, under `open`, was missed."""
        trigger = "busy" if call.busy_known else "missed"
        return self.store.move(call.call_sid, trigger) or call

    def _settle_texts(self, flow: Flow, call: Call) -> tuple[int, ...]:
        """The `sms` steps of the call's trigger that were not carried out yet."""
        if call.answered:
            return ()
        handled = flow.handler(call.trigger)
        if handled is None:
            return ()
        done = self.store.claimed_steps(call.call_sid)
        steps = [a for a in handled[1] if isinstance(a.step, m.SmsStep) and a.key not in done]
        return self._carry_out(flow, call, tuple(steps))

    def _carry_out(self, flow: Flow, call: Call, texts: tuple[Action, ...]) -> tuple[int, ...]:
        queued = []
        for action in texts:
            decision = decide(flow, call, action, self.store, self.clock())
            message_id = self.store.claim_message(decision.row(call, flow))
            if message_id is None:
                self.store.add_event(call.call_sid, "sms-duplicate", {"step": action.key})
                log.info(
                    "Call %s: text of %s already decided (duplicate).", call.call_sid, action.key
                )
            elif decision.status == "pending":
                queued.append(message_id)
            else:
                log.info(
                    "Call %s: text of %s to %s skipped (%s).",
                    call.call_sid, action.key, mask(decision.to_number), decision.reason,
                )
        return tuple(queued)

    def _locate(self, flow_id: str, sid: str) -> tuple[Flow | None, Call | None]:
        flow = self.flows.by_id.get(flow_id)
        call = self.store.call(sid)
        if flow is None or call is None:
            log.warning("Call %s: callback for unknown flow %s or call.", sid, flow_id)
        return flow, call


def flow_line(flow: Flow, to: str) -> str:
    """The flow's own E.164 form of the number the caller dialed (`To`)."""
    digits = "".join(ch for ch in to if ch.isdigit())
    return next((line for line in flow.lines if line.lstrip("+") == digits), flow.lines[0])


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None
