"""The commands that help people write flows: `ringback schedule` and `ringback schema`.

`check` lives beside `serve` in `engine.cli`; these two only read flows and print, so they
sit here, registered by `add_authoring_commands`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from engine._help import HelpFormatter
from engine.dsl.flow import Flow
from engine.errors import ConfigError
from engine.schema import schema_text
from engine.settings import Settings
from engine.timetable import timetable

__all__ = ["add_authoring_commands"]

FindFlow = Callable[[Settings, str], "Flow | None"]
MakeSettings = Callable[[argparse.Namespace], Settings]


def add_authoring_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    settings: MakeSettings,
    find: FindFlow,
) -> None:
    """Register `schedule` and `schema`."""
    schedule = commands.add_parser(
        "schedule", help="print which trigger applies when, DST changes and holidays marked",
        formatter_class=HelpFormatter,
    )
    schedule.add_argument("flow", metavar="FLOW", help="a flow id, a file path, or a line number")
    schedule.add_argument("--from", dest="first", metavar="DATE",
                          help="the first day, e.g. 2026-03-09 (default: today in the flow's zone)")
    schedule.add_argument("--days", type=int, default=7, help="how many days to show")
    schedule.add_argument("--json", action="store_true", help="print one JSON object")
    schedule.set_defaults(run=lambda args: _schedule(args, settings(args), find))

    schema = commands.add_parser("schema", help="print the JSON Schema of the flow language")
    schema.set_defaults(run=_schema)


def _schedule(args: argparse.Namespace, settings: Settings, find: FindFlow) -> int:
    flow = find(settings, args.flow)
    if flow is None:  # pragma: no cover - find raises for a flow it does not know
        raise ConfigError(f"no flow '{args.flow}'")
    if not 1 <= args.days <= 366:
        raise ConfigError(f"--days must be between 1 and 366, got {args.days}")
    table = timetable(flow, _first_day(args.first, flow), args.days)
    output: Any = table.as_json() if args.json else table.render()
    print(json.dumps(output, indent=2, ensure_ascii=False) if args.json else output)
    return 0


def _first_day(text: str | None, flow: Flow) -> date:
    if text is None:
        return datetime.now(flow.tz).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--from must be a date such as 2026-03-09, got {text!r}") from None


def _schema(args: argparse.Namespace) -> int:
    print(schema_text())
    return 0
