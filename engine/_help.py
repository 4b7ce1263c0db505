"""The `--help` layout of every `ringback` command: one sentence per option, its default shown.

argparse's `ArgumentDefaultsHelpFormatter` appends `(default: …)` to every option, which
prints `(default: None)` for an option whose default is "not given" (a setting then read
from its environment variable) and a second default after a help text that already names
its own (`(default: now) (default: None)`). This one shows a default only when it says
something: not None, not False, not empty, and not when the help already states one.
"""

from __future__ import annotations

import argparse

__all__ = ["HelpFormatter"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """`--days DAYS  how many days to show (default: 7)`; `--json  print one JSON object`."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        says_nothing = action.default is None or action.default is False or action.default in (
            "", [], argparse.SUPPRESS
        )
        if says_nothing or "default" in text:
            return text
        return super()._get_help_string(action)
