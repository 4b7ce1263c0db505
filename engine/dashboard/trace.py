"""The decision trace of a text: which trigger asked for it and which rule sent or skipped it.

The engine records one decision per `sms` step: pending (then sent) or skipped with one
reason. The rules run in the language's order (caller ID, landline, opt-out, cooldown)
and the first that refuses decides, so a recorded reason says which rules passed before
it and which were never looked at. This module spells that out for a person:

    trigger busy, step on.busy.1
    passed   caller ID: +48601111222 is a valid number
    refused  landline: send_to is mobile and this number is a fixed line
    -        opt-out: not checked
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Check", "trace"]

RULES = ("caller-id", "landline", "opted-out", "cooldown")
REASON_RULE = {"no-caller-id": "caller-id", "invalid-number": "caller-id",
               "landline": "landline", "opted-out": "opted-out", "cooldown": "cooldown"}


@dataclass(frozen=True)
class Check:
    """One line of a trace: the rule, its verdict (passed, refused, not checked), why."""

    rule: str
    verdict: str
    detail: str


def trace(text: Mapping[str, Any], sms: Any | None) -> list[Check]:
    """The checks behind one recorded decision; `sms` is the flow's `sms` settings if known.

    A text skipped as `cooldown` → caller ID, landline and opt-out passed, cooldown refused.
    """
    reason = text.get("reason") if text.get("status") == "skipped" else None
    if reason == "duplicate":
        return [Check("duplicate", "refused", "this call had already decided this text")]
    refused_at = REASON_RULE.get(reason or "", None)
    checks = []
    verdict = "passed"
    for rule in RULES:
        if rule == refused_at:
            checks.append(Check(rule, "refused", _refusal(rule, reason or "", text, sms)))
            verdict = "not checked"
            continue
        detail = _passed(rule, text, sms) if verdict == "passed" else ""
        checks.append(Check(rule, verdict, detail))
    return checks


def _refusal(rule: str, reason: str, text: Mapping[str, Any], sms: Any | None) -> str:
    if reason == "no-caller-id":
        return "the caller's number was withheld"
    if reason == "invalid-number":
        return f"{text.get('to_number') or 'the number'} is not a valid number"
    if rule == "landline":
        return "send_to is mobile and this number is a fixed line"
    if rule == "opted-out":
        return "the caller replied STOP to this line and has not opted back in"
    return f"this line already texted this number within {_cooldown(sms)}"


def _passed(rule: str, text: Mapping[str, Any], sms: Any | None) -> str:
    if rule == "caller-id":
        return f"{text.get('to_number')} is a valid number"
    if rule == "landline":
        send_to = getattr(sms, "send_to", None)
        return "send_to is any" if send_to == "any" else "not a known fixed line"
    if rule == "opted-out":
        return "the caller has not opted out of this line"
    return f"no text to this number from this line within {_cooldown(sms)}"


def _cooldown(sms: Any | None) -> str:
    seconds = getattr(sms, "cooldown", None)
    if seconds is None:
        return "the cooldown"
    if seconds == 0:
        return "the cooldown (off)"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"the cooldown ({seconds // size}{unit})"
    return f"the cooldown ({seconds}s)"
