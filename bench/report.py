"""`bench/RESULTS.md`: the last full run as tables a person can read and diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TITLES = {
    "voice": "`POST /voice` (first webhook)",
    "dial": "`POST /voice/dial` (busy, text queued)",
    "status": "`POST /voice/status` (completed)",
}
VARIANT_NAMES = {"engine": "engine", "hand": "hand-written", "twiml": "VoiceResponse"}


def write_markdown(results: dict[str, Any], target: Path) -> None:
    sections = [
        _heading(results),
        _throughput(results),
        _cpu(results),
        _postgres(results),
        _latency(results),
        _offline(results),
        _checks(results),
    ]
    target.write_text("\n\n".join("\n".join(s) for s in sections) + "\n", encoding="utf-8")


def _heading(results: dict[str, Any]) -> list[str]:
    meta, plan = results["meta"], results["meta"]["plan"]
    dirty = " with uncommitted changes" if meta["dirty"] else ""
    mode = " (`--long`: the 10,000-flow load may finish)" if plan["budget"] > 180 else ""
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    return [
        "# Benchmark results",
        "",
        "Written by `bench/run.py` (its docstring says how; the README's Performance section",
        "says what the figures mean). All figures of this run: `bench/results/latest.json`.",
        "",
        (
            f"Run {meta['when']} on commit `{meta['commit'][:10]}`{dirty}; Python"
            f" {meta['python']}, {meta['cpus']} cores, load average before the run"
            f" {meta['load_average'][0]:.2f}; {results['wall_seconds']} s in all{mode}."
        ),
        f"Versions: {versions}.",
        "",
        (
            f"One uvicorn worker (h11, access log off) on core {plan['server_core']}, the load"
            f" on core {plan['load_core']}. wrk: {plan['connections']} connections,"
            f" {plan['seconds']} s a run, {plan['repetitions']} repetitions after a warm-up, the"
            " three variants interleaved. Ratios are taken within a repetition and given as"
            " median (min-max)."
        ),
    ]


def _throughput(results: dict[str, Any]) -> list[str]:
    lines = [
        "## Throughput (requests per second, median)",
        "",
        (
            "| path | engine | hand-written, constant TwiML | VoiceResponse"
            " | engine / hand-written | engine / VoiceResponse |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, title in TITLES.items():
        t = results["throughput"][kind]
        lines.append(
            f"| {title} | {t['engine']['median']:.0f} | {t['hand']['median']:.0f}"
            f" | {t['twiml']['median']:.0f} | {_ratio(t['engine_vs_hand'])}"
            f" | {_ratio(t['engine_vs_twiml'])} |"
        )
    others = [results["throughput"][kind]["others_on_core"] for kind in TITLES]
    lines += [
        "",
        (
            "Other processes on the server's core during these runs: median"
            f" {max(o['median'] for o in others):.0%}, at worst {max(o['max'] for o in others):.0%}"
            " of the core. The machine is shared: past a few percent, requests per second are"
            " disturbed, and the CPU time per request below is the steadier figure."
        ),
    ]
    return lines


def _cpu(results: dict[str, Any]) -> list[str]:
    lines = [
        "## Server CPU time per request (microseconds, median)",
        "",
        "Read from `/proc` around each wrk run, so other work on the machine disturbs it far",
        "less than requests per second. The last column is the engine's cost in hand-written",
        "webhooks.",
        "",
        "| path | engine | hand-written | VoiceResponse | engine / hand-written |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, title in TITLES.items():
        c = results["throughput"][kind]["cpu"]
        lines.append(
            f"| {title} | {c['engine']['median']:.0f} | {c['hand']['median']:.0f}"
            f" | {c['twiml']['median']:.0f} | {_ratio(c['engine_vs_hand'])} |"
        )
    return lines


def _postgres(results: dict[str, Any]) -> list[str]:
    pg = results.get("postgres", {"available": False, "skipped": "not measured"})
    lines = ["## `POST /voice` on PostgreSQL beside SQLite", ""]
    if not pg["available"]:
        return [*lines, f"Skipped: {pg['skipped']}."]
    if "rps" not in pg:
        return [*lines, f"The engine on PostgreSQL did not serve: {pg['checks']}."]
    settings = pg["settings"]
    voice = results["throughput"]["voice"]["engine"]
    sqlite_cpu = results["throughput"]["voice"]["cpu"]["engine"]["median"]
    return [
        *lines,
        (
            "The engine again, in a second process pinned to the same core, its store a fresh"
            f" schema on PostgreSQL {settings['server_version']} on this machine"
            f" (synchronous_commit {settings['synchronous_commit']}), sent the same requests;"
            " its runs take their turn among the `/voice` variants above. PostgreSQL's"
            " backends are not pinned: their CPU time is counted apart. SQLite runs in the"
            " engine's process (WAL, synchronous NORMAL)."
        ),
        "",
        "| store | requests/s | engine CPU µs | PostgreSQL CPU µs | CPU µs in all |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| SQLite | {voice['median']:.0f} | {sqlite_cpu:.0f} | | {sqlite_cpu:.0f} |",
        (
            f"| PostgreSQL | {pg['rps']:.0f} | {pg['cpu_us']:.0f} | {pg['db_cpu_us']:.0f}"
            f" | {pg['both_cpu_us']:.0f} |"
        ),
        "",
        (
            f"PostgreSQL / SQLite: throughput {_ratio(pg['vs_sqlite'])}, CPU in all a request"
            f" {_ratio(pg['cpu_vs_sqlite'])}. Other work on the server's core during the"
            f" PostgreSQL runs (its backends' share of it included): median"
            f" {pg['others_on_core']['median']:.0%}."
        ),
    ]


def _latency(results: dict[str, Any]) -> list[str]:
    lat = results["latency"]
    lines = [
        f"## Latency on `/voice` at a fixed {lat['rate']:.0f} requests per second",
        "",
        (
            f"Open loop, {lat['seconds']} s a run, each request timed from when it was due;"
            " median of the runs' percentiles."
        ),
        "",
        "| variant | p50 ms | p99 ms |",
        "| --- | ---: | ---: |",
    ]
    for variant, name in VARIANT_NAMES.items():
        runs = lat[variant]["runs"]
        p50 = sorted(r["p50_ms"] for r in runs)[len(runs) // 2]
        lines.append(f"| {name} | {p50:.2f} | {lat[variant]['median']:.2f} |")
    lines += [
        "",
        (
            f"p99, engine / hand-written: {_ratio(lat['engine_vs_hand'])}. Other processes on"
            f" the server's core: median {lat['others_on_core']['median']:.0%}, at worst"
            f" {lat['others_on_core']['max']:.0%}."
        ),
    ]
    return lines


def _offline(results: dict[str, Any]) -> list[str]:
    lines = ["## Without HTTP", "", "| measurement | result |", "| --- | --- |"]
    for count, loaded in results["flow_loading"].items():
        lines.append(f"| loading {int(count):,} generated flows | {_loading(loaded)} |")
    sim = results["simulator"]
    simulated = sim.get("error") or (
        f"{sim['calls_per_second']} calls/s through `{sim['runner']}`, each on a fresh"
        " in-process engine and store"
    )
    lines.append(f"| simulated calls (busy line, one text) | {simulated} |")
    return lines


def _checks(results: dict[str, Any]) -> list[str]:
    checks = results["checks"]
    texts = checks["texts"]
    pg = results.get("postgres", {}).get("checks", {})
    calls = pg.get("calls")
    on_postgres = (
        f" On PostgreSQL: the same TwiML {pg['identical']}, forged signature refused"
        f" {pg['refused_bad_signature']}, calls recorded {calls['recorded']} for"
        f" {calls['answered']} answered."
        if calls
        else ""
    )
    verdict = "every response as expected" if checks["ok"] else "SOME CHECKS FAILED"
    return [
        "## Checks",
        "",
        (
            f"Byte-identical TwiML from the three variants on every path: {checks['identical']};"
            f" forged signature refused: {checks['refused_bad_signature']}; texts decided on the"
            f" dial runs: {texts['texts_by_status']} for {texts['dial_answered']} answered;"
            f" {verdict}.{on_postgres}"
        ),
    ]


def _ratio(spread: dict[str, float]) -> str:
    return f"{spread['median']:.2f} ({spread['min']:.2f}-{spread['max']:.2f})"


def _loading(loaded: dict[str, Any]) -> str:
    if "error" in loaded:
        return str(loaded["error"])
    if loaded.get("stopped"):
        return (
            f"stopped by the time budget after {loaded['loaded']:,} flows in"
            f" {loaded['seconds']:.1f} s ({loaded['ms_per_flow']:.2f} ms a flow; all"
            f" {loaded['flows']:,} at that pace: {loaded['projected_seconds']:.0f} s),"
            f" peak memory +{loaded['peak_mib']:.0f} MiB so far"
        )
    return (
        f"{loaded['seconds']:.1f} s ({loaded['ms_per_flow']:.2f} ms a flow),"
        f" peak memory +{loaded['peak_mib']:.0f} MiB, {loaded['refused']} refused"
    )
