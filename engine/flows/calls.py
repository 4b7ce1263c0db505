"""Running a call through its flow: one method per webhook, each a short transaction.

`Calls` is the engine without HTTP. Given a webhook's parameters it picks the trigger,
records what happened in the store, decides the texts the call has reached and returns
the TwiML Twilio should run next. Its methods block on the store, so the server calls
them from a worker thread.

The heart of the product is `settle`: when a call is over, whichever callback says so
first, a caller who hung up while the business had not taken the call counts as
`missed` (or `busy`), and the `sms` steps of the trigger the call ended in that were not
carried out yet are carried out now, skipping everything the caller would have heard.
Which steps those are is kept as the call goes (a `steps` event each time the engine
answers), since a menu's option or a dial's own `on` may have replaced the trigger's.

A screened dial (or one counted for `max_calls`) hears from the business's own leg: the
business took the call only when the engine recorded the digit, so a phone's voicemail
that answers (`DialCallStatus=completed`, no digit) is `missed`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from engine.dsl import model as m
from engine.dsl.flow import Action, Flow
from engine.flows.registry import FlowSet
from engine.flows.twiml import apology, emit, empty, hangup, screening
from engine.phone import mask, read_caller
from engine.sms.decide import Decision, decide
from engine.store import Call, Message, Store

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
        # The store keeps callers in E.164 when they are numbers at all, so that every
        # call from one person (written +48 601…, 0048 601…) is found as theirs.
        caller = read_caller(params.get("From", ""), flow.region).e164 or params.get("From", "")
        call = self.store.start_call(
            sid, (flow.id, flow.digest), flow_line(flow, to), caller, moment, trigger
        )
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
        if trigger is None and _screened(flow, step) and not call.answered:
            trigger = "missed"  # nobody pressed the digit: a phone's voicemail took the call
        self.store.bridge(sid, None)
        if trigger is None:
            self.store.answer(sid)
            log.info("Call %s on flow %s: the business took the call.", sid, flow.id)
            return Reply(empty())
        if status.strip().lower() not in (*OUTCOMES, *ANSWERED):
            log.warning("Call %s: unknown DialCallStatus %r counted as missed.", sid, status)
        moved = self.store.move(sid, trigger, busy=trigger == "busy")
        log.info("Call %s on flow %s: dial %s, now under %s.", sid, flow.id, status, trigger)
        steps = flow.outcome_steps(step, trigger)
        if moved is None or moved.ended or params.get("CallStatus", "") in GONE:
            return Reply(empty(), self._settle_texts(flow, moved or call, steps))
        return self._run(flow, moved, base_url, steps)

    def menu(self, flow_id: str, step: str, params: Mapping[str, str], base_url: str) -> Reply:
        """`POST /voice/menu`: the key pressed at the menu of `step` (none: its default).

        The chosen steps run, then the steps written after the menu.
        """
        sid = params.get("CallSid", "")
        self.store.add_event(sid, "menu", params)
        flow, call = self._locate(flow_id, sid)
        if flow is None or call is None or call.ended:
            return Reply(empty())
        digit = params.get("Digits", "").strip()[:1]
        chosen = flow.sequences.get(f"{step}.menu.options.{digit}") if digit else None
        if chosen is None:
            chosen = flow.sequences.get(f"{step}.menu.default", ())
        log.info("Call %s on flow %s: menu %s, key %r.", sid, flow.id, step, digit)
        return self._run(flow, call, base_url, chosen + flow.after(step))

    def screen(self, flow_id: str, step: str, params: Mapping[str, str]) -> Reply:
        """`POST /voice/screen`: the business picked up the dial of `step` (its own leg).

        Screened: the business hears the prompt and must press the digit. Otherwise (the
        dial only counts calls for `max_calls`) the call is bridged now.
        """
        parent = params.get("ParentCallSid") or params.get("CallSid", "")
        self.store.add_event(parent, "screen", params)
        flow, call = self._locate(flow_id, parent)
        action = flow.actions.get(step) if flow is not None else None
        if flow is None or call is None or not isinstance(action, Action):
            return Reply(hangup())
        if not _screened(flow, step):
            self._bridged(call, flow, step)
            return Reply(empty())
        return Reply(screening(flow, action))

    def screened(self, flow_id: str, step: str, params: Mapping[str, str]) -> Reply:
        """`POST /voice/screened`: the key the business pressed; the digit takes the call."""
        parent = params.get("ParentCallSid") or params.get("CallSid", "")
        self.store.add_event(parent, "screened", params)
        flow, call = self._locate(flow_id, parent)
        if flow is None or call is None or not _screened(flow, step):
            return Reply(hangup())
        digit = flow.actions[step].step.dial.screen.digit
        if params.get("Digits", "").strip() != digit:
            log.info("Call %s on flow %s: the business declined.", parent, flow.id)
            return Reply(hangup())
        self._bridged(call, flow, step)
        return Reply(empty())

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
        flow = self.flows.version(call.flow_id, call.flow_version)
        if flow is None:
            return Reply(empty())
        steps = self._position(flow, call)
        if call.trigger == "open" and not call.answered and not _complete(steps):
            call, steps = self._hung_up(call), None
        log.info("Call %s on flow %s ended (%s) under %s.", sid, flow.id, status, call.trigger)
        return Reply(empty(), self._settle_texts(flow, call, steps))

    # --- helpers --------------------------------------------------------------------

    def _run(
        self, flow: Flow, call: Call, base_url: str, steps: tuple[Action, ...] | None = None
    ) -> Reply:
        """Answer with `steps` (default: the call's trigger's), and decide their texts.

        Where the call now is, is kept as an event, so that a caller who hangs up later
        still gets the texts of these steps.
        """
        if steps is None:
            handled = flow.handler(call.trigger)
            if handled is None:
                return Reply(hangup())
            steps = handled[1]
        call, steps = self._within_capacity(flow, call, steps)
        target = goto_target(flow, call.trigger, steps)
        if target is not None:  # a `goto` carried the call to another trigger's steps
            call = self.store.move(call.call_sid, target, busy=target == "busy") or call
        self.store.add_event(call.call_sid, "steps", {"steps": " ".join(a.key for a in steps)})
        document = emit(flow, steps, base_url, call.line)
        return Reply(document.xml, self._carry_out(flow, call, document.texts))

    def _within_capacity(
        self, flow: Flow, call: Call, steps: tuple[Action, ...]
    ) -> tuple[Call, tuple[Action, ...]]:
        """A dial whose numbers already have `max_calls` calls bridged is busy, undialed:
        the steps before it, then the dial's (or the flow's) `busy` steps."""
        for _ in range(len(flow.actions)):
            index, dial = _first_dial(steps)
            if dial is None or dial.step.dial.max_calls is None:
                break
            options = dial.step.dial
            if self.store.bridged(flow.id, dial.key) < options.max_calls:
                break
            call = self.store.move(call.call_sid, "busy", busy=True) or call
            log.info("Call %s on flow %s: %s is at max_calls, busy.", call.call_sid, flow.id,
                     dial.key)
            busy = flow.outcome_steps(dial.key, "busy")
            handled = flow.handler("busy")
            busy = busy if busy is not None else handled[1] if handled else ()
            steps = steps[:index] + busy
        return call, steps

    def _bridged(self, call: Call, flow: Flow, step: str) -> None:
        self.store.answer(call.call_sid)
        self.store.bridge(call.call_sid, step)
        log.info("Call %s on flow %s: the business took the call.", call.call_sid, flow.id)

    def _position(self, flow: Flow, call: Call) -> tuple[Action, ...] | None:
        """The steps the call was last given, as `_run` kept them; None if unknown."""
        kept = [e for e in self.store.events(call.call_sid) if e["kind"] == "steps"]
        if not kept:
            return None
        keys = json.loads(kept[-1]["params"]).get("steps", "").split()
        return tuple(flow.actions[key] for key in keys if key in flow.actions)

    def _hung_up(self, call: Call) -> Call:
        """A caller gone before the business took the call, under `open`, was missed."""
        trigger = "busy" if call.busy_known else "missed"
        return self.store.move(call.call_sid, trigger) or call

    def _settle_texts(
        self, flow: Flow, call: Call, steps: tuple[Action, ...] | None = None
    ) -> tuple[int, ...]:
        """The `sms` steps of `steps` (default: the call's trigger's) not carried out yet."""
        if call.answered:
            return ()
        if steps is None:
            handled = flow.handler(call.trigger)
            steps = handled[1] if handled is not None else ()
        done = self.store.claimed_steps(call.call_sid)
        texts = [a for a in reachable_texts(flow, steps) if a.key not in done]
        return self._carry_out(flow, call, tuple(texts))

    def _carry_out(self, flow: Flow, call: Call, texts: tuple[Action, ...]) -> tuple[int, ...]:
        queued = []
        for action in texts:
            decision = _unless_sent(decide(flow, call, action, self.store, self.clock()),
                                    self.store.messages_for_call(call.call_sid))
            message_id = self.store.claim_message(decision.row(call, flow))
            if message_id is None:
                self.store.add_event(call.call_sid, "sms-duplicate", {"step": action.key})
                log.info(
                    "Call %s: text of %s already decided (duplicate).", call.call_sid, action.key
                )
            elif decision.status == "pending":
                queued.append(message_id)
            else:
                (log.warning if decision.status == "failed" else log.info)(
                    "Call %s on flow %s: text of %s to %s %s (%s).", call.call_sid, flow.id,
                    action.key, mask(decision.to_number), decision.status, decision.reason,
                )
        return tuple(queued)

    def _locate(self, flow_id: str, sid: str) -> tuple[Flow | None, Call | None]:
        call = self.store.call(sid)
        version = call.flow_version if call is not None and call.flow_id == flow_id else None
        flow = self.flows.version(flow_id, version)
        if flow is None or call is None:
            log.warning("Call %s: callback for unknown flow %s or call.", sid, flow_id)
        return flow, call


def flow_line(flow: Flow, to: str) -> str:
    """The flow's own E.164 form of the number the caller dialed (`To`)."""
    digits = "".join(ch for ch in to if ch.isdigit())
    return next((line for line in flow.lines if line.lstrip("+") == digits), flow.lines[0])


def _screened(flow: Flow, step: str) -> bool:
    """Whether the dial at `step` screens: only the digit means the business took the call."""
    action = flow.actions.get(step)
    return isinstance(action.step if action else None, m.DialStep) and (
        action.step.dial.screen is not None  # type: ignore[union-attr]
    )


def _complete(steps: tuple[Action, ...] | None) -> bool:
    """Whether the call was last given steps that end it without reaching the business
    (a menu option that only says something): then the flow, not the caller, ended it."""
    waiting = (m.DialStep, m.MenuStep, m.VoicemailStep)
    return steps is not None and not any(isinstance(a.step, waiting) for a in steps)


def goto_target(flow: Flow, trigger: str, steps: tuple[Action, ...]) -> str | None:
    """The trigger a `goto` in `steps` leads to, if it is not where the call already is.

    `goto` is replaced by its target's steps when the flow loads; they keep their own
    addresses (`on.missed.0`), so steps ending at the top of another trigger's list, which
    is not the one the call's trigger falls back to, show the call went there.
    """
    handled = flow.handler(trigger)
    here = {trigger, handled[0] if handled else trigger}
    tops = [key.split(".") for key in (a.key for a in steps)]
    roots = [parts[1] for parts in tops if len(parts) == 3 and parts[0] == "on"]
    # The last one counts: steps written before a `goto` belong to where the call was.
    return roots[-1] if roots and roots[-1] not in here else None


def _unless_sent(decision: Decision, earlier: list[Message]) -> Decision:
    """A text this call already sent, word for word to the same number, is a `duplicate`."""
    if decision.status != "pending":
        return decision
    for message in earlier:
        same = (message.to_number, message.body) == (decision.to_number, decision.body)
        if same and message.status not in ("skipped", "failed"):
            return replace(decision, status="skipped", reason="duplicate", sender=None,
                           body=None, encoding=None, segments=None)
    return decision


def reachable_texts(flow: Flow, steps: tuple[Action, ...]) -> tuple[Action, ...]:
    """The `sms` steps a caller who has hung up still reaches from `steps`.

    Everything heard is skipped. A dial no longer rings anyone (the caller is gone), so it
    counts as `missed`: its own `on.missed` steps run, else the flow's `missed` trigger,
    and their texts are reached in turn. Each step list is walked once, so a flow whose
    `missed` steps dial again cannot loop.
    """
    texts: list[Action] = []
    seen: set[str] = set()
    current: tuple[Action, ...] | None = steps
    while current:
        marker = current[0].key
        if marker in seen:
            break
        seen.add(marker)
        following: tuple[Action, ...] | None = None
        for action in current:
            if isinstance(action.step, m.SmsStep):
                texts.append(action)
            elif isinstance(action.step, m.DialStep):
                following = flow.outcome_steps(action.key, "missed")
                if following is None:
                    handled = flow.handler("missed")
                    following = handled[1] if handled else None
                break
            elif isinstance(action.step, (m.MenuStep, m.RejectStep, m.HangupStep)):
                break
        current = following
    return tuple(texts)


def _first_dial(steps: tuple[Action, ...]) -> tuple[int, Action | None]:
    """The dial the caller reaches first in `steps`, if no other verb ends the document."""
    enders = (m.MenuStep, m.VoicemailStep, m.RejectStep, m.HangupStep)
    for index, action in enumerate(steps):
        if isinstance(action.step, m.DialStep):
            return index, action
        if isinstance(action.step, enders):
            break
    return len(steps), None


def _int(value: str | None) -> int | None:
    """A whole number Twilio sent as text; None for anything else (`²` is not a number)."""
    return int(value) if value and re.fullmatch(r"[0-9]{1,9}", value.strip()) else None
