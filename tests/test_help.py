"""`ringback … --help`: a default is shown once, and only when there is one to show."""

from __future__ import annotations

import argparse
import re

import pytest

from engine.cli import _parser

PARSER = _parser()
COMMANDS = next(
    a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)
).choices


def help_of(*command: str) -> str:
    parser = PARSER
    for name in command:
        parser = COMMANDS[name]
    return " ".join(parser.format_help().split())  # one line: a wrapped help is one text


@pytest.mark.parametrize("command", [(), *((name,) for name in COMMANDS)],
                         ids=["ringback", *COMMANDS])
def test_no_option_shows_a_default_of_none_or_two_defaults(command: tuple[str, ...]) -> None:
    text = help_of(*command)
    assert "(default: None)" not in text
    assert "(default: False)" not in text
    assert not re.search(r"\(default: [^)]*\)\s*\(default:", text)


def test_each_default_is_said_once_as_the_option_means_it() -> None:
    simulate = help_of("simulate")
    assert "2026-05-05T10:00 (default: now) --outcome" in simulate
    assert "(default: never) --digits" in simulate
    assert "--days DAYS how many days to show (default: 7)" in help_of("schedule")
    top = help_of()
    assert "folder of flow files (RINGBACK_FLOWS; default: ./flows)" in top
