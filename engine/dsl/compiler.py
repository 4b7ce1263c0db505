"""Compiling a flow file: load → validate → link, each phase a short function.

- load: YAML text into plain data with positions (`engine.dsl.loader`);
- validate: the pydantic model checks every value (`engine.dsl.model`); its errors become
  problems at the author's line and column;
- link: names resolved (greetings, copy), copy compiled, hours read, the schedule built,
  each step given its address.

Every problem in a file is collected and reported at once, in line order; a file with any
error is refused as a whole (`FlowError`).
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path as FilePath
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from engine.dsl import model as m
from engine.dsl.flow import FALLBACKS, Action, Flow
from engine.dsl.hours import parse_days, parse_hours
from engine.dsl.loader import Loaded, Path, load_text
from engine.errors import FlowError, Problem
from engine.flows.schedule import Schedule
from engine.sms.copy import CopyError, Template, compile_copy

__all__ = ["check_names", "compile_file", "compile_text", "walk_steps"]


def compile_file(path: FilePath | str) -> Flow:
    """Compile `flows/salon-belle.yaml` into the flow `salon-belle`, or raise FlowError."""
    file = FilePath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(1, 1, str(path), "unreadable", f"cannot read the file: {exc}")
        raise FlowError(str(path), [problem]) from None
    return compile_text(text, str(path), flow_id=file.name.removesuffix(".yaml"))


def compile_text(text: str, path: str, flow_id: str) -> Flow:
    """Compile a flow from its YAML text; `path` is only used in messages."""
    loaded = load_text(text, path)
    if not isinstance(loaded.data, dict):
        found = type(loaded.data).__name__ if loaded.data is not None else "an empty file"
        message = f"a flow file is a mapping of keys such as line, business and on, got {found}"
        raise FlowError(path, [_problem(loaded, (), "not-a-mapping", message)])
    problems = check_names(loaded)
    try:
        flow_model = validate(loaded)
    except FlowError as error:
        raise FlowError(path, _unique([*error.problems, *problems])) from None
    if problems:
        raise FlowError(path, _unique(problems))
    return link(loaded, flow_model, flow_id, hashlib.sha256(text.encode()).hexdigest()[:16])


def validate(loaded: Loaded) -> m.FlowModel:
    """Check every value against the model; raise FlowError with all problems found."""
    region = loaded.data.get("region")
    context = {"region": region.upper() if isinstance(region, str) else None}
    try:
        return m.FlowModel.model_validate(loaded.data, context=context)
    except ValidationError as exc:
        problems = [_from_pydantic(loaded, error) for error in exc.errors()]
        raise FlowError(loaded.path, _unique(problems)) from None


def check_names(loaded: Loaded) -> list[Problem]:
    """The link phase's checks, run on the author's data so they need no valid model.

    Greeting and copy names, copy templates, `goto` targets and cycles, `reject` placement
    and the schedule's own rules: a file with a bad timeout still hears about its unknown
    greeting in the same report.
    """
    problems: list[Problem] = []
    problems += _copy_problems(loaded)
    problems += _schedule_problems(loaded)
    for where, step in walk_steps(loaded.data):
        problems += _step_problems(loaded, where, step)
    problems += _goto_cycles(loaded)
    return problems


def link(loaded: Loaded, flow: m.FlowModel, flow_id: str, digest: str) -> Flow:
    """Resolve names, compile copy and the schedule; `check_names` found every problem."""
    copy = {name: compile_copy(source) for name, source in flow.sms.copy_.items()}
    schedule = _schedule(flow)
    sequences, actions = _link_steps(loaded, flow, copy)
    triggers = {str(trigger): sequences[f"on.{trigger}"] for trigger in flow.on}
    return Flow(
        id=flow_id,
        path=loaded.path,
        lines=tuple(flow.line),
        business=flow.business,
        region=flow.region,
        tz=schedule.tz,
        schedule=schedule,
        sms=flow.sms,
        copy=copy,
        triggers=triggers,
        digest=digest,
        actions=actions,
        sequences=sequences,
    )


# --- link checks on the author's data ------------------------------------------------


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
    if name == "reject" and where[-1] != 0:
        message = (
            "reject must be the first step of a trigger: a call already answered "
            "cannot be rejected"
        )
        return [_problem(loaded, (*where, "reject"), "reject-not-first", message)]
    return []


def _greeting_problems(loaded: Loaded, where: Path, name: Any) -> list[Problem]:
    greetings = loaded.data.get("greetings")
    defined = greetings if isinstance(greetings, dict) else {}
    if not isinstance(name, str) or name in defined:
        return []
    known = _suggest(name, defined) or _listing(defined, "greetings")
    message = f"greeting '{name}' is not defined under greetings{known}"
    return [_problem(loaded, where, "unknown-greeting", message)]


def _sms_problems(loaded: Loaded, where: Path, value: Any) -> list[Problem]:
    options = m._sms_shorthand(value)
    if not isinstance(options, dict):
        return []
    name, text = options.get("copy"), options.get("text")
    if isinstance(text, str):
        return _template_problems(loaded, where if isinstance(value, str) else (*where, "text"),
                                  "sms text", text)
    sms = loaded.data.get("sms")
    copy = sms.get("copy") if isinstance(sms, dict) else None
    defined = copy if isinstance(copy, dict) else {}
    if not isinstance(name, str) or name in defined:
        return []
    known = _suggest(name, defined) or _listing(defined, "sms.copy")
    message = (
        f"sms copy '{name}' is not defined under sms.copy{known}; "
        f"to send it as it is, write sms: {{text: {name}}}"
    )
    return [_problem(loaded, where, "unknown-copy", message)]


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
        return [_problem(loaded, where, "bad-copy", f"{label} {exc}")]
    return []


def _handled(on: Any, trigger: str) -> str | None:
    """The trigger whose steps run for `trigger`, after the language's fallbacks."""
    while not (isinstance(on, dict) and trigger in on):
        if trigger not in FALLBACKS:
            return None
        trigger = FALLBACKS[trigger]
    return trigger


def _goto_problems(loaded: Loaded, where: Path, target: Any) -> list[Problem]:
    if target not in m.TRIGGERS or _handled(loaded.data.get("on"), target) is not None:
        return []
    defined = ", ".join(str(t) for t in loaded.data.get("on") or ()) or "none"
    message = f"goto '{target}' names a trigger this flow does not handle (handled: {defined})"
    return [_problem(loaded, where, "unknown-goto", message)]


def _goto_cycles(loaded: Loaded) -> list[Problem]:
    """A `goto` that leads back to its own trigger would run forever: one problem per cycle."""
    on = loaded.data.get("on")
    edges: dict[str, list[tuple[str, Path]]] = {}
    for where, step in walk_steps(loaded.data):
        if isinstance(step, dict) and list(step) == ["goto"] and step["goto"] in m.TRIGGERS:
            target = _handled(on, str(step["goto"]))
            if target is not None:
                edges.setdefault(str(where[1]), []).append((target, (*where, "goto")))
    problems = []
    for trigger in edges:
        cycle = _cycle_from(trigger, edges)
        if cycle and min(cycle[:-1]) == trigger:
            route = " → ".join(cycle)
            where = next(p for t, p in edges[cycle[-2]] if t == cycle[-1])
            message = f"goto makes a loop: {route}; a call would never end"
            problems.append(_problem(loaded, where, "goto-cycle", message))
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


def _schedule_problems(loaded: Loaded) -> list[Problem]:
    data, problems = loaded.data, []
    hours = data.get("hours")
    if isinstance(hours, dict) and all(isinstance(v, str) for v in hours.values()):
        entries = [(str(k), v) for k, v in hours.items()]
        for p in parse_hours(entries)[1]:
            where = ("hours", entries[p.index][0])
            problems.append(_problem(loaded, where, p.code, p.message, key=p.field == "key"))
    weekend = data.get("weekend")
    if isinstance(weekend, list) and all(isinstance(d, str) for d in weekend):
        for p in parse_days(weekend)[1]:
            problems.append(_problem(loaded, ("weekend", p.index), p.code, p.message))
    holidays = data.get("holidays")
    country = holidays.get("country") if isinstance(holidays, dict) else None
    error = Schedule.check_country(country) if isinstance(country, str) else None
    if error:
        problems.append(_problem(loaded, ("holidays", "country"), "bad-country", error))
    return problems


# --- linking a valid model -------------------------------------------------------------


def _schedule(flow: m.FlowModel) -> Schedule:
    hours = parse_hours(list(flow.hours.items()))[0] if flow.hours is not None else None
    weekend = parse_days(flow.weekend)[0] if flow.weekend is not None else frozenset({5, 6})
    country = flow.holidays.country if flow.holidays else None
    dates = frozenset(flow.holidays.dates) if flow.holidays else frozenset()
    return Schedule(ZoneInfo(flow.timezone or "UTC"), hours, weekend, country, dates)


def _link_steps(
    loaded: Loaded, flow: m.FlowModel, copy: dict[str, Template]
) -> tuple[dict[str, tuple[Action, ...]], dict[str, Action]]:
    """Every step list of the flow by its address (`on.open`, `on.open.1.dial.on.missed`),
    each `goto` replaced by the steps it continues with, and every step by its key."""
    written: dict[str, tuple[Action, ...]] = {}
    actions: dict[str, Action] = {}
    for trigger, steps in flow.on.items():
        _link_list(loaded, flow, copy, ("on", trigger), steps, written, actions)
    expanded: dict[str, tuple[Action, ...]] = {}
    for address in written:
        expanded[address] = _expand(flow, written, address, expanded)
    return expanded, actions


def _link_list(
    loaded: Loaded, flow: m.FlowModel, copy: dict[str, Template], where: Path,
    steps: Sequence[Any], written: dict[str, tuple[Action, ...]], actions: dict[str, Action],
) -> None:
    linked = []
    for index, step in enumerate(steps):
        path: Path = (*where, index)
        key = ".".join(map(str, path))
        action = Action(key, loaded.positions.of(path)[0], _resolve(flow, copy, key, step))
        linked.append(action)
        actions[key] = action
        for inner, more in _typed_lists(step):
            _link_list(loaded, flow, copy, (*path, *inner), more, written, actions)
    written[".".join(map(str, where))] = tuple(linked)


def _typed_lists(step: Any) -> Iterator[tuple[Path, Sequence[Any]]]:
    if isinstance(step, m.DialStep):
        for outcome, steps in step.dial.on.items():
            yield ("dial", "on", outcome), steps
    if isinstance(step, m.MenuStep):
        for digit, steps in step.menu.options.items():
            yield ("menu", "options", digit), steps
        yield ("menu", "default"), step.menu.default


def _expand(
    flow: m.FlowModel, written: dict[str, tuple[Action, ...]], address: str,
    expanded: dict[str, tuple[Action, ...]],
) -> tuple[Action, ...]:
    """A step list with its `goto` replaced by the target trigger's steps (no cycles here)."""
    if address in expanded:
        return expanded[address]
    result: list[Action] = []
    for action in written[address]:
        if isinstance(action.step, m.GotoStep):
            target = _handled(flow.on, action.step.goto)
            assert target is not None, "check_names refuses a goto to an unhandled trigger"
            result.extend(_expand(flow, written, f"on.{target}", expanded))
            break
        result.append(action)
    return tuple(result)


def _resolve(flow: m.FlowModel, copy: dict[str, Template], key: str, step: Any) -> Any:
    """A step ready to run: a greeting becomes its say or play, inline copy is compiled."""
    if isinstance(step, m.GreetingStep):
        return flow.greetings[step.greeting].as_step()
    if isinstance(step, m.MenuStep) and isinstance(step.menu.prompt, m.GreetingStep):
        prompt = flow.greetings[step.menu.prompt.greeting].as_step()
        return step.model_copy(update={"menu": step.menu.model_copy(update={"prompt": prompt})})
    if isinstance(step, m.SmsStep) and step.sms.text:
        copy[key] = compile_copy(step.sms.text)
    return step


def _listing(names: Any, where: str) -> str:
    return f" (defined: {', '.join(names)})" if names else f" (no {where} are defined)"


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f": did you mean '{close[0]}'?" if close else ""


def _problem(
    loaded: Loaded, where: Path, code: str, message: str, *, key: bool = False
) -> Problem:
    line, column = loaded.positions.of(where, key=key)
    source = loaded.positions.line_text(line)
    return Problem(line, column, loaded.path, code, message, source=source)


def _unique(problems: Sequence[Problem]) -> list[Problem]:
    seen: set[tuple[int, int, str]] = set()
    kept = []
    for p in problems:
        if (p.line, p.column, p.message) not in seen:
            seen.add((p.line, p.column, p.message))
            kept.append(p)
    return kept


# --- pydantic errors as an author reads them ------------------------------------------

_EXPECTED = {
    "string_type": "a text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping of keys",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "list_type": "a list",
    "date_type": "a date such as 2026-12-24",
    "date_from_datetime_parsing": "a date such as 2026-12-24",
    "date_parsing": "a date such as 2026-12-24",
    "string_pattern_mismatch": "a name of letters, digits, '_', '.' and '-'",
    "too_short": "at least one entry",
    "too_long": "fewer entries",
}


def _data_path(data: Any, loc: Sequence[Any]) -> tuple[Path, list[Any]]:
    """Follow a pydantic location through the author's data.

    Parts that are not in the data (union tags, a shorthand widened to options, a missing
    key) are returned as the rest, so the problem points at the nearest thing written.
    """
    path: list[str | int] = []
    rest: list[Any] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            path.append(part)
            current = current[part]
        else:
            rest.append(part)
    return tuple(path), rest


def _label(path: Path) -> str:
    """`("on", "open", 1, "dial", "timeout")` → `dial.timeout`."""
    names: list[str] = []
    for part in reversed(path):
        if isinstance(part, int):
            break
        names.insert(0, str(part))
    if names and path and path[0] == "on" and len(path) == 2:
        return f"on.{names[-1]}"
    if names:
        return ".".join(names)
    if len(path) >= 2:
        return f"{_label(path[:-1])} entry {int(path[-1]) + 1}"
    return "the step"


def _from_pydantic(loaded: Loaded, error: Any) -> Problem:
    kind, loc, value = error["type"], error["loc"], error.get("input")
    path, rest = _data_path(loaded.data, loc)
    for handler in (_unknown_key, _missing_key, _bad_step, _bad_trigger, _bad_map_key):
        found = handler(loaded, kind, path, rest, value)
        if found:
            return found
    label = _label(path) if path else "the flow"
    if kind == "missing-timezone":
        where = next((k,) for k in ("hours", "holidays", "weekend") if k in loaded.data)
        return _problem(loaded, where, kind, error["msg"], key=True)
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == m.DIGIT:
        message = f"{label} must be one key of the keypad (0 to 9, * or #), got {m._shown(value)}"
        return _problem(loaded, path, f"bad-{_kebab(path)}", message)
    if kind in _EXPECTED:
        message = f"{label} must be {_EXPECTED[kind]}, got {m._shown(value)}"
        return _problem(loaded, path, f"bad-{_kebab(path)}", message)
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        message = f"{label} must be one of {expected}, got {m._shown(value)}"
        return _problem(loaded, path, f"bad-{_kebab(path)}", message)
    message = f"{label} {error['msg']}" if kind[0].islower() and "-" in kind else (
        f"{label}: {error['msg'][0].lower()}{error['msg'][1:]}"
    )
    return _problem(loaded, path, kind if "-" in kind else f"bad-{_kebab(path)}", message)


def _kebab(path: Path) -> str:
    names = [str(p) for p in path if isinstance(p, str)]
    return (names[-1] if names else "flow").replace("_", "-")


def _unknown_key(
    loaded: Loaded, kind: str, path: Path, rest: list[Any], value: Any
) -> Problem | None:
    if kind != "extra_forbidden":
        return None
    key, parent = str(path[-1]), path[:-1]
    known = _known_keys(loaded.data, parent)
    where = f" in {_label(parent)}" if parent else ""
    message = f"unknown key '{key}'{where}{_suggest(key, known)}"
    if known and not _suggest(key, known):
        message += f" (expected one of {', '.join(known)})"
    return _problem(loaded, path, "unknown-key", message, key=True)


def _missing_key(
    loaded: Loaded, kind: str, path: Path, rest: list[Any], value: Any
) -> Problem | None:
    if kind != "missing":
        return None
    missing = ".".join(str(p) for p in rest if isinstance(p, str) and p not in m.STEP_NAMES)
    missing = missing or str(rest[-1] if rest else "a value")
    owner = f"{_label(path)}." if path and not (len(path) == 3 and path[0] == "on") else ""
    if path and path[0] == "on" and len(path) >= 4:
        owner = f"{path[-1]}." if isinstance(path[-1], str) else ""
    return _problem(loaded, path, "missing-key", f"{owner}{missing} is required", key=True)


def _bad_step(
    loaded: Loaded, kind: str, path: Path, rest: list[Any], value: Any
) -> Problem | None:
    if kind not in ("bad-step", "union_tag_invalid", "union_tag_not_found"):
        return None
    names = ", ".join(m.STEP_NAMES)
    if isinstance(value, dict) and len(value) == 1:
        name = str(next(iter(value)))
        message = f"unknown step '{name}'{_suggest(name, m.STEP_NAMES)}"
        if not _suggest(name, m.STEP_NAMES):
            message += f" (the steps are {names})"
        return _problem(loaded, (*path, name), "unknown-step", message, key=True)
    if isinstance(value, dict):
        keys = ", ".join(str(k) for k in value)
        message = (
            f"a step is a mapping with one key, the step's name, got {len(value)} keys ({keys}); "
            "indent a step's options under its name"
        )
        return _problem(loaded, path, "bad-step", message)
    message = (
        f'a step is a mapping such as say: "Hello", got {m._shown(value)} (the steps are {names})'
    )
    return _problem(loaded, path, "bad-step", message)


def _bad_trigger(
    loaded: Loaded, kind: str, path: Path, rest: list[Any], value: Any
) -> Problem | None:
    if not (path[:1] == ("on",) and len(path) <= 2 and "[key]" in rest):
        return None
    name = str(path[1]) if len(path) > 1 else str(value)
    message = f"unknown trigger '{name}'{_suggest(name, m.TRIGGERS)}"
    if not _suggest(name, m.TRIGGERS):
        message += f" (the triggers are {', '.join(m.TRIGGERS)})"
    return _problem(loaded, ("on", name), "unknown-trigger", message, key=True)


def _bad_map_key(
    loaded: Loaded, kind: str, path: Path, rest: list[Any], value: Any
) -> Problem | None:
    """A key that is not one of its mapping's choices: a menu's digit, a dial's outcome."""
    if "[key]" not in rest or len(path) < 2:
        return None
    owner, key = _label(path[:-1]), path[-1]
    if owner.endswith("dial.on"):
        message = (
            f"{owner} has '{key}', which is not a dial outcome: expected busy, missed or failed"
        )
        return _problem(loaded, path, "bad-outcome", message, key=True)
    message = f"{owner} has '{key}', which is not one key of the keypad: expected 0 to 9, * or #"
    return _problem(loaded, path, "bad-digit", message, key=True)


def _known_keys(data: Any, parent: Path) -> list[str]:
    """The keys allowed where `parent` points, for suggestions."""
    model = _model_at(parent, data)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(parent: Path, data: Any) -> type[BaseModel] | None:
    if not parent:
        return m.FlowModel
    last = parent[-1]
    step_options: dict[str, type[BaseModel]] = {
        "say": m.SayOptions, "play": m.PlayOptions, "dial": m.DialOptions, "sms": m.SmsOptions,
        "voicemail": m.VoicemailOptions, "menu": m.MenuOptions, "screen": m.ScreenOptions,
    }
    if len(parent) >= 4 and parent[0] == "on" and last in step_options:
        return step_options[str(last)]
    tops: dict[Path, type[BaseModel]] = {("sms",): m.SmsSettings, ("holidays",): m.Holidays}
    if parent in tops:
        return tops[parent]
    if len(parent) == 2 and parent[0] == "greetings":
        return m.Greeting
    return None


def iter_problems(error: FlowError) -> Iterator[Problem]:
    """The problems of a refused file, in line order."""
    yield from error.problems
