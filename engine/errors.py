"""Ringback's exceptions, in one tree, and the problem records that author errors carry.

    RingbackError
    ├── FlowError          an author's mistake in a flow file, found when the file loads;
    │                      carries every Problem in the file, in line order
    ├── ConfigError        a setting or command-line value that cannot work; the command
    │                      line prints it as one line on stderr and exits non-zero
    └── CallError          a flow or the store failed while answering a live call; the
                           server turns it into fallback TwiML and a log line

Programmer errors stay ordinary Python exceptions (and `assert` guards internal invariants
only, never YAML or webhook input).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["CallError", "ConfigError", "FlowError", "Problem", "RingbackError"]

Severity = Literal["error", "warning"]


class RingbackError(Exception):
    """The root of every exception Ringback raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong (or worth a warning) at one place in a flow file.

    `line` and `column` count from 1. `code` is a stable kebab-case name for the kind of
    problem (`unknown-key`, `bad-timeout`); `source` is the author's line, echoed under the
    message with a caret.
    """

    line: int
    column: int
    path: str = field(compare=False)
    code: str = field(compare=False)
    message: str = field(compare=False)
    severity: Severity = field(default="error", compare=False)
    source: str = field(default="", compare=False, repr=False)

    def location(self) -> str:
        """`flows/salon.yaml:23:13`."""
        return f"{self.path}:{self.line}:{self.column}"

    def __str__(self) -> str:
        """`flows/salon.yaml:23:13: dial.timeout must be …`, as the spec writes errors."""
        return f"{self.location()}: {self.message}"

    def render(self) -> str:
        """The full report: location, severity, message and code, then the line and a caret.

        >>> print(Problem(2, 5, "f.yaml", "bad-x", "x is bad", source="a: x").render())
        f.yaml:2:5: error: x is bad [bad-x]
            a: x
               ^
        """
        head = f"{self.location()}: {self.severity}: {self.message} [{self.code}]"
        if not self.source:
            return head
        caret = " " * (self.column - 1) + "^"
        return f"{head}\n    {self.source}\n    {caret}"


class FlowError(RingbackError):
    """A flow file that breaks the language; it is refused as a whole."""

    def __init__(self, path: str, problems: Iterable[Problem]) -> None:
        self.path = path
        self.problems = sorted(problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(lines or f"{path}: the flow is not valid")


class ConfigError(RingbackError):
    """A setting that cannot work, said in one line that names the fix."""


class CallError(RingbackError):
    """A live call that the flow or the store could not carry on."""
