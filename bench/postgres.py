"""The benchmark's PostgreSQL: a schema of its own for one run, and what its backends spend.

`run.py` serves `/voice` a second time from an engine whose store is PostgreSQL, beside
the one on SQLite. PostgreSQL is the machine's own service (`RINGBACK_BENCH_PG`, by default
`postgresql+psycopg://postgres@127.0.0.1:5432/test`; empty to leave it out): the run
makes a schema of its own there, named in the engine's URL with `search_path`, migrates
it, and drops it with everything in it at the end. When PostgreSQL cannot be reached,
`open_schema` says why and the run goes on without it.

The engine then does its store work in PostgreSQL's backend processes, which the run
neither pins nor counts as the engine's: their connections carry an `application_name`
of the run's own, and `backend_cpu` reads their CPU time from `/proc`, so that a request
is charged for the backends' share too.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Schema:
    """A run's schema: the engine's URL into it, and its connections' application name."""

    name: str
    url: str
    base: str  # the URL the run was given, for the run's own connections


def base_url() -> str:
    """`RINGBACK_BENCH_PG`, or the machine's PostgreSQL; empty leaves PostgreSQL out."""
    return os.environ.get("RINGBACK_BENCH_PG", DEFAULT_URL)


def open_schema(base: str) -> tuple[Schema | None, str]:
    """A fresh, migrated schema on `base`, or None and one line saying why not."""
    if not base:
        return None, "RINGBACK_BENCH_PG is empty"
    name = f"bench_{secrets.token_hex(5)}"
    try:
        _admin(base, f'CREATE SCHEMA "{name}"')
    except psycopg.Error as exc:
        return None, f"PostgreSQL not reachable at {shown(base)}: {_first_line(exc)}"
    query = {"options": f"-csearch_path={name}", "application_name": name}
    url = make_url(base).update_query_dict(query).render_as_string(hide_password=False)
    schema = Schema(name, url, base)
    try:
        _migrate(schema)
    except Exception:
        drop_schema(schema)
        raise
    return schema, ""


def drop_schema(schema: Schema) -> None:
    _admin(schema.base, f'DROP SCHEMA "{schema.name}" CASCADE')


def server_settings(schema: Schema) -> dict[str, str]:
    """The settings that bear on a commit's cost, as this PostgreSQL has them."""
    names = ("server_version", "synchronous_commit", "fsync", "shared_buffers")
    with _connect(schema.base) as connection:
        rows = [connection.execute(f"SHOW {name}").fetchone() for name in names]
    return {name: str(row[0]) for name, row in zip(names, rows, strict=True) if row}


def backend_cpu(schema: Schema) -> dict[int, float]:
    """CPU seconds so far of each backend serving the run's engine, by process id."""
    with _connect(schema.base) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            (schema.name,),
        ).fetchall()
    return {pid: seconds for (pid,) in rows if (seconds := _cpu_seconds(pid)) is not None}


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """What the backends spent between two readings; one opened meanwhile counts in full."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def calls_recorded(schema: Schema, prefix: str) -> int:
    """Calls in the run's schema whose CallSid starts with `prefix` (not warm-up ones)."""
    with _connect(schema.url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM calls WHERE call_sid LIKE %s AND substr(call_sid, 4, 3) != '000'",
            (prefix + "%",),
        ).fetchone()
    return int(row[0]) if row else 0


def _migrate(schema: Schema) -> None:
    from engine.store import Store

    store = Store(schema.url)
    try:
        store.create()
    finally:
        store.close()


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone, or on another host: not counted
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _connect(url: str) -> psycopg.Connection[Any]:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(plain, autocommit=True, connect_timeout=3)


def _admin(base: str, sql: str) -> None:
    with _connect(base) as connection:
        connection.execute(sql)


def shown(url: str) -> str:
    """The URL with its password hidden, for the results."""
    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
