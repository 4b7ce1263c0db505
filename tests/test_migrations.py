"""The schema's revisions: they build what the tables declare, upgrade a store made before
migrations, and an engine refuses a schema that is behind with a one-line fix.

On the database under test: SQLite, or PostgreSQL with RINGBACK_TEST_DB.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from engine.cli import main
from engine.store import SchemaBehind, Store, metadata
from engine.store.migrations import BASE, HEAD, alembic_config
from tests.databases import on_postgresql


def test_head_is_the_newest_revision_on_disk(new_db: Callable[..., str]) -> None:
    store = Store(new_db(empty=True))
    with store.engine.connect() as connection:
        assert ScriptDirectory.from_config(alembic_config(connection)).get_current_head() == HEAD


def test_the_revisions_one_by_one_build_exactly_the_declared_tables(
    new_db: Callable[..., str]
) -> None:
    store = Store(new_db(empty=True))
    with store.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    assert store.revision() == HEAD


def test_a_store_made_before_migrations_is_upgraded_and_keeps_its_rows(
    new_db: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(new_db(empty=True))
    with store.engine.begin() as connection:  # the tables as create_all made them, unversioned
        command.upgrade(alembic_config(connection), BASE)
        connection.execute(text("DROP TABLE alembic_version"))
    store.start_call("CA1", ("shop", "v1"), "+442079460999", "+447911123456",
                     datetime.now(UTC), "open")

    assert main(["--db", store.url, "migrate"]) == 0
    assert capsys.readouterr().out.endswith(f"migrated from {BASE} to revision {HEAD}.\n")
    assert store.revision() == HEAD
    assert store.call("CA1") is not None
    columns = {c["name"] for c in inspect(store.engine).get_columns("messages")}
    assert {"claimed_by", "lease_until"} <= columns


def test_ringback_migrate_creates_then_finds_nothing_to_do(
    new_db: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    db = new_db(empty=True)
    assert main(["--db", db, "migrate"]) == 0
    assert main(["--db", db, "migrate"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.endswith(f"migrated from nothing to revision {HEAD}.")
    assert second.endswith(f"already at revision {HEAD}, the newest.")


def test_an_engine_that_may_not_migrate_refuses_a_schema_behind(
    new_db: Callable[..., str]
) -> None:
    store = Store(new_db(empty=True))
    with pytest.raises(SchemaBehind, match="run `ringback migrate`"):
        store.ready(migrate=False)
    store.ready(migrate=True)
    store.ready(migrate=False)


def test_an_engine_on_sqlite_migrates_its_store_itself(new_db: Callable[..., str]) -> None:
    store = Store(new_db(empty=True))
    if store.dialect != "sqlite":
        pytest.skip("only SQLite is migrated by the engine itself")
    store.ready()
    assert store.revision() == HEAD


@pytest.mark.skipif(not on_postgresql(), reason="PostgreSQL is migrated by `ringback migrate`")
def test_serve_on_postgresql_behind_is_one_line_naming_ringback_migrate(
    new_db: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", new_db(empty=True), "serve", "--port", "1"]) == 2
    [error] = capsys.readouterr().err.splitlines()
    assert error.startswith("ringback: the store is without a schema")
    assert error.endswith("run `ringback migrate` (with the same RINGBACK_DB) first")
