"""Which store the tests run on: SQLite by default, PostgreSQL with RINGBACK_TEST_DB.

    RINGBACK_TEST_DB=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python -m pytest

Each database a test asks for is a fresh one, at the newest schema revision (as
`ringback migrate` leaves it) unless asked for empty: on SQLite a file in the test's
folder, on PostgreSQL a schema of its own (`t_…`), named in the URL's `search_path` so
that engines in child processes land in it too, and dropped with everything in it after
the test.
Every Store a test opens is closed after it, so that a long run does not hoard
PostgreSQL's connections.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from engine.store import Store, _base

__all__ = ["TEST_DB", "fresh_databases", "on_postgresql"]

TEST_DB = os.environ.get("RINGBACK_TEST_DB", "")


def on_postgresql() -> bool:
    return TEST_DB.startswith("postgresql")


def fresh_databases(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., str]]:
    """A factory of fresh store URLs (`make("engine")`), cleaned up when the test ends."""
    opened = _keep_stores(monkeypatch)
    schemas: list[str] = []

    def make(name: str = "engine", *, empty: bool = False) -> str:
        if on_postgresql():
            schema = f"t_{name[:20]}_{secrets.token_hex(5)}".lower()
            _admin(f'CREATE SCHEMA "{schema}"')
            schemas.append(schema)
            url = _with_search_path(TEST_DB, schema)
        else:
            url = f"sqlite:///{folder / f'{name}.db'}"
        if not empty:
            _migrated(url)
        return url

    yield make
    for store in opened:
        store.close()
    for schema in schemas:
        _admin(f'DROP SCHEMA "{schema}" CASCADE')


def _migrated(url: str) -> None:
    store = Store(url)
    try:
        store.create()
    finally:
        store.close()


def _keep_stores(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Note every Store opened from now on, so that the fixture can close it."""
    opened: list[Any] = []
    original = _base.StoreBase.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(_base.StoreBase, "__init__", init)
    return opened


def _with_search_path(url: str, schema: str) -> str:
    """The URL with every connection's search_path set to `schema`."""
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}) \
        .render_as_string(hide_password=False)


def _admin(sql: str) -> None:
    url = make_url(TEST_DB).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]
