"""Which line of the flow file is behind each thing the simulator saw.

The engine's own URLs name the step they continue (`/voice/dial?flow=salon&step=on.open.1`),
so a `<Dial>`, `<Record>`, `<Gather>` or screening prompt points at its step exactly. A
`<Say>`, `<Play>`, `<Pause>`, `<Hangup>` or `<Reject>` carries no URL: it is matched by
what it says against the flow's steps, preferring the step written right after the one
matched last, then a step of the trigger the call is under, then any step. A verb that
matches no step (the engine's own apology) has no line.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from engine.dsl.flow import Action, Flow

__all__ = ["Lines"]

_PRESS = re.compile(r"\bpress\s+([0-9*#])", re.IGNORECASE)


class Lines:
    """Step lines of one flow (none when the simulator has no flow file)."""

    def __init__(self, flow: Flow | None) -> None:
        self.flow = flow
        self.last: str | None = None

    def action(self, url: str | None) -> Action | None:
        """The step an engine URL continues: `…?step=on.open.1` → the action `on.open.1`."""
        if not url or self.flow is None:
            return None
        key = parse_qs(urlsplit(url).query).get("step", [""])[0]
        found = self.flow.actions.get(key)
        if found is not None:
            self.last = found.key
        return found

    def of_url(self, url: str | None) -> int | None:
        action = self.action(url)
        return action.line if action else None

    def of_step(self, key: str) -> int | None:
        action = self.flow.actions.get(key) if self.flow else None
        return action.line if action else None

    def new_document(self) -> None:
        """A fresh document starts: the next verb need not follow the last matched step."""
        self.last = None

    def of_verb(self, kind: str, content: str, trigger: str) -> int | None:
        """The line of a verb without a URL, found by what it says (see the module)."""
        if self.flow is None:
            return None
        found = [a for a in self.flow.actions.values() if _content(a) == (kind, content)]
        chosen = _after(found, self.last) or _within(found, trigger) or found[:1]
        if not chosen:
            return None
        self.last = chosen[0].key
        return chosen[0].line

    def fallback(self, trigger: str) -> str:
        """`" (runs the steps of missed)"` for a trigger the flow leaves to another."""
        handled = self.flow.handler(trigger) if self.flow else None
        if handled is None or handled[0] == trigger:
            return ""
        return f" (runs the steps of {handled[0]})"

    def screens(self, url: str | None) -> bool | None:
        """Whether the dial behind an engine URL screens; None when unknown."""
        action = self.action(url)
        dial = getattr(action.step, "dial", None) if action else None
        return None if dial is None else getattr(dial, "screen", None) is not None

    def screen_digit(self, url: str | None, prompt: str) -> str:
        """The key a person presses to take a screened call: the flow's, else the one the
        prompt asks for ("press 1"), else 1."""
        action = self.action(url)
        screen = getattr(getattr(action.step, "dial", None), "screen", None) if action else None
        digit = getattr(screen, "digit", None)
        if digit:
            return str(digit)
        asked = _PRESS.search(prompt)
        return asked.group(1) if asked else "1"


def _content(action: Action) -> tuple[str, str] | None:
    """What a step makes Twilio do, in the terms a TwiML verb is matched by."""
    step = action.step
    name = action.name
    if name == "say":
        return ("say", " ".join(step.say.text.split()))
    if name == "play":
        return ("play", step.play.audio.rsplit("/", 1)[-1])
    if name == "pause":
        return ("pause", str(step.pause))
    if name == "hangup":
        return ("hangup", "")
    if name == "reject":
        return ("reject", str(step.reject))
    return None


def _after(found: list[Action], last: str | None) -> list[Action]:
    """The candidate written right after `last`, in the same list of steps."""
    if last is None:
        return []
    parent = last.rpartition(".")[0]
    later = [
        a for a in found
        if a.key.rpartition(".")[0] == parent and _index(a.key) > _index(last)
    ]
    return sorted(later, key=lambda a: _index(a.key))[:1]


def _within(found: list[Action], trigger: str) -> list[Action]:
    return [a for a in found if a.key.startswith(f"on.{trigger}.")][:1]


def _index(key: str) -> int:
    tail = key.rpartition(".")[2]
    return int(tail) if tail.isdigit() else -1
