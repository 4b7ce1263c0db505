"""`bench/RESULTS.md`: the last full run as tables a person can read and diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TITLES = {"voice": "`POST /voice` (first webhook)", "dial": "`POST /voice/dial` (busy, text queued)",
          "status": "`POST /voice/status` (completed)"}


def write_markdown(results: dict[str, Any], target: Path) -> None:
    target.write_text("\n".join(_document(results)) + "\n", encoding="utf-8")


def _document(results: dict[str, Any]) -> list[str]:
    meta = results["meta"]
    plan = meta["plan"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `bench/run.py` (see its docstring and the README's Performance section);",
        "the full figures of this run are in `bench/results/latest.json` (not committed).",
        "",
        f"Run {meta['when']} on commit `{meta['commit'][:10]}`"
        f"{' with uncommitted changes' if meta['dirty'] else ''}; Python {meta['python']},"
        f" {meta['cpus']} cores, load average before the run {meta['load_average'][0]:.2f};"
        f" {results['wall_seconds']} s in all.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
        f"Server: one uvicorn worker on core {plan['server_core']}; load on core"
        f" {plan['load_core']}. Throughput: wrk, {plan['connections']} connections,"
        f" {plan['seconds']} s a run, {plan['repetitions']} interleaved repetitions after a"
        " warm-up. Ratios are taken within each repetition: median (min-max).",
        "",
        "## Throughput (requests per second, median)",
        "",
        "| path | engine | hand-written, constant TwiML | VoiceResponse | engine / hand-written"
        " | engine / VoiceResponse |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, title in TITLES.items():
        t = results["throughput"][kind]
        lines.append(
            f"| {title} | {t['engine']['median']:.0f} | {t['hand']['median']:.0f}"
            f" | {t['twiml']['median']:.0f} | {_ratio(t['engine_vs_hand'])}"
            f" | {_ratio(t['engine_vs_twiml'])} |"
        )
    lines += [
        "",
        "## Server CPU time per request (microseconds, median)",
        "",
        "Read from `/proc` around each wrk run: less disturbed than requests per second by",
        "other work on the machine. The last column is how many times the engine's cost the",
        "hand-written webhook's is.",
        "",
        "| path | engine | hand-written | VoiceResponse | engine cost / hand-written |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, title in TITLES.items():
        c = results["throughput"][kind]["cpu"]
        lines.append(
            f"| {title} | {c['engine']['median']:.0f} | {c['hand']['median']:.0f}"
            f" | {c['twiml']['median']:.0f} | {_ratio(c['engine_vs_hand'])} |"
        )
    lat = results["latency"]
    lines += [
        "",
        f"## Latency on `/voice` at a fixed {lat['rate']:.0f} requests per second",
        "",
        f"Open loop, {lat['seconds']} s a run, latency counted from when each request was due;"
        " median of the runs' percentiles, ratio within each repetition.",
        "",
        "| variant | p50 ms | p99 ms |",
        "| --- | ---: | ---: |",
    ]
    for variant, name in (("engine", "engine"), ("hand", "hand-written"),
                          ("twiml", "VoiceResponse")):
        runs = lat[variant]["runs"]
        p50 = sorted(r["p50_ms"] for r in runs)[len(runs) // 2]
        lines.append(f"| {name} | {p50:.2f} | {lat[variant]['median']:.2f} |")
    lines += [
        "",
        f"p99 engine / hand-written: {_ratio(lat['engine_vs_hand'])}.",
        "",
        "## Without HTTP",
        "",
        "| measurement | result |",
        "| --- | --- |",
    ]
    for count, loaded in results["flow_loading"].items():
        lines.append(f"| loading {int(count):,} generated flows | {_loading(loaded)} |")
    sim = results["simulator"]
    simulated = (f"{sim['calls_per_second']} calls/s through `{sim['runner']}`"
                 if "error" not in sim else sim["error"])
    lines.append(f"| simulated calls (busy line, one text) | {simulated} |")
    checks = results["checks"]
    lines += [
        "",
        f"Checks: identical TwiML from all variants: {checks['identical']}; forged signature"
        f" refused: {checks['refused_bad_signature']}; texts decided for dial actions:"
        f" {checks['texts']['texts_by_status']} for {checks['texts']['dial_answered']} answered;"
        f" every response checked: {'all good' if checks['ok'] else 'SOME BAD'}.",
    ]
    return lines


def _ratio(spread: dict[str, float]) -> str:
    return f"{spread['median']:.2f} ({spread['min']:.2f}-{spread['max']:.2f})"


def _loading(loaded: dict[str, Any]) -> str:
    if "error" in loaded:
        return str(loaded["error"])
    if loaded.get("stopped"):
        return (f"stopped by the time budget after {loaded['loaded']:,} flows in"
                f" {loaded['seconds']:.1f} s ({loaded['ms_per_flow']:.2f} ms a flow; all"
                f" {loaded['flows']:,} at that pace: {loaded['projected_seconds']:.0f} s),"
                f" peak memory +{loaded['peak_mib']:.0f} MiB so far")
    return (f"{loaded['seconds']:.1f} s ({loaded['ms_per_flow']:.2f} ms a flow),"
            f" peak memory +{loaded['peak_mib']:.0f} MiB, {loaded['refused']} refused")
