"""Blocking work handed to the engine's own threads comes back to the request that sent it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from engine._handoff import Handoff


def test_a_result_and_an_exception_come_back_to_their_requests() -> None:
    handoff = Handoff()

    def fail() -> None:
        raise LookupError("no such call")

    async def main() -> None:
        assert await handoff.run(pow, 2, 10) == 1024
        with pytest.raises(LookupError, match="no such call"):
            await handoff.run(fail)

    asyncio.run(main())


def test_many_requests_at_once_take_turns_on_one_thread() -> None:
    handoff = Handoff(threads=1)
    running, seen = [0], set()

    def job(number: int) -> int:
        running[0] += 1
        assert running[0] == 1, "two jobs ran at once"
        seen.add(threading.get_ident())
        time.sleep(0.001)
        running[0] -= 1
        return number * 2

    async def main() -> list[int]:
        return await asyncio.gather(*(handoff.run(job, n) for n in range(50)))

    assert asyncio.run(main()) == [n * 2 for n in range(50)]
    assert len(seen) == 1 and threading.get_ident() not in seen


def test_an_idle_thread_ends_and_the_next_request_starts_one() -> None:
    handoff = Handoff(idle=0.05)

    async def main() -> None:
        assert await handoff.run(len, "abc") == 3
        deadline = time.monotonic() + 5
        while handoff._running:
            assert time.monotonic() < deadline, "the idle thread did not end"
            await asyncio.sleep(0.01)
        assert await handoff.run(len, "abcd") == 4

    asyncio.run(main())


def test_requests_from_two_event_loops_are_each_answered() -> None:
    handoff = Handoff(threads=2)
    results: dict[str, list[int]] = {}

    def serve(name: str) -> None:
        async def main() -> list[int]:
            return await asyncio.gather(*(handoff.run(abs, -n) for n in range(20)))

        results[name] = asyncio.run(main())

    threads = [threading.Thread(target=serve, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == {"a": list(range(20)), "b": list(range(20))}
