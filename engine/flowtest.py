"""Flow tests: `*.test.yaml` files that play calls through a flow and pin what happened.

A file names a flow as `ringback simulate` takes FLOW (an id, a file path, or a line
number, E.164 or national in the flow's region) and lists cases; a case takes the options
of `ringback simulate`
(`at`, `from`, `outcome`, `hangup-after`, `digits`) and an `expect` block:

    flow: salon-belle
    cases:
      - name: a busy line on a Tuesday morning texts the booking link
        at: 2026-05-05T10:00
        from: "+48 601 234 567"
        outcome: busy
        expect:
          trigger: busy
          heard_contains: "with a client"
          sms:
            - {status: sent, body_contains: "belle.example/book", segments: 1}

`expect` checks `trigger`, `heard` (the exact list), `heard_contains` (text in something
heard), `dialed`, `ended_by` and `sms` (the texts in order, each by `status`, `reason`,
`to`, `from`, `body`, `body_contains`, `encoding`, `segments`). Only what is written is
checked. Every case plays on a fresh store, in this process.

A failing case prints its name and, side by side, what was expected and what happened;
the last line is `N passed, N failed`. A mistake in a test file is an error at its line
and column, like a flow file's, and fails the cases it touches.
"""

from __future__ import annotations

import asyncio
import difflib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from engine.dsl.compiler import compile_file
from engine.dsl.flow import Flow
from engine.dsl.loader import Loaded, load_text
from engine.dsl.loader import Path as KeyPath
from engine.errors import FlowError, Problem
from engine.flows.registry import FlowSet
from engine.phone import PhoneNumberError, to_e164
from engine.settings import Settings
from engine.simulator import (
    DEFAULT_CALLER,
    OUTCOMES,
    Call,
    Script,
    SimulationError,
    caller_number,
    local_moment,
    parse_digits,
    scratch_store,
    simulate,
)
from engine.store import Store

__all__ = ["Case", "Mismatch", "check", "flow_test_files", "run_tests"]

SUFFIX = ".test.yaml"
FILE_KEYS = ("flow", "cases")
# `hangup-after` as `simulate` spells it; `hangup_after` is kept as an alias.
CASE_KEYS = ("name", "at", "from", "outcome", "hangup-after", "hangup_after", "digits", "expect")
EXPECT_KEYS = ("trigger", "heard", "heard_contains", "dialed", "ended_by", "sms")
SMS_KEYS = ("status", "reason", "to", "from", "body", "body_contains", "encoding", "segments")
DIALED_KEYS = ("to", "status", "screened")
WIDE = 40


@dataclass
class Case:
    """One call to play and what it must show."""

    name: str
    path: str
    line: int
    script: Script
    expect: dict[str, Any]


@dataclass(frozen=True)
class Mismatch:
    """One expectation that did not hold: where in `expect`, what was written, what came."""

    what: str
    expected: Any
    actual: Any


@dataclass
class _File:
    """A test file read: its flow, its cases, and the problems found in it."""

    path: str
    flow: Flow | None = None
    cases: list[Case] = field(default_factory=list)
    broken: int = 0
    problems: list[Problem] = field(default_factory=list)


def flow_test_files(paths: Sequence[Path]) -> list[Path]:
    """The `*.test.yaml` files named, or found in the folders named, in name order."""
    found: list[Path] = []
    for path in paths:
        found += sorted(path.rglob(f"*{SUFFIX}")) if path.is_dir() else [path]
    return found


def run_tests(paths: Sequence[Path], settings: Settings, out: TextIO) -> int:
    """Run every case of the test files in `paths`; print as it goes; the exit code."""
    files = [_read(path, settings) for path in flow_test_files(paths)]
    if not files:
        print(f"no {SUFFIX} files in {', '.join(map(str, paths))}", file=out)
        return 1
    passed, failed = asyncio.run(_run_files(files, settings, out))
    print(f"{passed} passed, {failed} failed", file=out)
    return 1 if failed else 0


async def _run_files(files: list[_File], settings: Settings, out: TextIO) -> tuple[int, int]:
    async with scratch_store() as store:
        return await _run_on(store, files, settings, out)


async def _run_on(
    store: Store, files: list[_File], settings: Settings, out: TextIO
) -> tuple[int, int]:
    """Each case on `store`, which `simulate` empties first: a fresh store each."""
    passed = failed = 0
    for file in files:
        for problem in file.problems:
            print(problem.render(), file=out)
        failed += file.broken
        for case in file.cases:
            assert file.flow is not None
            mismatches, error = await _play(settings, file.flow, case, store)
            ok = not mismatches and error is None
            passed, failed = passed + ok, failed + (not ok)
            print(_verdict(case, mismatches, error), file=out)
    return passed, failed


async def _play(
    settings: Settings, flow: Flow, case: Case, store: Store
) -> tuple[list[Mismatch], str | None]:
    try:
        call = await simulate(settings, flow, case.script, store)
    except SimulationError as exc:
        return [], str(exc)
    return check(case.expect, call, flow.region), None


# --- reading a test file --------------------------------------------------------------


def _read(path: Path, settings: Settings) -> _File:
    file = _File(str(path))
    try:
        loaded = load_text(path.read_text(encoding="utf-8"), str(path))
    except FlowError as error:
        file.problems, file.broken = list(error.problems), 1
        return file
    except (OSError, UnicodeDecodeError) as exc:
        message = f"cannot read the test file: {exc}"
        file.problems, file.broken = [Problem(1, 1, str(path), "unreadable", message)], 1
        return file
    _read_file(loaded, path, settings, file)
    return file


def _read_file(loaded: Loaded, path: Path, settings: Settings, file: _File) -> None:
    data = loaded.data
    if not isinstance(data, dict):
        _problem(file, loaded, (), "not-a-mapping",
                 "a flow test file is a mapping with the keys flow and cases")
        file.broken = 1  # an empty file, or a list: nothing could be run, which is a failure
        return
    _unknown_keys(file, loaded, (), data, FILE_KEYS, "the test file")
    cases = data.get("cases")
    if not isinstance(cases, list) or not cases:
        _problem(file, loaded, ("cases",), "missing-key" if cases is None else "bad-cases",
                 "cases must be a list of cases, each with a name and an expect block")
        cases = []
    file.flow = _flow(file, loaded, path, settings)
    for index, raw in enumerate(cases):
        case = _case(file, loaded, index, raw)
        if case is None or file.flow is None:
            file.broken += 1
        else:
            file.cases.append(case)
    if file.problems and not file.broken:
        file.broken = 1  # a mistake in the file fails the run, even beside passing cases
    file.problems.sort()


def _flow(file: _File, loaded: Loaded, path: Path, settings: Settings) -> Flow | None:
    name = loaded.data.get("flow")
    if not isinstance(name, str) or not name.strip():
        _problem(file, loaded, ("flow",), "missing-key" if name is None else "bad-flow",
                 "flow must name the flow to test, such as flow: salon-belle")
        return None
    candidates = _flow_paths(name, path, settings)
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        # FLOW as `simulate` reads it: also a line number, E.164 or in a flow's region.
        served = _served(name, path, settings)
        if served is not None:
            return served
        where = ", ".join(str(p.parent) for p in candidates)
        _problem(file, loaded, ("flow",), "unknown-flow",
                 f"flow '{name}' not found: no {candidates[0].name} in {where}")
        return None
    try:
        return compile_file(found)
    except FlowError as error:
        file.problems += error.problems
        return None


def _served(name: str, path: Path, settings: Settings) -> Flow | None:
    """The flow of the flows folder (or the test file's parent folder) that `name` finds."""
    folders = dict.fromkeys([settings.flows, path.parent.parent, path.parent])
    for folder in folders:
        flow = FlowSet.load(folder).find(name)
        if flow is not None:
            return flow
    return None


def _flow_paths(name: str, path: Path, settings: Settings) -> list[Path]:
    """Where `flow: NAME` may be: the flows folder, the test file's parent, its folder."""
    if name.endswith(".yaml"):
        return [path.parent / name, Path(name)]
    file = f"{name}.yaml"
    return [settings.flows / file, path.parent.parent / file, path.parent / file]


def _case(file: _File, loaded: Loaded, index: int, raw: Any) -> Case | None:
    where: KeyPath = ("cases", index)
    if not isinstance(raw, dict):
        _problem(file, loaded, where, "bad-case", "a case is a mapping with a name and expect")
        return None
    before = len(file.problems)
    _unknown_keys(file, loaded, where, raw, CASE_KEYS, "a case")
    name = _text(file, loaded, (*where, "name"), raw.get("name"), required=True)
    script = _script(file, loaded, where, raw)
    expect = _expect(file, loaded, (*where, "expect"), raw.get("expect"))
    if len(file.problems) > before or script is None:
        return None
    line = loaded.positions.of(where)[0]
    return Case(name or f"case {index + 1}", file.path, line, script, expect)


def _script(file: _File, loaded: Loaded, where: KeyPath, raw: dict[str, Any]) -> Script | None:
    flow = file.flow
    region = flow.region if flow else None
    caller = _text(file, loaded, (*where, "from"), raw.get("from"), number=True)
    outcome = raw.get("outcome", "no-answer")
    if outcome not in OUTCOMES:
        _problem(file, loaded, (*where, "outcome"), "bad-outcome",
                 f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    return Script(
        caller=caller_number(caller or DEFAULT_CALLER, region),
        line=flow.lines[0] if flow else "",
        at=_at(file, loaded, (*where, "at"), raw.get("at")),
        outcome=str(outcome),
        hangup_after=_hangup_after(file, loaded, where, raw),
        digits=_digits(file, loaded, (*where, "digits"), raw.get("digits")),
    )


def _digits(file: _File, loaded: Loaded, where: KeyPath, value: Any) -> tuple[str, ...]:
    try:
        return parse_digits("" if value is None else str(value))
    except ValueError as exc:
        _problem(file, loaded, where, "bad-digits", f"digits {exc}")
        return ()


def _at(file: _File, loaded: Loaded, where: KeyPath, value: Any) -> datetime | None:
    if value is None:
        return None
    tz = file.flow.tz if file.flow else None
    try:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=tz)
        return local_moment(str(value), tz)
    except ValueError as exc:
        _problem(file, loaded, where, "bad-at", f"at {exc}")
        return None


def _hangup_after(file: _File, loaded: Loaded, where: KeyPath, raw: dict[str, Any]
                  ) -> float | None:
    """`hangup-after`, or its alias `hangup_after`; a case that writes both is a mistake."""
    if "hangup-after" in raw and "hangup_after" in raw:
        _problem(file, loaded, (*where, "hangup_after"), "duplicate-key",
                 "hangup_after is another spelling of hangup-after: keep one", key=True)
        return None
    key = "hangup_after" if "hangup_after" in raw else "hangup-after"
    return _seconds(file, loaded, (*where, key), raw.get(key))


def _seconds(file: _File, loaded: Loaded, where: KeyPath, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        _problem(file, loaded, where, "bad-hangup-after",
                 f"hangup-after must be seconds into the call (0 or more), got {value!r}")
        return None
    return float(value)


def _text(
    file: _File, loaded: Loaded, where: KeyPath, value: Any, *, required: bool = False,
    number: bool = False,
) -> str | None:
    key = str(where[-1])
    if value is None:
        if required:
            _problem(file, loaded, where, "missing-key", f"{key} is required")
        return None
    if isinstance(value, str) and value.strip():
        return value
    hint = ' (quote numbers: "+48 601 234 567")' if number else ""
    _problem(file, loaded, where, f"bad-{key}", f"{key} must be a text{hint}, got {value!r}")
    return None


def _expect(file: _File, loaded: Loaded, where: KeyPath, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        code = "missing-key" if value is None else "bad-expect"
        _problem(file, loaded, where, code, "expect must be a mapping of what the call must "
                 f"show: {', '.join(EXPECT_KEYS)}")
        return {}
    _unknown_keys(file, loaded, where, value, EXPECT_KEYS, "expect")
    for key, keys in (("sms", SMS_KEYS), ("dialed", DIALED_KEYS)):
        _entries(file, loaded, (*where, key), value.get(key), keys)
    if "heard" in value and not isinstance(value["heard"], list):
        _problem(file, loaded, (*where, "heard"), "bad-heard",
                 "heard must be the list of what the caller hears, such as - say: \"Hello\"")
    return value


def _entries(
    file: _File, loaded: Loaded, where: KeyPath, value: Any, keys: tuple[str, ...]
) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        _problem(file, loaded, where, f"bad-{where[-1]}",
                 f"{where[-1]} must be a list, one entry per {where[-1]} item in order")
        return
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            _problem(file, loaded, (*where, index), f"bad-{where[-1]}",
                     f"each {where[-1]} entry is a mapping of {', '.join(keys)}")
        else:
            _unknown_keys(file, loaded, (*where, index), entry, keys, f"a {where[-1]} entry")


def _unknown_keys(
    file: _File, loaded: Loaded, where: KeyPath, data: dict[str, Any],
    known: tuple[str, ...], owner: str,
) -> None:
    for key in data:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key).replace("-", "_"), known, n=1, cutoff=0.6)
        listed = f" (expected one of {', '.join(known)})"
        hint = f": did you mean '{close[0]}'?" if close else listed
        _problem(file, loaded, (*where, str(key)), "unknown-key",
                 f"unknown key '{key}' in {owner}{hint}", key=True)


def _problem(
    file: _File, loaded: Loaded, where: KeyPath, code: str, message: str, *, key: bool = False
) -> None:
    line, column = loaded.positions.of(where, key=key)
    source = loaded.positions.line_text(line)
    file.problems.append(Problem(line, column, file.path, code, message, source=source))


# --- checking a call ------------------------------------------------------------------


def check(expect: dict[str, Any], call: Call, region: str | None = None) -> list[Mismatch]:
    """What of `expect` the call did not show; empty when it showed everything.

    `{"trigger": "busy"}` against a call that ended missed gives
    `[Mismatch(what="trigger", expected="busy", actual="missed")]`.
    """
    found: list[Mismatch] = []
    for key in ("trigger", "ended_by"):
        if key in expect and expect[key] != getattr(call, key):
            found.append(Mismatch(key, expect[key], getattr(call, key)))
    if "heard" in expect and _heard(expect["heard"]) != call.heard:
        found.append(Mismatch("heard", expect["heard"], call.heard))
    found += _heard_contains(expect.get("heard_contains"), call)
    found += _listed("dialed", expect.get("dialed"), call.dialed, region)
    found += _listed("sms", expect.get("sms"), call.sms, region)
    return found


def _heard(entries: list[Any]) -> list[Any]:
    return [{str(k): v for k, v in e.items()} if isinstance(e, dict) else e for e in entries]


def _heard_contains(wanted: Any, call: Call) -> Iterator[Mismatch]:
    if wanted is None:
        return
    spoken = [str(value) for entry in call.heard for value in entry.values()]
    for text in wanted if isinstance(wanted, list) else [wanted]:
        if not any(str(text) in said for said in spoken):
            yield Mismatch("heard_contains", text, spoken)


def _listed(
    what: str, expected: list[dict[str, Any]] | None, actual: list[dict[str, Any]],
    region: str | None,
) -> list[Mismatch]:
    if expected is None:
        return []
    found = []
    if len(expected) != len(actual):
        found.append(Mismatch(f"{what} (count)", len(expected), len(actual)))
    for index, (want, got) in enumerate(zip(expected, actual)):
        for key, value in want.items():
            if not _holds(key, value, got, region):
                shown = got.get("body") if key == "body_contains" else got.get(key)
                found.append(Mismatch(f"{what}[{index + 1}].{key}", value, shown))
    return found


def _holds(key: str, value: Any, got: dict[str, Any], region: str | None) -> bool:
    if key == "body_contains":
        body: str = got.get("body") or ""
        return str(value) in body
    if key in ("to", "from"):
        return bool(_number(value, region) == _number(got.get(key), region))
    return bool(value == got.get(key))


def _number(value: Any, region: str | None) -> Any:
    """Numbers compare in E.164: `"601 234 567"` in a PL flow is `+48601234567`."""
    if not isinstance(value, str):
        return value
    try:
        return to_e164(value, region)
    except PhoneNumberError:
        return value


# --- the verdict ----------------------------------------------------------------------


def _verdict(case: Case, mismatches: list[Mismatch], error: str | None) -> str:
    if not mismatches and error is None:
        return f"PASS  {case.name}"
    lines = [f"FAIL  {case.name}  ({case.path}:{case.line})"]
    if error is not None:
        lines.append(f"      the call could not be played: {error}")
    rows = [(m.what, _shown(m.expected), _shown(m.actual)) for m in mismatches]
    if rows:
        lines += _table(rows)
    return "\n".join(lines)


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    """Expected beside actual; a value too wide for a column goes on lines of its own."""
    what = max(len("what"), *(len(r[0]) for r in rows))
    wide = max(len("expected"), *(len(r[1]) for r in rows if len(r[1]) <= WIDE), 0)
    lines = [f"      {'what':<{what}}  {'expected':<{wide}}  actual"]
    for name, expected, actual in rows:
        if len(expected) > WIDE or len(actual) > WIDE:
            lines += [f"      {name}", f"          expected: {expected}",
                      f"          actual:   {actual}"]
        else:
            lines.append(f"      {name:<{what}}  {expected:<{wide}}  {actual}")
    return lines


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
