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
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.errors import FlowError, Problem

__all__ = ["MAX_VALUES", "Loaded", "Path", "Positions", "load_text"]

Path = tuple[str | int, ...]

# A flow file holds a few hundred values. Aliases (`*name`) can make a few hundred bytes
# expand to billions (the "billion laughs"), so the expanded size is counted on the node
# graph, before anything is built, and a document past this many values is refused.
MAX_VALUES = 100_000


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

    Any error while reading raises `FlowError` with a `path:line:column:` problem: a syntax
    error or a duplicated key where the parser found it, a value YAML cannot build (a date
    such as 2026-02-30) at that value, a document that aliases expand past `MAX_VALUES`
    at its largest top-level entry, anything else at 1:1.
    """
    lines = text.splitlines()
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Constructor = _Constructor
    try:
        node = yaml.compose(text)
        _refuse_huge(node, path, lines)
        _refuse_duplicate_keys(node, path, lines)
        document = yaml.constructor.construct_document(node) if node is not None else None
    except MarkedYAMLError as exc:
        raise FlowError(path, [_syntax_problem(exc, path, lines)]) from None
    except FlowError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the parser raises, the file is at fault
        message = f"the file cannot be read as YAML: {exc}"
        raise FlowError(path, [_at(1, 1, path, lines, "yaml-unreadable", message)]) from None
    positions = Positions(source=lines)
    data = _plain(document, (), positions)
    return Loaded(path=path, data=data, positions=positions)


class _Constructor(RoundTripConstructor):
    """ruamel's round-trip constructor, but a scalar it cannot build is a marked error.

    `2026-02-30` looks like a date to YAML and raises a bare ValueError with no position.
    """

    def construct_non_recursive_object(self, node: Any, tag: str | None = None) -> Any:
        if not isinstance(node, ScalarNode):
            return super().construct_non_recursive_object(node, tag)
        try:
            return super().construct_non_recursive_object(node, tag)
        except MarkedYAMLError:
            raise
        except Exception as exc:  # noqa: BLE001 - any scalar YAML cannot build
            what = f"cannot read the value {node.value!r}: {exc}"
            raise ConstructorError(None, None, what, node.start_mark) from None


def _refuse_huge(root: Node | None, path: str, lines: Sequence[str]) -> None:
    """Refuse a document that expands past `MAX_VALUES` values, before building it.

    Each node is counted once (memoised by identity): an alias is the node it names, so
    ten aliases of ten aliases cost a hundred additions here, not a hundred copies.
    """
    sizes: dict[int, int] = {}
    if root is None or _size(root, sizes) <= MAX_VALUES:
        return
    largest = root
    if isinstance(root, MappingNode) and root.value:
        largest = max((value for _, value in root.value), key=lambda n: sizes[id(n)])
    mark = largest.start_mark
    message = (
        f"the document expands to more than {MAX_VALUES:,} values through its aliases "
        "(*name), far more than a flow file needs: write the values out"
    )
    raise FlowError(path, [_at(mark.line + 1, mark.column + 1, path, lines,
                               "yaml-too-large", message)])


def _size(node: Node, sizes: dict[int, int]) -> int:
    """How many values `node` stands for once every alias is expanded."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = MAX_VALUES + 1  # a node that contains itself never ends
    if isinstance(node, SequenceNode):
        total = 1 + sum(_size(child, sizes) for child in node.value)
    elif isinstance(node, MappingNode):
        total = 1 + sum(_size(k, sizes) + _size(v, sizes) for k, v in node.value)
    else:
        total = 1
    sizes[id(node)] = total
    return total


def _refuse_duplicate_keys(root: Node | None, path: str, lines: Sequence[str]) -> None:
    """Every key written twice in one mapping, each named with both of its positions."""
    problems: list[Problem] = []
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            problems += _duplicates(node, path, lines)
            stack += [child for pair in node.value for child in pair]
        elif isinstance(node, SequenceNode):
            stack += node.value
    if problems:
        raise FlowError(path, problems)


def _duplicates(mapping: MappingNode, path: str, lines: Sequence[str]) -> list[Problem]:
    first: dict[tuple[str, str], Any] = {}
    problems = []
    for key, _ in mapping.value:
        if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        earlier = first.setdefault((str(key.tag), key.value), key.start_mark)
        if earlier is key.start_mark:
            continue
        here = key.start_mark
        message = (
            f"the key '{key.value}' is written twice in one mapping, at line "
            f"{earlier.line + 1}, column {earlier.column + 1} and at line {here.line + 1}, "
            f"column {here.column + 1}: keep one"
        )
        problems.append(_at(here.line + 1, here.column + 1, path, lines, "duplicate-key", message))
    return problems


def _at(line: int, column: int, path: str, lines: Sequence[str], code: str, message: str
        ) -> Problem:
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    return Problem(line, column, path, code, message, source=source)


def _syntax_problem(exc: MarkedYAMLError, path: str, lines: Sequence[str]) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    if mark and mark.line >= len(lines) and exc.context_mark:
        mark = exc.context_mark  # the end of the file: point where the broken part began
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = exc.problem or "the file is not valid YAML"
    if exc.context and "duplicate" not in what:
        what = f"{exc.context}, {what}"
    code = "duplicate-key" if "duplicate key" in what else "yaml-syntax"
    if code == "yaml-syntax" and what.startswith("cannot read the value"):
        code, message = "bad-yaml-value", what
    else:
        message = f"YAML syntax: {what}"
    if code == "duplicate-key":
        message = f"a key is written twice in one mapping: {what.split('(', 1)[0].strip()}"
    return _at(line, column, path, lines, code, message)


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
