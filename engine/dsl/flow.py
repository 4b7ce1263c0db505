"""A compiled flow: what the engine keeps of a flow file once it has loaded and linked.

Everything a webhook needs is decided here, once, when the file loads: numbers in E.164,
greetings resolved into the steps they stand for, copy compiled, the schedule built, and
each step given a stable address (`on.open.1`) that the engine's own URLs and the store
use to say where a call is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.dsl.model import DialStep, SmsSettings
from engine.flows.schedule import Schedule
from engine.sms.copy import Template

__all__ = ["FALLBACKS", "Action", "Flow"]

# A trigger a flow does not handle falls back to another, as the language says.
FALLBACKS = {"holiday": "out_of_hours", "weekend": "out_of_hours", "failed": "missed"}


@dataclass(frozen=True, eq=False)
class Action:
    """One step of a flow, with its address in the file.

    `key` is the step's path in the file joined by dots (`on.open.1`); `line` is where the
    author wrote it. Actions compare by identity: a compiled flow's actions are unique.
    """

    key: str
    line: int
    step: Any

    @property
    def name(self) -> str:
        """The step's name: `say`, `dial`, `sms` …"""
        return str(next(iter(type(self.step).model_fields)))


@dataclass(frozen=True, eq=False)
class Flow:
    """A flow ready to answer calls. Compares by identity: a reload makes a new one."""

    id: str
    path: str
    lines: tuple[str, ...]
    business: str
    region: str | None
    tz: ZoneInfo
    schedule: Schedule
    sms: SmsSettings
    copy: Mapping[str, Template]
    triggers: Mapping[str, tuple[Action, ...]]
    digest: str
    actions: Mapping[str, Action] = field(default_factory=dict)
    sequences: Mapping[str, tuple[Action, ...]] = field(default_factory=dict)
    # Where each of `lines` is written: E.164 → (line, column, the author's line), so that
    # a number two files claim is pointed at in each file.
    line_at: Mapping[str, tuple[int, int, str]] = field(default_factory=dict)

    def after(self, key: str) -> tuple[Action, ...]:
        """The steps that follow the step `key` in its own list, `goto` followed.

        After `on.open.0` (a menu), the rest of `on.open`; empty for an unknown key.
        """
        address = key.rpartition(".")[0]
        steps = self.sequences.get(address, ())
        position = next((i for i, a in enumerate(steps) if a.key == key), None)
        return steps[position + 1 :] if position is not None else ()

    def outcome_steps(self, key: str, outcome: str) -> tuple[Action, ...] | None:
        """A dial's own steps for `busy`, `missed` or `failed` (failed falls back to
        missed), or None when the dial leaves it to the flow's triggers."""
        while f"{key}.dial.on.{outcome}" not in self.sequences:
            if outcome != "failed":
                return None
            outcome = "missed"
        return self.sequences[f"{key}.dial.on.{outcome}"]

    def handler(self, trigger: str) -> tuple[str, tuple[Action, ...]] | None:
        """The steps that run under `trigger`, after fallbacks, and the trigger they belong to.

        `weekend` without a handler runs `out_of_hours`; a trigger with neither gives None
        (the call ends politely, and nothing is sent).
        """
        while trigger not in self.triggers:
            if trigger not in FALLBACKS:
                return None
            trigger = FALLBACKS[trigger]
        return trigger, self.triggers[trigger]

    def starting_trigger(self, moment: datetime) -> str:
        """`open`, `holiday`, `weekend` or `out_of_hours` for a call at `moment`."""
        return self.schedule.trigger_at(moment)

    def first_number(self) -> str | None:
        """The first business number any `dial` of the flow rings: the emergency fallback."""
        for action in self.actions.values():
            if isinstance(action.step, DialStep):
                return action.step.dial.to[0]
        return None
