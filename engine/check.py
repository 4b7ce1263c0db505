"""`ringback check`: every flow file compiled, then linted, and the report people read.

A file the compiler refuses reports its errors; a file that compiles is linted
(`engine.lint`) and reports each copy's encoding and segment count. The text report prints
each problem as `path:line:column: severity: message [code]` with the author's line and a
caret, in line order; `--json` prints the object engine.md fixes. Errors exit 1, warnings
alone exit 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from engine.dsl.loader import load_text
from engine.errors import FlowError, Problem
from engine.flows.registry import FlowSet, flow_files
from engine.lint import CopyReport, lint, missing_audio

__all__ = ["FileReport", "check", "files_to_check", "render", "report_json"]


@dataclass
class FileReport:
    """What `check` found in one file."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    copy: list[CopyReport] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def files_to_check(given: Sequence[Path], default: Path) -> list[Path]:
    """The flow files named, folders expanded to their flow files (default: the flows folder)."""
    paths: list[Path] = []
    for path in given or [default]:
        paths.extend(flow_files(path) if path.is_dir() else [path])
    return paths


def check(
    paths: Iterable[Path], today: date | None = None, greetings: Path | None = None
) -> list[FileReport]:
    """Compile `paths` together (two files may not claim one line), lint those that compile.

    With `greetings` (the folder the engine serves audio from), a `play` of a file that is
    not in it is an error (`missing-audio`).
    """
    paths = list(paths)
    flows = FlowSet.of(paths)
    reports = []
    for path in paths:
        report = FileReport(str(path))
        error: FlowError | None = flows.refused.get(str(path))
        flow = flows.by_path.get(str(path))
        if error is not None:
            report.problems = list(error.problems)
        elif flow is not None:
            loaded = load_text(path.read_text(encoding="utf-8"), str(path))
            report.problems, report.copy = lint(flow, loaded.positions, today)
            if greetings is not None:
                report.problems = sorted([*report.problems, *missing_audio(loaded, greetings)])
        reports.append(report)
    return reports


def render(reports: Sequence[FileReport]) -> str:
    """The text report: problems, then each copy's measure, then one summary line."""
    lines: list[str] = []
    for report in reports:
        lines += [problem.render() for problem in report.problems]
        for copy in report.copy:
            plural = "" if copy.segments == 1 else "s"
            lines.append(
                f"{report.path}: copy {copy.name}: {copy.encoding}, {copy.characters} "
                f"characters, {copy.segments} segment{plural}"
            )
    errors = sum(len(r.errors) for r in reports)
    warnings = sum(len(r.warnings) for r in reports)
    files = f"{len(reports)} file" + ("" if len(reports) == 1 else "s")
    lines.append(f"{files} checked: {_count(errors, 'error')}, {_count(warnings, 'warning')}")
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def report_json(reports: Sequence[FileReport]) -> dict[str, Any]:
    """The `--json` object: `{"files": [...], "errors": N, "warnings": N}`."""
    files = [
        {
            "path": report.path,
            "ok": not report.errors,
            "errors": [_problem_json(p) for p in report.errors],
            "warnings": [_problem_json(p) for p in report.warnings],
            "copy": [copy.as_json() for copy in report.copy],
        }
        for report in reports
    ]
    return {
        "files": files,
        "errors": sum(len(r.errors) for r in reports),
        "warnings": sum(len(r.warnings) for r in reports),
    }


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {"line": problem.line, "column": problem.column, "code": problem.code,
            "message": problem.message}
