"""Ringback's benchmark: the engine beside two hand-written webhooks, in one bounded run.

    .venv/bin/python bench/run.py            # under three minutes; loopback only
    .venv/bin/python bench/run.py --short    # a smoke run of the harness, about a minute
    .venv/bin/python bench/run.py --long     # lets the 10,000-flow load finish (minutes)

PostgreSQL is the machine's (`RINGBACK_BENCH_PG`, default
`postgresql+psycopg://postgres@127.0.0.1:5432/test`; empty or unreachable: that row is
skipped, and the run says why).

One uvicorn process (one worker, access log off), pinned to core 0, serves the engine and
two baselines (`bench/app.py`); the load generators run on core 1. Phases:

1. prepare: signed Twilio webhooks, one fresh call each; the calls the dial action and the
   status callback are about are put in the store first (`bench/calls.py`);
2. check: on each path, the engine and both baselines answer byte-identical TwiML, and the
   engine refuses a forged signature;
3. warm-up, then five repetitions of wrk on every path, the three variants interleaved
   (their order rotates each repetition); ratios are taken within a repetition, and the
   server's CPU time per request is read from /proc around each run. On `/voice` a fourth
   variant joins the rotation: the engine again, in a second process on the same core,
   its store on PostgreSQL (`bench/postgres.py`; skipped, saying why, when PostgreSQL is
   not reachable), sent the same requests;
4. latency on `/voice` at one fixed offered rate, half the slowest variant's throughput
   (at most `max_rate`), open loop (`bench/load.py`);
5. loading 1,000 generated flows and then simulated calls per second on one core, loading
   10,000 on the other, all at once (`bench/inprocess.py`).

Results go to `bench/results/` as JSON and to `bench/RESULTS.md` as tables. Every phase is
bounded: past its time budget the run stops a phase, and a flow load that is stopped
reports how far it got and the pace it kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import calls as bench_calls
from bench import postgres
from bench.app import CONSTANT
from bench.load import Target, fixed_rate, wait_until_up, wrk
from bench.report import write_markdown

PATHS = ("voice", "dial", "status")
VARIANTS = ("engine", "hand", "twiml")
CALLER_BASE = {"voice": 0, "dial": 300_000, "status": 600_000}
SERVER_CORE, LOAD_CORE = 0, 1
BUDGET = 170.0  # seconds, with room to stop within three minutes as the benchmark promises
LONG_BUDGET = 420.0  # --long: time for the 10,000-flow load to finish


class Plan:
    """How long and how hard each phase runs."""

    def __init__(self, short: bool, long: bool = False) -> None:
        self.budget = LONG_BUDGET if long else BUDGET
        self.repetitions = 2 if short else 5
        self.seconds = 1  # wrk takes whole seconds
        self.warmup = 1
        self.connections = 16
        self.latency_seconds = 1.0 if short else 2.0
        self.latency_connections = 32
        self.calls_per_run = 2_500  # the most a 1 s run can use, with room to spare
        self.max_rate = 400  # the latency phase's cap, so that its calls are enough
        self.disturbed = 0.2  # others' share of the server's core that makes a run count for naught
        self.flow_counts = (100, 1_000) if short else (1_000, 10_000)
        self.simulate_seconds = 2.0 if short else 4.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the engine against baselines.")
    parser.add_argument("--short", action="store_true", help="a quick smoke run of the harness")
    parser.add_argument(
        "--long",
        action="store_true",
        help=f"allow {LONG_BUDGET:.0f} s, so that loading 10,000 flows finishes",
    )
    args = parser.parse_args(argv)
    plan, started = Plan(args.short, args.long), time.monotonic()
    os.sched_setaffinity(0, {LOAD_CORE})

    with tempfile.TemporaryDirectory(prefix="ringback-bench-") as folder:
        work = Path(folder)
        http = _http(work, plan, started)
        offline = _offline(work, plan, started)

    results = {
        "meta": _meta(plan, args.short),
        **http,
        **offline,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    _save(results)
    print(_summary(results))
    return 0 if results["checks"]["ok"] else 1


# --- HTTP ---------------------------------------------------------------------------


@dataclass
class OnPostgres:
    """The engine in a second process, its store on PostgreSQL: `/voice` only."""

    schema: postgres.Schema
    port: int
    server: subprocess.Popen[bytes]
    checks: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)


def _http(work: Path, plan: Plan, started: float) -> dict[str, Any]:
    db = f"sqlite:///{work / 'bench.db'}"
    _within_budget(started, "prepare")
    files = _prepare(work, db, plan)
    _within_budget(started, "server")
    schema, skipped = postgres.open_schema(postgres.base_url())
    if skipped:
        print(f"bench: {skipped}; its row is skipped", file=sys.stderr, flush=True)
    port = _free_port()
    server = _serve(work, port, db, "server.log")
    pg = _on_postgres(work, schema) if schema else None
    try:
        wait_until_up(port)
        checks = _check(port, files)
        serving = _check_postgres(pg, files) if pg else None
        throughput = _throughput(port, server.pid, files, plan, started, serving)
        latency = _latency(port, server.pid, files, plan, throughput, started)
        checks["texts"] = _texts_queued(db, throughput, plan)
        on_postgres = _postgres_results(pg, skipped, throughput, plan)
    finally:
        _stop(server, pg)
    checks["ok"] = (
        checks["identical"]
        and checks["refused_bad_signature"]
        and not _bad(throughput, latency)
        and checks["texts"]["ok"]
        and on_postgres["checks"]["ok"]
    )
    return {
        "checks": checks,
        "throughput": throughput,
        "latency": latency,
        "postgres": on_postgres,
    }


def _serve(work: Path, port: int, db: str, log: str) -> subprocess.Popen[bytes]:
    """`bench/app.py` on `db`, pinned to the server's core."""
    command = ["taskset", "-c", str(SERVER_CORE), sys.executable, str(REPO / "bench" / "app.py")]
    return subprocess.Popen(
        [*command, str(port), db],
        stdout=subprocess.DEVNULL,
        stderr=open(work / log, "w"),
    )


def _stop(server: subprocess.Popen[bytes], pg: OnPostgres | None) -> None:
    """Both servers stopped, then the run's schema dropped with everything in it."""
    servers = [server] + ([pg.server] if pg else [])
    for process in servers:
        process.terminate()
    for process in servers:
        process.wait(timeout=15)
    if pg:
        postgres.drop_schema(pg.schema)


def _prepare(work: Path, db: str, plan: Plan) -> dict[tuple[str, int], Path]:
    """Signed calls for each path and run (slot 0: warm-up and checks); seeds the store."""
    slots = range(plan.repetitions + 2)  # + warm-up, + latency
    latency = plan.repetitions + 1
    jobs = [
        (kind, slot, _calls(plan, kind, slot))
        for kind in PATHS
        for slot in slots
        if kind == "voice" or slot != latency
    ]
    with ProcessPoolExecutor(max_workers=2) as pool:
        lines = dict(zip(jobs, pool.map(_signed_lines, jobs), strict=True))
    files: dict[tuple[str, int], Path] = {}
    for (kind, slot, _), text in lines.items():
        path = work / f"{kind}-{slot}.txt"
        path.write_text(text)
        files[(kind, slot)] = path
    for kind in ("dial", "status"):
        requests = [r for slot in slots[:-1] for r in _requests(kind, slot, plan.calls_per_run)]
        bench_calls.seed(db, kind, requests)
    for kind in PATHS:
        (work / f"{kind}.xml").write_text(CONSTANT[kind])
    return files


def _calls(plan: Plan, kind: str, slot: int) -> int:
    if slot == plan.repetitions + 1:  # fresh calls for each latency run of the engine
        return int(plan.max_rate * plan.latency_seconds * plan.repetitions * 2)  # + reruns
    return plan.calls_per_run


def _requests(kind: str, slot: int, count: int) -> list[bench_calls.Signed]:
    start = CALLER_BASE[kind] + slot * 10_000
    return list(bench_calls.signed(kind, slot, start, count))


def _signed_lines(job: tuple[str, int, int]) -> str:
    kind, slot, count = job
    return "".join(f"{r.signature}\t{r.body}\n" for r in _requests(kind, slot, count))


def _target(
    port: int, files: dict[tuple[str, int], Path], kind: str, slot: int, variant: str
) -> Target:
    path = bench_calls.ENGINE_PATHS[kind] if variant == "engine" else f"/bench/{variant}/{kind}"
    return Target(port, path, files[(kind, slot)], files[(kind, slot)].parent / f"{kind}.xml")


def _check(port: int, files: dict[tuple[str, int], Path]) -> dict[str, Any]:
    """Every variant answers the same bytes; the engine refuses a wrong signature."""
    identical, refused = True, True
    for kind in PATHS:
        signature, body = files[(kind, 0)].read_text().splitlines()[-1].split("\t", 1)
        for variant in VARIANTS:
            path = _target(port, files, kind, 0, variant).path
            identical &= _answers(port, path, body, signature) == (200, CONSTANT[kind])
        forged = _answers(port, bench_calls.ENGINE_PATHS[kind], body, "Zm9yZ2Vk")
        refused &= forged[0] == 403
    return {"identical": identical, "refused_bad_signature": refused}


def _answers(port: int, path: str, body: str, signature: str) -> tuple[int, str]:
    import httpx

    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    response = httpx.post(f"http://127.0.0.1:{port}{path}", content=body, headers=headers)
    return response.status_code, response.text


def _on_postgres(work: Path, schema: postgres.Schema) -> OnPostgres:
    port = _free_port()
    return OnPostgres(schema, port, _serve(work, port, schema.url, "server-postgres.log"))


def _check_postgres(pg: OnPostgres, files: dict[tuple[str, int], Path]) -> OnPostgres | None:
    """The engine on PostgreSQL answers `/voice` as the one on SQLite does, and refuses a
    wrong signature; None (noted in `pg.checks`) when it did not start."""
    try:
        wait_until_up(pg.port)
    except RuntimeError as exc:
        pg.checks = {"started": False, "error": f"{exc} (see server-postgres.log)"}
        return None
    signature, body = files[("voice", 0)].read_text().splitlines()[-1].split("\t", 1)
    path = bench_calls.ENGINE_PATHS["voice"]
    pg.checks = {
        "started": True,
        "identical": _answers(pg.port, path, body, signature) == (200, CONSTANT["voice"]),
        "refused_bad_signature": _answers(pg.port, path, body, "Zm9yZ2Vk")[0] == 403,
    }
    return pg


def _throughput(
    port: int,
    pid: int,
    files: dict[tuple[str, int], Path],
    plan: Plan,
    started: float,
    pg: OnPostgres | None,
) -> dict[str, Any]:
    """wrk on every path and variant; also the server's CPU time per request, a figure that
    other work on the machine disturbs far less than requests per second. The engine on
    PostgreSQL takes its turn among the `/voice` variants (its runs go to `pg.runs`)."""
    _within_budget(started, "warm-up")
    for kind in PATHS:
        for variant in VARIANTS:
            wrk(_target(port, files, kind, 0, variant), plan.warmup, plan.connections)
    if pg:
        wrk(_target(pg.port, files, "voice", 0, "engine"), plan.warmup, plan.connections)
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        kind: {variant: [] for variant in VARIANTS} for kind in PATHS
    }
    for rep in range(1, plan.repetitions + 1):
        _within_budget(started, "throughput")
        for kind in PATHS:
            variants = (*VARIANTS, "postgres") if pg and kind == "voice" else VARIANTS
            for variant in _rotated(variants, rep):
                if pg and variant == "postgres":
                    pg.runs.append(_postgres_run(pg, files, rep, plan))
                    continue
                target = _target(port, files, kind, rep, variant)
                result = _timed(pid, partial(wrk, target, plan.seconds, plan.connections))
                result["cpu_us"] = result["server_cpu_s"] * 1e6 / max(result["requests"], 1)
                runs[kind][variant].append(result)
    return {
        kind: _summarise(runs[kind], "rps", higher_is_better=True)
        | {"cpu": _summarise(runs[kind], "cpu_us", higher_is_better=False)}
        | {
            "others_on_core": _spread(
                [r["others_on_core"] for v in VARIANTS for r in runs[kind][v]]
            )
        }
        for kind in PATHS
    }


def _postgres_run(
    pg: OnPostgres, files: dict[tuple[str, int], Path], rep: int, plan: Plan
) -> dict[str, Any]:
    """One wrk run on the engine on PostgreSQL, with the same calls the engine on SQLite
    gets in this repetition (fresh in the other store); its backends' CPU time counted."""
    target = _target(pg.port, files, "voice", rep, "engine")
    before = postgres.backend_cpu(pg.schema)
    result = _timed(pg.server.pid, partial(wrk, target, plan.seconds, plan.connections))
    backends = postgres.cpu_spent(before, postgres.backend_cpu(pg.schema))
    requests = max(result["requests"], 1)
    result["cpu_us"] = result["server_cpu_s"] * 1e6 / requests
    result["db_cpu_us"] = backends * 1e6 / requests
    result["both_cpu_us"] = result["cpu_us"] + result["db_cpu_us"]
    return result


def _core_busy(core: int) -> float:
    """Seconds the core has spent on anything but idling (`/proc/stat`): with the server's
    own time taken away, how much other processes disturbed a run."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            ticks = [int(value) for value in line.split()[1:]]
            busy = sum(ticks[:3]) + sum(ticks[5:8])  # user nice system, irq softirq steal
            return busy / os.sysconf("SC_CLK_TCK")
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User and system time of the server process so far (`/proc/PID/stat`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _latency(
    port: int,
    pid: int,
    files: dict[tuple[str, int], Path],
    plan: Plan,
    throughput: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    """p50/p99 on /voice at one offered rate, a third of the slowest variant's throughput.

    A run during which other processes took more than `plan.disturbed` of the server's
    core is run once more, and the second run counts (both are kept in the results).
    """
    slowest = min(throughput["voice"][v]["median"] for v in VARIANTS)
    rate = min(plan.max_rate, max(10.0, round(slowest / 3, -1)))
    runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in VARIANTS}
    retried: list[dict[str, float]] = []
    engine_runs = 0
    for rep in range(1, plan.repetitions + 1):
        _within_budget(started, "latency")
        for variant in _rotated(VARIANTS, rep):
            for attempt in range(2):
                target = _target(port, files, "voice", plan.repetitions + 1, variant)
                if variant == "engine":  # fresh calls for every engine run
                    engine_runs += 1
                    target = _slice(target, engine_runs, int(rate * plan.latency_seconds))
                load = partial(
                    fixed_rate, target, rate, plan.latency_seconds, plan.latency_connections
                )
                result = _timed(pid, load)
                if attempt == 0 and result["others_on_core"] > plan.disturbed:
                    retried.append(result | {"variant": variant})
                    continue
                runs[variant].append(result)
                break
    return {
        "path": "voice",
        "rate": rate,
        "seconds": plan.latency_seconds,
        **_summarise(runs, "p99_ms", higher_is_better=False),
        "others_on_core": _spread([r["others_on_core"] for v in VARIANTS for r in runs[v]]),
        "disturbed_and_run_again": retried,
    }


def _timed(pid: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`run()`, with the share of the server's core other processes took meanwhile."""
    cpu, core, wall = _cpu_seconds(pid), _core_busy(SERVER_CORE), time.monotonic()
    result: dict[str, Any] = run()
    cpu, core = _cpu_seconds(pid) - cpu, _core_busy(SERVER_CORE) - core
    result["others_on_core"] = round(max(core - cpu, 0) / (time.monotonic() - wall), 3)
    result["server_cpu_s"] = round(cpu, 3)
    return result


def _slice(target: Target, part: int, count: int) -> Target:
    """The `part`-th slice of `count` calls (from 1): fresh calls for one engine run."""
    lines = target.calls.read_text().splitlines()[(part - 1) * count : part * count]
    if len(lines) < count:
        raise ValueError(f"{target.calls} has too few calls for engine run {part}")
    sliced = target.calls.with_name(f"{target.calls.stem}-part{part}.txt")
    sliced.write_text("\n".join(lines) + "\n")
    return Target(target.port, target.path, sliced, target.expected)


def _rotated(items: tuple[str, ...], rep: int) -> tuple[str, ...]:
    shift = rep % len(items)
    return items[shift:] + items[:shift]


def _summarise(
    runs: dict[str, list[dict[str, float]]], key: str, higher_is_better: bool
) -> dict[str, Any]:
    """Per variant: every run and the median; per baseline: the engine's ratio to it."""
    summary: dict[str, Any] = {
        variant: {"median": round(statistics.median(r[key] for r in results), 3), "runs": results}
        for variant, results in runs.items()
    }
    for baseline in ("hand", "twiml"):
        ratios = [e[key] / b[key] for e, b in zip(runs["engine"], runs[baseline], strict=True)]
        summary[f"engine_vs_{baseline}"] = _spread(ratios)
    summary["key"] = key
    summary["higher_is_better"] = higher_is_better
    return summary


def _spread(values: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


def _bad(throughput: dict[str, Any], latency: dict[str, Any]) -> int:
    bad = 0
    for kind in PATHS:
        for variant in VARIANTS:
            for run in throughput[kind][variant]["runs"]:
                bad += run["bad"] + run["errors"] + (run["wrapped"] if variant == "engine" else 0)
    for variant in VARIANTS:
        bad += sum(run["bad"] for run in latency[variant]["runs"])
    return bad


def _texts_queued(db: str, throughput: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """Every dial action the engine answered queued one text, and it went out (dry run)."""
    from sqlalchemy import create_engine, text

    answered = sum(r["requests"] for r in throughput["dial"]["engine"]["runs"])
    engine = create_engine(db)
    with engine.connect() as connection:
        rows: dict[str, int] = dict(
            connection.execute(
                text(
                    "SELECT status, count(*) FROM messages WHERE call_sid LIKE 'CAd%'"
                    " AND substr(call_sid, 4, 3) != '000' GROUP BY status"
                )
            ).all()
        )
    engine.dispose()
    decided = sum(rows.values())
    # wrk stops with requests in flight: the engine may have decided a few it never answered
    in_flight = plan.repetitions * plan.connections
    return {
        "dial_answered": answered,
        "texts_by_status": rows,
        "ok": answered <= decided <= answered + in_flight,
    }


def _postgres_results(
    pg: OnPostgres | None, skipped: str, throughput: dict[str, Any], plan: Plan
) -> dict[str, Any]:
    """`/voice` on PostgreSQL beside SQLite: medians, and ratios within a repetition.

    Checked besides every response: each `/voice` answered recorded its call (wrk stops
    with requests in flight, which may be recorded and not counted as answered).
    """
    if pg is None:
        return {"available": False, "skipped": skipped, "checks": {"ok": True}}
    shown = {"available": True, "url": postgres.shown(pg.schema.base)}
    if not pg.checks["started"]:
        return shown | {"checks": pg.checks | {"ok": False}}
    runs, sqlite = pg.runs, throughput["voice"]["engine"]["runs"]
    answered = sum(r["requests"] for r in runs)
    recorded = postgres.calls_recorded(pg.schema, "CAv")  # `bench_calls.sid` of /voice
    in_flight = plan.repetitions * plan.connections
    checks = pg.checks | {
        "calls": {"answered": answered, "recorded": recorded},
        "bad": sum(r["bad"] + r["errors"] + r["wrapped"] for r in runs),
    }
    checks["ok"] = (
        checks["identical"]
        and checks["refused_bad_signature"]
        and answered <= recorded <= answered + in_flight
        and not checks["bad"]
    )
    pairs = list(zip(runs, sqlite, strict=True))
    return shown | {
        "settings": postgres.server_settings(pg.schema),
        "path": "voice",
        **{key: _median(runs, key) for key in ("rps", "cpu_us", "db_cpu_us", "both_cpu_us")},
        "vs_sqlite": _spread([p["rps"] / s["rps"] for p, s in pairs]),
        "cpu_vs_sqlite": _spread([p["both_cpu_us"] / s["cpu_us"] for p, s in pairs]),
        "others_on_core": _spread([r["others_on_core"] for r in runs]),
        "runs": runs,
        "checks": checks,
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(r[key] for r in runs)), 3)


# --- without HTTP -------------------------------------------------------------------


def _offline(work: Path, plan: Plan, started: float) -> dict[str, Any]:
    """Flow loading: the small set then the simulator on one core, the large set on the
    other, all at once; the large set gets what is left of the budget."""
    from bench.inprocess import generate_flows

    _within_budget(started, "flows", plan.budget)
    small, large = plan.flow_counts
    for count in plan.flow_counts:
        generate_flows(work / f"flows-{count}", count)
    large_job = _inprocess(LOAD_CORE, "flows", str(work / f"flows-{large}"))
    small_job = _inprocess(SERVER_CORE, "flows", str(work / f"flows-{small}"))
    reserve = plan.simulate_seconds + 10  # the simulator's turn on this core, then stopping
    loading = {str(small): _collect(small_job, _left(started, plan) - reserve)}
    simulator = _collect(
        _inprocess(SERVER_CORE, "simulate", str(plan.simulate_seconds)),
        min(_left(started, plan) - 3, plan.simulate_seconds + 30),
    )
    loading[str(large)] = _collect(large_job, _left(started, plan) - 3)
    return {"flow_loading": loading, "simulator": simulator}


def _left(started: float, plan: Plan) -> float:
    return plan.budget - (time.monotonic() - started)


def _inprocess(core: int, kind: str, arg: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "taskset",
            "-c",
            str(core),
            sys.executable,
            str(REPO / "bench" / "inprocess.py"),
            kind,
            arg,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _collect(job: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    try:
        out, err = job.communicate(timeout=max(timeout, 1.0))
    except subprocess.TimeoutExpired:
        job.terminate()  # a flow load reports how far it got
        try:
            out, err = job.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            job.kill()
            out, err = job.communicate()
        if not out.strip():
            return {"error": f"stopped after {timeout:.0f} s: over the run's time budget"}
    if job.returncode != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else "failed"}
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- bookkeeping --------------------------------------------------------------------


def _within_budget(started: float, phase: str, budget: float = BUDGET) -> None:
    print(f"bench: {time.monotonic() - started:6.1f} s  {phase}", file=sys.stderr, flush=True)
    if time.monotonic() - started > budget:
        raise SystemExit(f"bench: over the {budget:.0f} s budget before {phase}; stopped")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _meta(plan: Plan, short: bool) -> dict[str, Any]:
    packages = (
        "starlette",
        "uvicorn",
        "h11",
        "twilio",
        "sqlalchemy",
        "psycopg",
        "python-multipart",
        "ruamel.yaml",
        "pydantic",
    )
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain")),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "versions": {name: metadata.version(name) for name in packages} | {"wrk": _wrk_version()},
        "plan": {**vars(plan), "short": short, "server_core": SERVER_CORE, "load_core": LOAD_CORE},
    }


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).split("\n")[0]
    return first.split(" Copyright")[0].removeprefix("wrk ").strip()


def _save(results: dict[str, Any]) -> None:
    folder = REPO / "bench" / "results"
    folder.mkdir(exist_ok=True)
    stamp = results["meta"]["when"].replace(":", "").replace("+0000", "Z")
    text = json.dumps(results, indent=1)
    (folder / f"{stamp}.json").write_text(text)
    (folder / "latest.json").write_text(text)
    if not results["meta"]["plan"]["short"]:
        write_markdown(results, REPO / "bench" / "RESULTS.md")


def _summary(results: dict[str, Any]) -> str:
    lines = []
    for kind in PATHS:
        t = results["throughput"][kind]
        lines.append(
            f"{kind:7s} engine {t['engine']['median']:7.0f} req/s  hand {t['hand']['median']:7.0f}"
            f"  twiml {t['twiml']['median']:7.0f}  engine/hand {t['engine_vs_hand']['median']:.2f}"
            f" ({t['engine_vs_hand']['min']:.2f}-{t['engine_vs_hand']['max']:.2f})"
            f"  engine/twiml {t['engine_vs_twiml']['median']:.2f}"
            f"  cpu us engine {t['cpu']['engine']['median']:.0f}"
            f" hand {t['cpu']['hand']['median']:.0f}"
            f"  others on core {t['others_on_core']['median']:.0%}"
        )
    lat = results["latency"]
    lines.append(
        f"latency /voice at {lat['rate']:.0f}/s: p99 engine {lat['engine']['median']:.1f} ms,"
        f" hand {lat['hand']['median']:.1f} ms, ratio {lat['engine_vs_hand']['median']:.2f}"
    )
    pg = results["postgres"]
    if pg.get("rps"):
        lines.append(
            f"voice on PostgreSQL {pg['rps']:.0f} req/s, {pg['vs_sqlite']['median']:.2f} of"
            f" SQLite's ({pg['vs_sqlite']['min']:.2f}-{pg['vs_sqlite']['max']:.2f});"
            f" cpu us engine {pg['cpu_us']:.0f} + PostgreSQL {pg['db_cpu_us']:.0f}"
        )
    else:
        lines.append(f"voice on PostgreSQL: {pg.get('skipped') or pg['checks']}")
    lines.append(f"flows: {json.dumps(results['flow_loading'])}")
    lines.append(f"simulator: {json.dumps(results['simulator'])}")
    lines.append(f"checks: {json.dumps(results['checks'])}; {results['wall_seconds']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
