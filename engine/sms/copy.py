"""SMS copy: the flow author's Jinja templates, rendered in a sandbox.

Copy is written by integrators, not by us, so it is rendered by Jinja's sandboxed
environment (no attribute access into Python internals) with undefined names an error.
Names are checked when the flow loads, so a typo such as `{{ busines }}` is an author
error with a position, never a surprise at call time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["COPY_NAMES", "CopyError", "Template", "compile_copy"]

COPY_NAMES = ("business", "caller", "line", "trigger", "local_time", "opens_at", "call_id")


class CopyError(ValueError):
    """Copy that cannot be a template: a syntax error or an unknown name."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


def _urlencode(value: object) -> str:
    """`+48 601` → `%2B48%20601`: safe inside a query string value."""
    return quote(str(value), safe="")


MAX_REPEATED = 1600  # Twilio's limit for one message's body: no repeat needs to go past it


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, where `*` cannot build a text or a list past MAX_REPEATED.

    Jinja folds constant expressions while it compiles, so `{{ "a" * 10**10 }}` would
    take the memory (and `**` the time) of the process loading the flow. Intercepted, `*`
    is not folded but checked when the copy is rendered; `**` is refused at load.
    """

    intercepted_binops = frozenset({"*"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            sized = [x for x in (left, right) if isinstance(x, (str, list, tuple))]
            times = [x for x in (left, right) if isinstance(x, int)]
            if sized and times and len(sized[0]) * times[0] > MAX_REPEATED:
                raise SecurityError(f"'*' would repeat past {MAX_REPEATED} characters")
        return super().call_binop(context, operator, left, right)


_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False)
_ENV.filters["urlencode"] = _urlencode


@dataclass(frozen=True)
class Template:
    """One compiled copy, rendered per call with the spec's names."""

    source: str
    names: frozenset[str]
    compiled: JinjaTemplate = field(compare=False, repr=False)

    def render(self, values: Mapping[str, str]) -> str:
        """The text a caller receives, surrounding white space removed."""
        return self.compiled.render(values).strip()


def compile_copy(source: str) -> Template:
    """Check a copy's syntax and names; `"Hi {{ business }}"` → a Template using `business`.

    Raises CopyError naming the unknown variable and the names that exist.
    """
    try:
        tree = _ENV.parse(source)
        _refuse_power(tree)
        _refuse_loops(tree)
        compiled = _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise CopyError(f"is not a valid template: {exc.message}", exc.lineno) from None
    except CopyError:
        raise
    except Exception as exc:  # noqa: BLE001 - Jinja reads and folds constants itself
        raise CopyError(f"cannot be compiled as a template: {exc}") from None
    names = meta.find_undeclared_variables(tree)
    unknown = sorted(names - set(COPY_NAMES))
    if unknown:
        line = _line_of(tree, unknown[0])
        known = ", ".join(COPY_NAMES)
        raise CopyError(f"uses unknown name '{unknown[0]}': the names are {known}", line)
    reached = _reached_into(tree)
    if reached is not None:
        raise CopyError(
            f"reaches into a value with '{reached[0]}': copy uses the names as they are, "
            "changed only by filters such as {{ caller | urlencode }}",
            reached[1],
        )
    return Template(source=source, names=frozenset(names), compiled=compiled)


def _refuse_power(tree: nodes.Template) -> None:
    """`**` has no place in a text, and Jinja would compute `9**999999999` at load."""
    for power in tree.find_all(nodes.Pow):
        raise CopyError(
            "raises a number to a power with '**': copy fills in names, it does no arithmetic",
            power.lineno,
        )


def _refuse_loops(tree: nodes.Template) -> None:
    """A text names a caller, a time and a link: it has nothing to repeat. A loop or a
    macro could only make a message longer than any phone takes, and slowly."""
    for block in tree.find_all((nodes.For, nodes.Macro, nodes.CallBlock)):
        kind = {nodes.For: "for", nodes.Macro: "macro"}.get(type(block), "call")
        raise CopyError(
            f"uses a '{{% {kind} %}}' block: copy fills in names and may use "
            "{% if %}, nothing that repeats",
            block.lineno,
        )


def _reached_into(tree: nodes.Template) -> tuple[str, int] | None:
    """The first `.attribute` or `[item]` in the copy, and its line.

    The values are plain texts: an attribute is at best a typo that fails at call time
    (`{{ business.nmae }}`), at worst a reach into Python's internals (`__class__`), which
    the sandbox would stop, also at call time. Refused when the flow loads instead.
    """
    for found in tree.find_all((nodes.Getattr, nodes.Getitem)):
        node: nodes.Getattr | nodes.Getitem = found  # type: ignore[assignment]
        while isinstance(node.node, (nodes.Getattr, nodes.Getitem)):
            node = node.node  # `a.b.c` is found from the outside: name the first step, `.b`
        return (f".{node.attr}" if isinstance(node, nodes.Getattr) else "[…]"), node.lineno
    return None


def _line_of(tree: nodes.Template, name: str) -> int:
    for node in tree.find_all(nodes.Name):
        if node.name == name:
            return node.lineno
    return 1
