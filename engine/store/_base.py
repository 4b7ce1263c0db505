"""The store's connection to its database: one engine, one short transaction per method.

SQLite (WAL mode) serves one host; PostgreSQL (psycopg 3) serves several engines at once.
Everything the methods say in SQL is portable between the two; where a dialect has a
cheaper or a stronger form (an on-conflict insert, `FOR UPDATE SKIP LOCKED`), the mixins
ask `self.dialect` and write it.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta
from threading import RLock, local
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DatabaseError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from engine.store.records import StoreUnavailable

__all__ = ["DEFAULT_LEASE", "DEFAULT_POOL", "StoreBase"]

T = TypeVar("T")

# Seconds an engine holds a text it decided or sends before another may take it over:
# longer than a request to Twilio may take (the transport's timeout), renewed while the
# engine lives (engine.sms.outbox).
DEFAULT_LEASE = 60.0
# Connections each engine keeps open to PostgreSQL, and as many again at a peak.
DEFAULT_POOL = 10


class StoreBase:
    """The database, its dialect, and this process's name as the holder of leases."""

    def __init__(self, url: str, *, lease: float = DEFAULT_LEASE, pool: int = DEFAULT_POOL) -> None:
        self.url = url
        self.engine: Engine = _engine(url, pool)
        self.dialect = self.engine.dialect.name
        self.lease = timedelta(seconds=lease)
        # Who holds a lease: host, process and a random part, so that a restarted engine
        # with the same pid does not inherit its predecessor's leases.
        self.holder = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
        # SQLite has one writer at a time, and a thread refused the lock sleeps (busy_timeout)
        # in steps of up to 100 ms: this process's threads take turns here instead.
        sqlite = self.dialect == "sqlite"
        self._one_writer: AbstractContextManager[Any] = RLock() if sqlite else nullcontext()
        self._atomic = local()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        current = getattr(self._atomic, "connection", None)
        if current is not None:  # inside `atomic`: its transaction
            yield current
            return
        try:
            with self._one_writer, self.engine.begin() as connection:
                yield connection
        except IntegrityError:
            raise  # a constraint said no: the caller's business, not an outage
        except DatabaseError as exc:  # unreachable, locked, or not a database at all
            raise StoreUnavailable(str(exc.orig)) from exc
        except PoolTimeout as exc:  # every connection of the pool busy for pool_timeout
            raise StoreUnavailable(str(exc)) from exc

    def atomic(self, method: Callable[..., T], *args: Any) -> T:
        """`method(*args)` with every store call it makes in one transaction.

        A webhook's writes then commit together, once: all or nothing, and a fraction of
        the cost of a transaction each (bench/run.py).
        """
        with self._begin() as connection:
            self._atomic.connection = connection
            try:
                return method(*args)
            finally:
                self._atomic.connection = None

    def ping(self) -> bool:
        try:
            with self._begin() as connection:
                # A table, not `SELECT 1`: a file that is not a database fails only here.
                connection.execute(text("SELECT count(*) FROM calls WHERE 1 = 0"))
        except StoreUnavailable:
            return False
        return True


def _engine(url: str, pool: int) -> Engine:
    """SQLite with its pragmas; PostgreSQL with a bounded pool (a connection PostgreSQL
    dropped fails one request, and the pool then replaces every connection it holds)."""
    if url.startswith("sqlite"):
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=pool, max_overflow=pool)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL lets webhooks read while the outbox writes; busy_timeout waits out a lock."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
