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
from engine.dsl.flow import Action, Flow
from engine.dsl.hours import parse_days, parse_hours
from engine.dsl.loader import Loaded, Path, load_text
from engine.errors import FlowError, Problem
from engine.flows.schedule import Schedule
from engine.sms.copy import CopyError, Template, compile_copy

__all__ = ["compile_file", "compile_text"]


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
    flow_model = validate(loaded)
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


def link(loaded: Loaded, flow: m.FlowModel, flow_id: str, digest: str) -> Flow:
    """Resolve names, compile copy and the schedule; raise FlowError on what does not fit."""
    problems: list[Problem] = []
    copy = _link_copy(loaded, flow, problems)
    schedule = _link_schedule(loaded, flow, problems)
    triggers, actions = _link_steps(loaded, flow, copy, problems)
    if problems:
        raise FlowError(loaded.path, problems)
    assert schedule is not None
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
    )


def _link_copy(loaded: Loaded, flow: m.FlowModel, problems: list[Problem]) -> dict[str, Template]:
    copy: dict[str, Template] = {}
    for name, source in flow.sms.copy_.items():
        try:
            copy[name] = compile_copy(source)
        except CopyError as exc:
            problems.append(_problem(loaded, ("sms", "copy", name), "bad-copy", f"sms.copy.{name} {exc}"))
    return copy


def _link_schedule(loaded: Loaded, flow: m.FlowModel, problems: list[Problem]) -> Schedule | None:
    hours = None
    if flow.hours is not None:
        entries = list(flow.hours.items())
        hours, found = parse_hours(entries)
        for p in found:
            where = ("hours", entries[p.index][0])
            problems.append(_problem(loaded, where, p.code, p.message, key=p.field == "key"))
    weekend = frozenset({5, 6})
    if flow.weekend is not None:
        weekend, found = parse_days(flow.weekend)
        for p in found:
            problems.append(_problem(loaded, ("weekend", p.index), p.code, p.message))
    country, dates = None, frozenset()
    if flow.holidays is not None:
        country, dates = flow.holidays.country, frozenset(flow.holidays.dates)
        error = Schedule.check_country(country) if country else None
        if error:
            problems.append(_problem(loaded, ("holidays", "country"), "bad-country", error))
            country = None
    tz = ZoneInfo(flow.timezone or "UTC")
    return Schedule(tz, hours, weekend, country, dates)


def _link_steps(
    loaded: Loaded, flow: m.FlowModel, copy: dict[str, Template], problems: list[Problem]
) -> tuple[dict[str, tuple[Action, ...]], dict[str, Action]]:
    triggers: dict[str, tuple[Action, ...]] = {}
    actions: dict[str, Action] = {}
    for trigger, steps in flow.on.items():
        linked = []
        for index, step in enumerate(steps):
            where: Path = ("on", trigger, index)
            resolved = _resolve(loaded, flow, copy, where, step, problems)
            action = Action(".".join(map(str, where)), loaded.positions.of(where)[0], resolved)
            linked.append(action)
            actions[action.key] = action
        triggers[trigger] = tuple(linked)
    return triggers, actions


def _resolve(
    loaded: Loaded,
    flow: m.FlowModel,
    copy: dict[str, Template],
    where: Path,
    step: Any,
    problems: list[Problem],
) -> Any:
    """A step with its names checked: a greeting becomes the say or play it stands for."""
    if isinstance(step, m.GreetingStep):
        greeting = flow.greetings.get(step.greeting)
        if greeting is None:
            known = _suggest(step.greeting, flow.greetings) or _listing(flow.greetings, "greetings")
            message = f"greeting '{step.greeting}' is not defined under greetings{known}"
            problems.append(_problem(loaded, (*where, "greeting"), "unknown-greeting", message))
            return step
        return greeting.as_step()
    if isinstance(step, m.SmsStep) and step.sms.copy_ and step.sms.copy_ not in flow.sms.copy_:
        name = step.sms.copy_
        known = _suggest(name, flow.sms.copy_) or _listing(flow.sms.copy_, "sms.copy")
        message = (
            f"sms copy '{name}' is not defined under sms.copy{known}; "
            f"to send it as it is, write sms: {{text: {name}}}"
        )
        problems.append(_problem(loaded, (*where, "sms"), "unknown-copy", message))
    if isinstance(step, m.SmsStep) and step.sms.text:
        try:
            copy[".".join(map(str, where))] = compile_copy(step.sms.text)
        except CopyError as exc:
            problems.append(_problem(loaded, (*where, "sms"), "bad-copy", f"sms text {exc}"))
    if isinstance(step, m.RejectStep) and where[-1] != 0:
        message = "reject must be the first step of a trigger: a call already answered cannot be rejected"
        problems.append(_problem(loaded, (*where, "reject"), "reject-not-first", message))
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
    for handler in (_unknown_key, _missing_key, _bad_step, _bad_trigger):
        found = handler(loaded, kind, path, rest, value)
        if found:
            return found
    label = _label(path) if path else "the flow"
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


def _unknown_key(loaded: Loaded, kind: str, path: Path, rest: list[Any], value: Any) -> Problem | None:
    if kind != "extra_forbidden":
        return None
    key, parent = str(path[-1]), path[:-1]
    known = _known_keys(loaded.data, parent)
    where = f" in {_label(parent)}" if parent else ""
    message = f"unknown key '{key}'{where}{_suggest(key, known)}"
    if known and not _suggest(key, known):
        message += f" (expected one of {', '.join(known)})"
    return _problem(loaded, path, "unknown-key", message, key=True)


def _missing_key(loaded: Loaded, kind: str, path: Path, rest: list[Any], value: Any) -> Problem | None:
    if kind != "missing":
        return None
    missing = ".".join(str(p) for p in rest if isinstance(p, str) and p not in m.STEP_NAMES)
    missing = missing or str(rest[-1] if rest else "a value")
    owner = f"{_label(path)}." if path and not (len(path) == 3 and path[0] == "on") else ""
    if path and path[0] == "on" and len(path) >= 4:
        owner = f"{path[-1]}." if isinstance(path[-1], str) else ""
    return _problem(loaded, path, "missing-key", f"{owner}{missing} is required", key=True)


def _bad_step(loaded: Loaded, kind: str, path: Path, rest: list[Any], value: Any) -> Problem | None:
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
    message = f"a step is a mapping such as say: \"Hello\", got {m._shown(value)} (the steps are {names})"
    return _problem(loaded, path, "bad-step", message)


def _bad_trigger(loaded: Loaded, kind: str, path: Path, rest: list[Any], value: Any) -> Problem | None:
    if not (path[:1] == ("on",) and "[key]" in rest):
        return None
    name = str(path[1]) if len(path) > 1 else str(value)
    message = f"unknown trigger '{name}'{_suggest(name, m.TRIGGERS)}"
    if not _suggest(name, m.TRIGGERS):
        message += f" (the triggers are {', '.join(m.TRIGGERS)})"
    return _problem(loaded, ("on", name), "unknown-trigger", message, key=True)


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
    step_options = {
        "say": m.SayOptions, "play": m.PlayOptions, "dial": m.DialOptions, "sms": m.SmsOptions,
        "voicemail": m.VoicemailOptions,
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
