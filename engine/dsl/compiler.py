"""Compiling a flow file: load → validate → link, each phase a short function.

- load: YAML text into plain data with positions (`engine.dsl.loader`);
- validate: the pydantic model checks every value (`engine.dsl.model`); its errors become
  problems at the author's line and column;
- link: names checked on the author's data (`engine.dsl.names`, so they are reported
  beside the model's problems), then resolved on the valid model: greetings, copy, the
  schedule, every step list given its address and each `goto` replaced by its steps.

Every problem in a file is collected and reported at once, in line order; a file with any
error is refused as a whole (`FlowError`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path as FilePath
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, BaseModel, ValidationError

from engine.dsl import model as m
from engine.dsl.flow import Action, Flow
from engine.dsl.hours import parse_days, parse_hours
from engine.dsl.loader import Loaded, Path, load_text
from engine.dsl.names import check_names, handled, walk_steps
from engine.dsl.problems import problem, suggest, unique
from engine.errors import FlowError, Problem
from engine.flows.schedule import Schedule
from engine.sms.copy import Template, compile_copy

__all__ = ["check_names", "compile_file", "compile_text", "walk_steps"]


def compile_file(path: FilePath | str) -> Flow:
    """Compile `flows/salon-belle.yaml` into the flow `salon-belle`, or raise FlowError."""
    file = FilePath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(1, 1, str(path), "unreadable", f"cannot read the file: {exc}")
        raise FlowError(str(path), [problem]) from None
    try:
        return compile_text(text, str(path), flow_id=file.name.removesuffix(".yaml"))
    except FlowError:
        raise
    # A compiler bug, not the author's: still one bad file must never stop the rest loading.
    except Exception as exc:  # noqa: BLE001  # pragma: no cover
        message = f"the flow could not be compiled: {type(exc).__name__}: {exc}"
        raise FlowError(str(path), [Problem(1, 1, str(path), "compile-failed", message)]) from None


def compile_text(text: str, path: str, flow_id: str) -> Flow:
    """Compile a flow from its YAML text; `path` is only used in messages."""
    loaded = load_text(text, path)
    if not isinstance(loaded.data, dict):
        found = type(loaded.data).__name__ if loaded.data is not None else "an empty file"
        message = f"a flow file is a mapping of keys such as line, business and on, got {found}"
        raise FlowError(path, [problem(loaded, (), "not-a-mapping", message)])
    problems = check_names(loaded)
    try:
        flow_model = validate(loaded)
    except FlowError as error:
        raise FlowError(path, unique([*error.problems, *problems])) from None
    if problems:
        raise FlowError(path, unique(problems))
    return link(loaded, flow_model, flow_id, hashlib.sha256(text.encode()).hexdigest()[:16])


def validate(loaded: Loaded) -> m.FlowModel:
    """Check every value against the model; raise FlowError with all problems found."""
    region = loaded.data.get("region")
    context = {"region": region.upper() if isinstance(region, str) else None}
    try:
        return m.FlowModel.model_validate(loaded.data, context=context)
    except ValidationError as exc:
        problems = [_from_pydantic(loaded, error) for error in exc.errors()]
        raise FlowError(loaded.path, unique(problems)) from None


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
        line_at=_line_at(loaded, flow),
    )


def _line_at(loaded: Loaded, flow: m.FlowModel) -> dict[str, tuple[int, int, str]]:
    """Where each number of `line:` is written (a list's entries each at their own place)."""
    listed = isinstance(loaded.data.get("line"), list)
    found: dict[str, tuple[int, int, str]] = {}
    for index, number in enumerate(flow.line):
        line, column = loaded.positions.of(("line", index) if listed else ("line",))
        found.setdefault(number, (line, column, loaded.positions.line_text(line)))
    return found


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
            target = handled(flow.on, action.step.goto)
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
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == m.DIGIT:
        message = f"{label} must be one key of the keypad (0 to 9, * or #), got {m._shown(value)}"
        return problem(loaded, path, f"bad-{_kebab(path)}", message)
    if kind in ("too_short", "too_long"):
        size = error.get("ctx", {}).get("min_length" if kind == "too_short" else "max_length")
        bound = "at least" if kind == "too_short" else "at most"
        entries = "entry" if size == 1 else "entries"
        if rest and isinstance(rest[-1], str) and rest[-1] not in m.STEP_NAMES:
            label = f"{label}.{rest[-1]}"  # a shorthand widened: `dial: [...]` is dial.to
        message = f"{label} must have {bound} {size} {entries}, got {len(value)}"
        code = "bad-" + label.rsplit(".", 1)[-1].replace("_", "-")
        return problem(loaded, path, code, message)
    if kind in _EXPECTED:
        message = f"{label} must be {_EXPECTED[kind]}, got {m._shown(value)}"
        return problem(loaded, path, f"bad-{_kebab(path)}", message)
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        message = f"{label} must be one of {expected}, got {m._shown(value)}"
        return problem(loaded, path, f"bad-{_kebab(path)}", message)
    message = f"{label} {error['msg']}" if kind[0].islower() and "-" in kind else (
        f"{label}: {error['msg'][0].lower()}{error['msg'][1:]}"
    )
    return problem(loaded, path, kind if "-" in kind else f"bad-{_kebab(path)}", message)


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
    spellings = next((names for names in _spellings(parent, loaded.data) if key in names), None)
    if spellings:  # `play: {audio: a.mp3, file: b.mp3}`: one option written twice
        names = f"{', '.join(spellings[:-1])} or {spellings[-1]}"
        message = f"'{key}'{where} names the same option as {names}, given already: keep one"
        return problem(loaded, path, "duplicate-key", message, key=True)
    message = f"unknown key '{key}'{where}{suggest(key, known)}"
    if known and not suggest(key, known):
        message += f" (expected one of {', '.join(known)})"
    return problem(loaded, path, "unknown-key", message, key=True)


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
    return problem(loaded, path, "missing-key", f"{owner}{missing} is required", key=True)


def _bad_step(
    loaded: Loaded, kind: str, path: Path, rest: list[Any], value: Any
) -> Problem | None:
    if kind not in ("bad-step", "union_tag_invalid", "union_tag_not_found"):
        return None
    names = ", ".join(m.STEP_NAMES)
    if isinstance(value, dict) and len(value) == 1:
        name = str(next(iter(value)))
        message = f"unknown step '{name}'{suggest(name, m.STEP_NAMES)}"
        if not suggest(name, m.STEP_NAMES):
            message += f" (the steps are {names})"
        return problem(loaded, (*path, name), "unknown-step", message, key=True)
    if isinstance(value, dict):
        keys = ", ".join(str(k) for k in value)
        message = (
            f"a step is a mapping with one key, the step's name, got {len(value)} keys ({keys}); "
            "indent a step's options under its name"
        )
        return problem(loaded, path, "bad-step", message)
    message = (
        f'a step is a mapping such as say: "Hello", got {m._shown(value)} (the steps are {names})'
    )
    return problem(loaded, path, "bad-step", message)


def _bad_trigger(
    loaded: Loaded, kind: str, path: Path, rest: list[Any], value: Any
) -> Problem | None:
    if not (path[:1] == ("on",) and len(path) <= 2 and "[key]" in rest):
        return None
    name = str(path[1]) if len(path) > 1 else str(value)
    message = f"unknown trigger '{name}'{suggest(name, m.TRIGGERS)}"
    if not suggest(name, m.TRIGGERS):
        message += f" (the triggers are {', '.join(m.TRIGGERS)})"
    return problem(loaded, ("on", name), "unknown-trigger", message, key=True)


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
        return problem(loaded, path, "bad-outcome", message, key=True)
    message = f"{owner} has '{key}', which is not one key of the keypad: expected 0 to 9, * or #"
    return problem(loaded, path, "bad-digit", message, key=True)


def _known_keys(data: Any, parent: Path) -> list[str]:
    """The keys allowed where `parent` points, for suggestions."""
    return [key for names in _spellings(parent, data) for key in names]


def _spellings(parent: Path, data: Any) -> list[list[str]]:
    """Each option's accepted names where `parent` points: `[["audio", "file", "url"], …]`."""
    model = _model_at(parent, data)
    if model is None:
        return []
    names = []
    for name, field in model.model_fields.items():
        choices = field.validation_alias
        if isinstance(choices, AliasChoices):
            names.append([str(choice) for choice in choices.choices])
        else:
            names.append([field.alias or name])
    return names


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
