"""Reading a flow file's YAML into plain data, keeping where every key and value stood.

The model validates plain dicts and lists; the errors it finds must still point into the
author's file. So loading yields both the data and a `Positions` index from a path of keys
and list indexes, such as `("on", "open", 1, "dial", "timeout")`, to the line and column
of that value (and of its key). ruamel.yaml's round-trip loader gives the positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from engine.errors import FlowError, Problem

__all__ = ["Loaded", "Path", "Positions", "load_text"]

Path = tuple[str | int, ...]


@dataclass
class Positions:
    """Where each value (and each mapping key) of a loaded document stood, 1-based."""

    source: Sequence[str]
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def of(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of `path`, or of its nearest ancestor that has one.

        With `key=True`, the position of the mapping key rather than of its value: the place
        to point at for an unknown or duplicated key.
        """
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            found = table.get(path[:end]) or self.values.get(path[:end])
            if found:
                return found
        return (1, 1)

    def line_text(self, line: int) -> str:
        """The author's line, as written (without its end of line)."""
        return self.source[line - 1].rstrip("\r\n") if 0 < line <= len(self.source) else ""


@dataclass
class Loaded:
    """A flow file's plain data and the positions of everything in it."""

    path: str
    data: Any
    positions: Positions


def load_text(text: str, path: str) -> Loaded:
    """Parse YAML text into plain Python data and its positions.

    A YAML syntax error (or a duplicated key) raises `FlowError` with the parser's
    position, so even a file that is not YAML gets a `path:line:column:` message.
    """
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    lines = text.splitlines()
    try:
        document = yaml.load(text)
    except MarkedYAMLError as exc:
        raise FlowError(path, [_syntax_problem(exc, path, lines)]) from None
    positions = Positions(source=lines)
    data = _plain(document, (), positions)
    return Loaded(path=path, data=data, positions=positions)


def _syntax_problem(exc: MarkedYAMLError, path: str, lines: Sequence[str]) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    if mark and mark.line >= len(lines) and exc.context_mark:
        mark = exc.context_mark  # the end of the file: point where the broken part began
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = exc.problem or "the file is not valid YAML"
    if exc.context and "duplicate" not in what:
        what = f"{exc.context}, {what}"
    code = "duplicate-key" if "duplicate key" in what else "yaml-syntax"
    message = f"YAML syntax: {what}"
    if code == "duplicate-key":
        message = f"a key is written twice in one mapping: {what.split('(', 1)[0].strip()}"
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    return Problem(line, column, path, code, message, source=source)


def _plain(node: Any, path: Path, positions: Positions) -> Any:
    """Turn ruamel's commented containers into dicts and lists, recording positions."""
    if isinstance(node, CommentedMap):
        result: dict[Any, Any] = {}
        for key, value in node.items():
            line, column, vline, vcolumn = node.lc.data[key]
            child = (*path, str(key))
            positions.keys[child] = (line + 1, column + 1)
            positions.values[child] = (vline + 1, vcolumn + 1)
            # Keys are text, as positions record them; a menu's `1:` is the key "1".
            result[key if isinstance(key, bool) else str(key)] = _plain(value, child, positions)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, column = node.lc.data[index]
            positions.values[(*path, index)] = (line + 1, column + 1)
            items.append(_plain(value, (*path, index), positions))
        return items
    return _scalar(node)


def _scalar(value: Any) -> Any:
    """ruamel's scalar subclasses (ScalarFloat, TimeStamp …) as plain Python values."""
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value
