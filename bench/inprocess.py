"""The measurements without HTTP: loading many flows, and simulated calls per second.

Each runs in a process of its own (`python bench/inprocess.py flows DIR` or
`... simulate SECONDS`) so that its peak memory is its own, and prints one JSON object.

- `flows`: `FlowSet.load` on a folder of generated flows, as `ringback serve` does at
  start: wall time, peak resident memory above the interpreter with the engine imported,
  and every file must compile.
- `simulate`: whole calls through the flow test runner (`ringback test`) when it runs, else
  through `engine.simulator.simulate`, each on a fresh in-process engine and store, as
  `ringback simulate` plays them; calls per second over a fixed time.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SIMULATED_CALL = {"outcome": "busy", "at": "2026-05-05T10:00", "from": "+48 601 111 222"}


def generate_flows(folder: Path, count: int) -> None:
    """`count` flow files like salon-belle, each with a line, name and hours of its own."""
    source = (REPO / "flows" / "salon-belle.yaml").read_text(encoding="utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        text = (
            source.replace('"+48 22 307 15 00"', f'"+48 22 {3_000_000 + index:07d}"')
            .replace("business: Salon Belle", f"business: Salon {index}")
            .replace('"09:00-18:00"', f'"{8 + index % 3:02d}:00-18:00"')
        )
        (folder / f"salon-{index:05d}.yaml").write_text(text, encoding="utf-8")


def load_flows(folder: Path) -> dict[str, Any]:
    """`FlowSet.load(folder)`, timed; stopped by SIGTERM, it reports how far it got."""
    from engine.flows import registry

    total = len(registry.flow_files(folder))
    compiled = 0
    compile_file = vars(registry)["compile_file"]

    def counted(path: Any) -> Any:  # counts progress only; the compiler is the engine's
        nonlocal compiled
        compiled += 1
        return compile_file(path)

    vars(registry)["compile_file"] = counted
    signal.signal(signal.SIGTERM, _stop)
    before = _peak_kib()
    start = time.perf_counter()
    try:
        flows = registry.FlowSet.load(folder)
    except _Stopped:
        seconds = time.perf_counter() - start
        return {
            "flows": total,
            "loaded": compiled,
            "stopped": True,
            "seconds": round(seconds, 3),
            "ms_per_flow": round(seconds * 1000 / compiled, 3),
            "projected_seconds": round(seconds * total / compiled, 1),
            "peak_mib": round((_peak_kib() - before) / 1024, 1),
        }
    seconds = time.perf_counter() - start
    return {
        "flows": len(flows.by_id),
        "refused": len(flows.refused),
        "stopped": False,
        "seconds": round(seconds, 3),
        "ms_per_flow": round(seconds * 1000 / total, 3),
        "peak_mib": round((_peak_kib() - before) / 1024, 1),
    }


class _Stopped(BaseException):
    """The run's time budget ran out. Not an `Exception`: the compiler refuses a file that
    raises one, and loading would go on."""


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped


def simulate(seconds: float) -> dict[str, Any]:
    """Calls per second, whole calls, for `seconds`."""
    runner, play = _simulator()
    play()  # the first call pays for imports and caches
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        play()
        count += 1
    elapsed = time.perf_counter() - start
    return {
        "runner": runner,
        "calls": count,
        "seconds": round(elapsed, 3),
        "calls_per_second": round(count / elapsed, 2),
        "call": SIMULATED_CALL,
    }


def _simulator() -> tuple[str, Any]:
    """`ringback test` on one case when the runner exists, else `simulate` itself."""
    from engine.settings import Settings

    settings = Settings(flows=REPO / "flows", greetings=REPO / "greetings")
    try:
        from engine.flowtest import run_tests

        folder = Path(__import__("tempfile").mkdtemp(prefix="ringback-bench-"))
        case = folder / "bench.test.yaml"
        case.write_text(
            "flow: salon-belle\ncases:\n  - name: a busy line texts the booking link\n"
            f'    at: {SIMULATED_CALL["at"]}\n    from: "{SIMULATED_CALL["from"]}"\n'
            "    outcome: busy\n    expect:\n      trigger: busy\n",
            encoding="utf-8",
        )
        sink = open("/dev/null", "w")  # noqa: SIM115 - lives as long as the process
        if run_tests([case], settings, sink) == 0:
            return "ringback test", lambda: run_tests([case], settings, sink)
    except (ImportError, NotImplementedError):
        pass
    return "engine.simulator.simulate", _direct(settings)


def _direct(settings: Any) -> Any:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from engine.flows.registry import FlowSet
    from engine.simulator import Script
    from engine.simulator import simulate as play_call

    flow = FlowSet.load(REPO / "flows").by_id["salon-belle"]
    at = datetime.fromisoformat(SIMULATED_CALL["at"]).replace(tzinfo=ZoneInfo("Europe/Warsaw"))
    script = Script(caller="+48601111222", line=flow.lines[0], at=at, outcome="busy")

    def play() -> None:
        call = asyncio.run(play_call(settings, flow, script))
        assert call.trigger == "busy", call.trigger

    return play


def _peak_kib() -> int:
    """This process's peak resident memory. Not `ru_maxrss`: it carries over the peak of
    the process that forked this one (run.py), so it would hide a smaller peak here."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str]) -> None:
    kind, arg = argv[0], argv[1]
    if kind == "flows":
        import engine.flows.registry  # noqa: F401 - imports are not the flows' memory

        result = load_flows(Path(arg))
    else:
        result = simulate(float(arg))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
