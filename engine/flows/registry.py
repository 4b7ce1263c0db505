"""The flows an engine serves: every file of the flows folder, compiled, indexed by line.

A flow file that does not compile is reported and left out; it never takes the other
lines down. Two flows may not claim the same number: the second (in file-name order)
is refused with a problem that names the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.dsl.compiler import compile_file
from engine.dsl.flow import Flow
from engine.errors import FlowError, Problem
from engine.phone import PhoneNumberError, to_e164

__all__ = ["FlowSet", "flow_files"]


def flow_files(folder: Path) -> list[Path]:
    """The flow files of a folder, in name order (test files excluded)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.yaml") if not p.name.endswith(".test.yaml"))


@dataclass
class FlowSet:
    """Compiled flows by id and by line, and the files that were refused."""

    by_id: dict[str, Flow] = field(default_factory=dict)
    by_line: dict[str, Flow] = field(default_factory=dict)
    refused: dict[str, FlowError] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> FlowSet:
        """Compile every flow file in `folder`."""
        return cls.of(flow_files(folder))

    @classmethod
    def of(cls, paths: Iterable[Path]) -> FlowSet:
        flows = cls()
        for path in paths:
            try:
                flows.add(compile_file(path))
            except FlowError as error:
                flows.refused[str(path)] = error
        return flows

    def add(self, flow: Flow) -> None:
        """Serve `flow`, unless one of its numbers is already another flow's."""
        for line in flow.lines:
            owner = self.by_line.get(line)
            if owner is not None and owner.id != flow.id:
                message = f"line {line} is already answered by flow '{owner.id}' ({owner.path})"
                problem = Problem(1, 1, flow.path, "line-taken", message)
                raise FlowError(flow.path, [problem])
        self.by_id[flow.id] = flow
        self.by_line.update({line: flow for line in flow.lines})

    def for_number(self, number: str) -> Flow | None:
        """The flow answering a dialed number, as Twilio writes it in `To`."""
        try:
            return self.by_line.get(to_e164(number, None))
        except PhoneNumberError:
            return None

    def find(self, name: str) -> Flow | None:
        """A flow by id, by file path, or by one of its numbers."""
        if name in self.by_id:
            return self.by_id[name]
        stem = Path(name).name.removesuffix(".yaml")
        if stem in self.by_id:
            return self.by_id[stem]
        return self.for_number(name)

    @property
    def problems(self) -> Mapping[str, list[Problem]]:
        return {path: error.problems for path, error in self.refused.items()}
