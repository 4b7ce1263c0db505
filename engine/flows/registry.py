"""The flows an engine serves: every file of the flows folder, compiled, indexed by line.

A flow file that does not compile is reported and left out; it never takes a working line
down: when a set is rebuilt after files changed, a refused file's line keeps its last good
version. Two files may not claim the same number: both are refused, each problem naming
the other file.

Earlier versions of a flow are kept (a few per flow) so that a call in progress finishes
on the version it started with, even when the file changes mid-call.
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

VERSIONS_KEPT = 8


def flow_files(folder: Path) -> list[Path]:
    """The flow files of a folder, in name order (flow test files excluded)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.yaml") if not p.name.endswith(".test.yaml"))


@dataclass
class FlowSet:
    """Compiled flows by id, by line and by file, and the files that were refused."""

    by_id: dict[str, Flow] = field(default_factory=dict)
    by_line: dict[str, Flow] = field(default_factory=dict)
    by_path: dict[str, Flow] = field(default_factory=dict)
    refused: dict[str, FlowError] = field(default_factory=dict)
    versions: dict[tuple[str, str], Flow] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path, previous: FlowSet | None = None) -> FlowSet:
        """Compile every flow file in `folder`."""
        return cls.of(flow_files(folder), previous)

    @classmethod
    def of(cls, paths: Iterable[Path], previous: FlowSet | None = None) -> FlowSet:
        """Compile `paths`; with `previous`, refused files keep their last good version."""
        compiled: dict[str, Flow] = {}
        refused: dict[str, FlowError] = {}
        for path in paths:
            try:
                compiled[str(path)] = compile_file(path)
            except FlowError as error:
                refused[str(path)] = error
        _refuse_shared_lines(compiled, refused)
        flows = cls(refused=refused)
        for flow in compiled.values():
            flows._serve(flow)
        if previous is not None:
            flows._keep_last_good(previous)
        return flows

    @classmethod
    def serving(cls, flows: Iterable[Flow]) -> FlowSet:
        """A set of flows already compiled: the simulator serves only the flow it plays."""
        served = cls()
        for flow in flows:
            served._serve(flow)
        return served

    def _serve(self, flow: Flow) -> None:
        self.by_id[flow.id] = flow
        self.by_path[flow.path] = flow
        self.by_line.update({line: flow for line in flow.lines})
        self.versions[(flow.id, flow.digest)] = flow

    def _keep_last_good(self, previous: FlowSet) -> None:
        for path in self.refused:
            old = previous.by_path.get(path)
            taken = old is not None and any(line in self.by_line for line in old.lines)
            if old is not None and not taken and old.id not in self.by_id:
                self._serve(old)
        kept: dict[str, int] = {}
        for key, flow in reversed(list(previous.versions.items())):
            if key not in self.versions and kept.get(key[0], 0) < VERSIONS_KEPT:
                self.versions[key] = flow
                kept[key[0]] = kept.get(key[0], 0) + 1

    def for_number(self, number: str) -> Flow | None:
        """The flow answering a dialed number, as Twilio writes it in `To`."""
        try:
            return self.by_line.get(to_e164(number, None))
        except PhoneNumberError:
            return None

    def version(self, flow_id: str, digest: str | None) -> Flow | None:
        """The version of a flow a call started on, or the current one if it is gone."""
        if digest is not None and (flow_id, digest) in self.versions:
            return self.versions[(flow_id, digest)]
        return self.by_id.get(flow_id)

    def find(self, name: str) -> Flow | None:
        """A flow by id, by file path, or by one of its numbers.

        A number may be written as in E.164 (`+48223071500`) or in national form, read in
        each flow's own `region`: `"22 307 15 00"` finds the PL flow answering
        +48223071500, as its `line:` may be written the same way.
        """
        if name in self.by_id:
            return self.by_id[name]
        stem = Path(name).name.removesuffix(".yaml")
        if stem in self.by_id:
            return self.by_id[stem]
        return self.for_number(name) or self._for_national(name)

    def _for_national(self, number: str) -> Flow | None:
        for flow in self.by_id.values():
            try:
                if flow.region and to_e164(number, flow.region) in flow.lines:
                    return flow
            except PhoneNumberError:
                continue
        return None

    @property
    def problems(self) -> Mapping[str, list[Problem]]:
        return {path: error.problems for path, error in self.refused.items()}


def _refuse_shared_lines(compiled: dict[str, Flow], refused: dict[str, FlowError]) -> None:
    """Refuse every file whose number another file also claims, naming the other file."""
    owners: dict[str, list[Flow]] = {}
    for flow in compiled.values():
        for line in flow.lines:
            owners.setdefault(line, []).append(flow)
    clashes: dict[str, list[Problem]] = {}
    for line, flows in owners.items():
        for flow in flows if len(flows) > 1 else ():
            others = ", ".join(f.path for f in flows if f is not flow)
            message = f"line {line} is also claimed by {others}: a number belongs to one flow"
            row, column, source = flow.line_at.get(line, (1, 1, ""))
            clashes.setdefault(flow.path, []).append(
                Problem(row, column, flow.path, "line-taken", message, source=source)
            )
    for path, problems in clashes.items():
        del compiled[path]
        refused[path] = FlowError(path, problems)
