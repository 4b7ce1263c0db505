"""Handing a webhook's blocking work to threads of the engine's own, and the answers back.

A webhook's call logic blocks on the store, so it cannot run on the event loop. Starlette's
`run_in_threadpool` wakes a worker thread for every request and wakes the loop again for
every answer; on one core, with many calls at once, those wake-ups and the switches of
the interpreter lock between the threads cost a sixth of a `/voice` request
(`bench/run.py`, profiled with py-spy). Here a worker takes every job waiting when it
wakes, runs them one after another, and hands their answers back to the loop in one go.

SQLite has one writer at a time, so one thread loses nothing there; a server database
gets several. A thread left idle for a second ends, and the next job starts one again,
so an engine that is not serving keeps none.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Handoff"]

T = TypeVar("T")
MAX_BATCH = 16  # a long batch would hold back the answer of its first job

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]
_Outcome = tuple["asyncio.Future[Any]", bool, Any]


class Handoff:
    """Runs blocking calls on up to `threads` threads of its own."""

    def __init__(self, threads: int = 1, idle: float = 1.0) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads = threads
        self._idle = idle
        self._running = 0
        self._lock = threading.Lock()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on a worker thread; its result, or its exception raised here."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, function, args))
        with self._lock:
            if self._running < self._threads:
                self._running += 1
                threading.Thread(target=self._work, name="ringback-handoff", daemon=True).start()
        return await future

    def _work(self) -> None:
        while True:
            try:
                jobs = [self._jobs.get(timeout=self._idle)]
            except queue.Empty:
                with self._lock:  # `run` starts a thread under this lock once this one is gone
                    if self._jobs.empty():
                        self._running -= 1
                        return
                continue
            while len(jobs) < MAX_BATCH:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            _answer(jobs)


def _answer(jobs: list[_Job]) -> None:
    """Run the jobs, then settle their futures with one wake-up of each loop."""
    outcomes: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for loop, future, function, args in jobs:
        try:
            outcome: _Outcome = (future, True, function(*args))
        except BaseException as exc:  # noqa: BLE001 - raised again in the awaiting request
            outcome = (future, False, exc)
        outcomes.setdefault(loop, []).append(outcome)
    for loop, settled in outcomes.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:  # the loop has closed: nobody awaits these any more
            pass


def _settle(outcomes: list[_Outcome]) -> None:
    for future, ok, value in outcomes:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
