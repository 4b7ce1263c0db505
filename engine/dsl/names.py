"""The link phase's checks, run on the author's plain data rather than on a valid model.

A name that does not resolve (a greeting, a copy, a `goto` target), a copy that is not a
template, a `goto` loop, a `reject` out of place, hours that cannot be read: each is found
here even when the model refused some other value in the file, so that one report lists
every problem of the file in line order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.dsl import model as m
from engine.dsl.flow import FALLBACKS
from engine.dsl.hours import parse_days, parse_hours
from engine.dsl.loader import Loaded, Path
from engine.dsl.problems import listing, problem, suggest
from engine.errors import Problem
from engine.flows.schedule import Schedule
from engine.sms.copy import CopyError, compile_copy

__all__ = ["check_names", "handled", "walk_steps"]


def check_names(loaded: Loaded) -> list[Problem]:
    """The link phase's checks, run on the author's data so they need no valid model.

    Greeting and copy names, copy templates, `goto` targets and cycles, `reject` placement
    and the schedule's own rules: a file with a bad timeout still hears about its unknown
    greeting in the same report.
    """
    problems: list[Problem] = []
    problems += _zone_problems(loaded)
    problems += _greeting_kind_problems(loaded)
    problems += _copy_problems(loaded)
    problems += _schedule_problems(loaded)
    for where, step in walk_steps(loaded.data):
        problems += _step_problems(loaded, where, step)
    problems += _goto_cycles(loaded)
    return problems


def walk_steps(data: Any, where: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every step of a flow's data with its path, nested steps (dial.on, menu) included."""
    if not where:
        on = data.get("on") if isinstance(data, dict) else None
        for trigger, steps in on.items() if isinstance(on, dict) else ():
            yield from walk_steps(steps, ("on", str(trigger)))
        return
    for index, step in enumerate(data if isinstance(data, list) else ()):
        yield (*where, index), step
        for inner, steps in _inner_lists(step):
            yield from walk_steps(steps, (*where, index, *inner))


def _inner_lists(step: Any) -> Iterator[tuple[Path, Any]]:
    """The step lists inside one step: a dial's `on` outcomes, a menu's options and default."""
    if not (isinstance(step, dict) and len(step) == 1):
        return
    name, options = next(iter(step.items()))
    if not isinstance(options, dict):
        return
    if name == "dial" and isinstance(options.get("on"), dict):
        for outcome, steps in options["on"].items():
            yield ("dial", "on", str(outcome)), steps
    if name == "menu" and isinstance(options.get("options"), dict):
        for digit, steps in options["options"].items():
            yield ("menu", "options", str(digit)), steps
    if name == "menu" and "default" in options:
        yield ("menu", "default"), options["default"]


def _step_problems(loaded: Loaded, where: Path, step: Any) -> list[Problem]:
    if not (isinstance(step, dict) and len(step) == 1):
        return []
    name, value = next(iter(step.items()))
    if name == "greeting":
        return _greeting_problems(loaded, (*where, "greeting"), value)
    if name == "menu" and isinstance(value, dict) and isinstance(value.get("prompt"), dict):
        prompt = value["prompt"]
        return _greeting_problems(loaded, (*where, "menu", "prompt", "greeting"),
                                  prompt.get("greeting"))
    if name == "sms":
        return _sms_problems(loaded, (*where, "sms"), value)
    if name == "goto":
        return _goto_problems(loaded, (*where, "goto"), value)
    if name == "reject" and (len(where) != 3 or where[-1] != 0):
        message = (
            "reject must be the first step of a trigger: a call already answered "
            "cannot be rejected"
        )
        return [problem(loaded, (*where, "reject"), "reject-not-first", message)]
    return []


def _greeting_problems(loaded: Loaded, where: Path, name: Any) -> list[Problem]:
    greetings = loaded.data.get("greetings")
    defined = greetings if isinstance(greetings, dict) else {}
    if not isinstance(name, str) or name in defined:
        return []
    known = suggest(name, defined) or listing(defined, "greetings")
    message = f"greeting '{name}' is not defined under greetings{known}"
    return [problem(loaded, where, "unknown-greeting", message)]


def _greeting_kind_problems(loaded: Loaded) -> list[Problem]:
    """Each greeting is a say or a play, never both: checked on the raw data so that it is
    reported beside a bad value in the same greeting (a model validator would wait)."""
    greetings = loaded.data.get("greetings")
    problems = []
    for name, greeting in greetings.items() if isinstance(greetings, dict) else ():
        if not isinstance(greeting, dict):
            continue
        say, play = greeting.get("say"), greeting.get("play")
        if (say is None) == (play is None):
            message = f"greetings.{name} must have exactly one of 'say' or 'play'"
        elif play is not None and (greeting.get("voice") or greeting.get("language")):
            message = f"greetings.{name} 'voice' and 'language' go with 'say', not 'play'"
        else:
            continue
        problems.append(problem(loaded, ("greetings", str(name)), "bad-greeting", message))
    return problems


def _sms_problems(loaded: Loaded, where: Path, value: Any) -> list[Problem]:
    options = m._sms_shorthand(value)
    if not isinstance(options, dict):
        return []
    name, text = options.get("copy"), options.get("text")
    if (name is None) == (text is None):
        message = "sms needs exactly one of 'copy' (a name) or 'text'"
        return [problem(loaded, where, "bad-sms", message)]
    if isinstance(text, str):
        return _template_problems(loaded, where if isinstance(value, str) else (*where, "text"),
                                  "sms text", text)
    sms = loaded.data.get("sms")
    copy = sms.get("copy") if isinstance(sms, dict) else None
    defined = copy if isinstance(copy, dict) else {}
    if not isinstance(name, str) or name in defined:
        return []
    known = suggest(name, defined) or listing(defined, "sms.copy")
    message = (
        f"sms copy '{name}' is not defined under sms.copy{known}; "
        f"to send it as it is, write sms: {{text: {name}}}"
    )
    return [problem(loaded, where, "unknown-copy", message)]


def _copy_problems(loaded: Loaded) -> list[Problem]:
    sms = loaded.data.get("sms")
    copy = sms.get("copy") if isinstance(sms, dict) else None
    problems: list[Problem] = []
    for name, source in copy.items() if isinstance(copy, dict) else ():
        if isinstance(source, str):
            label = f"sms.copy.{name}"
            problems += _template_problems(loaded, ("sms", "copy", str(name)), label, source)
    reply = sms.get("reply") if isinstance(sms, dict) else None
    if isinstance(reply, str):
        problems += _template_problems(loaded, ("sms", "reply"), "sms.reply", reply)
    return problems


def _template_problems(loaded: Loaded, where: Path, label: str, source: str) -> list[Problem]:
    try:
        compile_copy(source)
    except CopyError as exc:
        return [problem(loaded, where, "bad-copy", f"{label} {exc}")]
    return []


def handled(on: Any, trigger: str) -> str | None:
    """The trigger whose steps run for `trigger`, after the language's fallbacks."""
    while not (isinstance(on, dict) and trigger in on):
        if trigger not in FALLBACKS:
            return None
        trigger = FALLBACKS[trigger]
    return trigger


def _goto_problems(loaded: Loaded, where: Path, target: Any) -> list[Problem]:
    if target not in m.TRIGGERS or handled(loaded.data.get("on"), target) is not None:
        return []
    defined = ", ".join(str(t) for t in loaded.data.get("on") or ()) or "none"
    message = f"goto '{target}' names a trigger this flow does not handle (handled: {defined})"
    return [problem(loaded, where, "unknown-goto", message)]


def _goto_cycles(loaded: Loaded) -> list[Problem]:
    """A `goto` that leads back to its own trigger would run forever: one problem per cycle."""
    on = loaded.data.get("on")
    edges: dict[str, list[tuple[str, Path]]] = {}
    for where, step in walk_steps(loaded.data):
        if isinstance(step, dict) and list(step) == ["goto"] and step["goto"] in m.TRIGGERS:
            target = handled(on, str(step["goto"]))
            if target is not None:
                edges.setdefault(str(where[1]), []).append((target, (*where, "goto")))
    problems = []
    for trigger in edges:
        cycle = _cycle_from(trigger, edges)
        if cycle and min(cycle[:-1]) == trigger:
            route = " → ".join(cycle)
            where = next(p for t, p in edges[cycle[-2]] if t == cycle[-1])
            message = f"goto makes a loop: {route}; a call would never end"
            problems.append(problem(loaded, where, "goto-cycle", message))
    return problems


def _cycle_from(start: str, edges: dict[str, list[tuple[str, Path]]]) -> list[str] | None:
    """The triggers of a route from `start` back to `start`, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        trigger, route = stack.pop()
        for target, _ in edges.get(trigger, []):
            if target == start:
                return [*route, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*route, target]))
    return None


def _zone_problems(loaded: Loaded) -> list[Problem]:
    """A schedule needs a zone: checked here, not in the model, so that it is reported
    beside every other problem of the file rather than only once they are all fixed."""
    data = loaded.data
    if data.get("timezone") is not None:
        return []
    used = next((key for key in ("hours", "holidays", "weekend") if data.get(key)), None)
    if used is None:
        return []
    message = (
        "timezone is required with hours, holidays or weekend, "
        "for example timezone: Europe/Warsaw"
    )
    return [problem(loaded, (used,), "missing-timezone", message, key=True)]


def _schedule_problems(loaded: Loaded) -> list[Problem]:
    data, problems = loaded.data, []
    hours = data.get("hours")
    if isinstance(hours, dict) and all(isinstance(v, str) for v in hours.values()):
        entries = [(str(k), v) for k, v in hours.items()]
        for p in parse_hours(entries)[1]:
            where = ("hours", entries[p.index][0])
            problems.append(problem(loaded, where, p.code, p.message, key=p.field == "key"))
    weekend = data.get("weekend")
    if isinstance(weekend, list) and all(isinstance(d, str) for d in weekend):
        for p in parse_days(weekend)[1]:
            problems.append(problem(loaded, ("weekend", p.index), p.code, p.message))
    holidays = data.get("holidays")
    country = holidays.get("country") if isinstance(holidays, dict) else None
    error = Schedule.check_country(country) if isinstance(country, str) else None
    if error:
        problems.append(problem(loaded, ("holidays", "country"), "bad-country", error))
    return problems
