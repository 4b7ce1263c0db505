"""Problems at the author's line and column, and the words that help fix them.

Shared by the compiler's phases: `problem` places a message at a path of the loaded file,
`suggest` offers the nearest known name (`did you mean 'timeout'?`), `listing` names what
exists when nothing is near, and `unique` drops a problem reported twice.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from engine.dsl.loader import Loaded, Path
from engine.errors import Problem

__all__ = ["listing", "problem", "suggest", "unique"]


def listing(names: Any, where: str) -> str:
    """`" (defined: welcome, closed)"`, or `" (no greetings are defined)"`."""
    return f" (defined: {', '.join(names)})" if names else f" (no {where} are defined)"


def suggest(word: str, choices: Any) -> str:
    """`": did you mean 'timeout'?"` for `timout`, or "" when nothing is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f": did you mean '{close[0]}'?" if close else ""


def problem(
    loaded: Loaded, where: Path, code: str, message: str, *, key: bool = False
) -> Problem:
    """An error at `where` (at its key with `key=True`), the author's line kept for echo."""
    line, column = loaded.positions.of(where, key=key)
    source = loaded.positions.line_text(line)
    return Problem(line, column, loaded.path, code, message, source=source)


def unique(problems: Sequence[Problem]) -> list[Problem]:
    """`problems` without repeats of one message at one place, first kept."""
    seen: set[tuple[int, int, str]] = set()
    kept = []
    for p in problems:
        if (p.line, p.column, p.message) not in seen:
            seen.add((p.line, p.column, p.message))
            kept.append(p)
    return kept
