"""The two load generators: wrk for throughput, a bounded Python client for latency.

Both send prepared requests (one call each, signed) and check every response: status 200
and exactly the expected TwiML. A run that saw a single bad response is reported as such
by `run.py`, and its figures are not trusted.

wrk is closed-loop: each connection sends its next request when the last one is answered,
which measures capacity but hides queueing. Latency is therefore measured open-loop, at a
fixed offered rate: request `i` is due at `start + i / rate` whether or not earlier ones
were answered, and its latency counts from when it was due, so a stalled server is charged
for every request that waited behind it (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "check.lua"


@dataclass(frozen=True)
class Target:
    """Where to send: the server, the path, the prepared calls and the expected answer."""

    port: int
    path: str
    calls: Path  # "signature<TAB>body" lines
    expected: Path


def wrk(target: Target, seconds: float, connections: int) -> dict[str, float]:
    """One closed-loop wrk run; requests per second and what `check.lua` counted."""
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{target.port}",
        "--",
        str(target.calls),
        target.path,
        str(target.expected),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def fixed_rate(target: Target, rate: float, seconds: float, connections: int) -> dict[str, float]:
    """Offer `rate` requests a second for `seconds`; latency percentiles in milliseconds."""
    return asyncio.run(_fixed_rate(target, rate, seconds, connections))


async def _fixed_rate(
    target: Target, rate: float, seconds: float, connections: int
) -> dict[str, float]:
    requests = _raw_requests(target, int(rate * seconds))
    expected = target.expected.read_bytes()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", target.port))

    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    bad = 0

    async def one(due: float, raw: bytes) -> None:
        nonlocal bad
        reader, writer = await idle.get()
        writer.write(raw)
        ok = await _response_ok(reader, expected)
        latencies.append(loop.time() - due)
        idle.put_nowait((reader, writer))
        bad += not ok

    start = loop.time() + 0.05
    tasks = []
    for index, raw in enumerate(requests):
        due = start + index / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        tasks.append(asyncio.create_task(one(due, raw)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait()[1].close()
    return _percentiles(latencies) | {"requests": len(latencies), "bad": bad, "rate": rate}


def _raw_requests(target: Target, count: int) -> list[bytes]:
    lines = target.calls.read_text().splitlines()
    if len(lines) < count:
        raise ValueError(f"{target.calls} holds {len(lines)} calls, {count} are needed")
    raws = []
    for line in lines[:count]:
        signature, body = line.split("\t", 1)
        data = body.encode()
        raws.append(
            f"POST {target.path} HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
    return raws


async def _response_ok(reader: asyncio.StreamReader, expected: bytes) -> bool:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    return head.startswith(b"HTTP/1.1 200 ") and body == expected


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 3)

    return {"p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99), "max_ms": at(1.0)}


def wait_until_up(port: int, timeout: float = 20.0) -> None:
    """Wait for the server's /healthz to answer 200."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the bench server did not answer on port {port} in {timeout:g} s")
