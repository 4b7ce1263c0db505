"""Who gets a text: the decision taken, and recorded, for every `sms` step a call reaches.

Each decision is *pending* (to be sent by the outbox) or *skipped* with one reason from
the language's table, checked in its order: `no-caller-id`, `invalid-number`, `landline`,
`opted-out`, `cooldown`. A step this call already decided is a `duplicate`: the store
refuses the second claim, and the caller is not texted twice.

`landline` has two sources: the numbering plan (a UK or Polish fixed line), and Twilio
itself, which refuses a text to a landline with 21614 or 21635 (or reports 30006 later);
the store remembers such a number, so the next call from it costs no request. A number
the plan cannot place (most of the US and Canada) is texted until Twilio says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.dsl.flow import Action, Flow
from engine.phone import (
    LineType,
    accepts_alphanumeric_sender,
    is_alphanumeric_sender,
    line_type,
    read_caller,
)
from engine.sms.segments import measure
from engine.store import Call, Store

__all__ = ["Decision", "decide", "render_copy"]


@dataclass(frozen=True)
class Decision:
    """What the engine decided for one `sms` step of one call."""

    step: str
    status: str  # pending | skipped | failed (copy that cannot be rendered for this call)
    to_number: str
    reason: str | None = None
    sender: str | None = None
    body: str | None = None
    encoding: str | None = None
    segments: int | None = None

    def row(self, call: Call, flow: Flow) -> dict[str, Any]:
        """The values the store keeps for this decision."""
        return {
            "call_sid": call.call_sid, "step": self.step, "flow_id": flow.id,
            "line": call.line, "trigger": call.trigger, "to_number": self.to_number,
            "from_number": self.sender, "body": self.body, "encoding": self.encoding,
            "segments": self.segments, "status": self.status, "reason": self.reason,
        }


def decide(flow: Flow, call: Call, action: Action, store: Store, now: datetime) -> Decision:
    """Decide one `sms` step for a call: pending with its rendered text, or skipped and why."""
    options = action.step.sms
    raw = options.to or call.caller
    caller = read_caller(raw, flow.region)
    if caller.e164 is None:
        reason = caller.problem or "invalid-number"
        return Decision(action.key, "skipped", raw or "", reason=reason)
    to = caller.e164
    refusal = _refusal(flow, call, to, store, now)
    if refusal is not None:
        return Decision(action.key, "skipped", to, reason=refusal)
    try:
        body = render_copy(flow, call, action, now)
    except Exception as exc:  # noqa: BLE001 - author's copy that breaks on this call's values
        # Recorded as failed, with why, rather than taking the call down with it.
        return Decision(action.key, "failed", to, reason="copy-error", body=f"[{exc}]")
    size = measure(body)
    return Decision(
        action.key, "pending", to, sender=_sender(flow, call, to), body=body,
        encoding=size.encoding, segments=size.segments,
    )


def _refusal(flow: Flow, call: Call, to: str, store: Store, now: datetime) -> str | None:
    """Why a valid number must not get this text, in the table's order; None to send."""
    if flow.sms.send_to == "mobile" and _landline(to, store):
        return "landline"
    if store.opted_out(call.line, to):
        return "opted-out"
    if _cooling_down(flow, call, to, store, now):
        return "cooldown"
    return None


def _landline(to: str, store: Store) -> bool:
    """A fixed line by its numbering plan, or a number Twilio refused as a landline."""
    return line_type(to) is LineType.FIXED_LINE or store.known_landline(to)


def _cooling_down(flow: Flow, call: Call, to: str, store: Store, now: datetime) -> bool:
    if flow.sms.cooldown == 0:
        return False
    last = store.last_text_to(call.line, to)
    return last is not None and now - last < timedelta(seconds=flow.sms.cooldown)


def _sender(flow: Flow, call: Call, to: str) -> str:
    """The flow's sender; the line itself where an alphanumeric ID cannot reach the caller."""
    sender = flow.sms.sender
    if sender is None:
        return call.line
    if is_alphanumeric_sender(sender) and not accepts_alphanumeric_sender(to):
        return call.line
    return sender


def render_copy(flow: Flow, call: Call, action: Action, now: datetime) -> str:
    """The step's copy with this call's values filled in."""
    options = action.step.sms
    # Inline text was compiled at load under the step's own address.
    template = flow.copy[options.copy_ or action.key]
    started = call.started_at.astimezone(flow.tz)
    values = {
        "business": flow.business,
        "caller": call.caller,
        "line": call.line,
        "trigger": call.trigger,
        "local_time": started.strftime("%H:%M"),
        # searching the schedule is the costliest part of a text: only for copy that says it
        "opens_at": flow.schedule.opens_at(started) if "opens_at" in template.names else "",
        "call_id": call.call_sid,
    }
    return template.render(values)
