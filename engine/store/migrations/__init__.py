"""The store's schema revisions, applied with Alembic from code: no alembic.ini needed.

`upgrade(engine)` brings a database to HEAD: an empty one gets today's tables at once
(`metadata.create_all`, stamped HEAD, as Alembic advises for a new database); a database
made before migrations existed (tables, no `alembic_version`) is taken to be at the
first revision and upgraded from there; any other runs the revisions it lacks. On
PostgreSQL an advisory lock makes engines migrating at once take turns.

A change to `engine.store.schema` is a new file in `versions/` and a new HEAD here;
tests/test_migrations.py checks that the revisions and the tables agree.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, text

from engine.errors import ConfigError
from engine.store.schema import metadata

__all__ = ["BASE", "HEAD", "SchemaBehind", "alembic_config", "current_revision", "upgrade"]

BASE = "0001"  # the schema as it was before migrations: what an unversioned store holds
HEAD = "0002"

# Alembic says which dialect it found and each step it runs at INFO; `ringback migrate`
# prints what it did in one line instead.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

# pg_advisory_xact_lock's key for migrating: any fixed number, the same in every engine.
_MIGRATION_LOCK = 0x52696E67


class SchemaBehind(ConfigError):
    """The database's schema is older than this engine's (or has none): a configuration
    error, printed as one line by the command line."""

    def __init__(self, found: str | None, wanted: str) -> None:
        self.found, self.wanted = found, wanted
        at = f"at revision {found}" if found else "without a schema"
        super().__init__(
            f"the store is {at}, this engine needs revision {wanted}: "
            "run `ringback migrate` (with the same RINGBACK_DB) first"
        )


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration for this package's revisions, on an open connection."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the database's schema to HEAD (see the module's docstring)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config = alembic_config(connection)
        tables = set(inspect(connection).get_table_names())
        if not tables - {"alembic_version"}:
            metadata.create_all(connection)
            command.stamp(config, HEAD)
            return
        if "alembic_version" not in tables:
            command.stamp(config, BASE)
        command.upgrade(config, "head")
