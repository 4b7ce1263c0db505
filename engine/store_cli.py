"""`ringback migrate`: bring the store's schema to the revision this engine needs.

On SQLite `ringback serve` does it by itself (one host, one engine, and a fresh checkout
must run with no extra step); on PostgreSQL, where several engines share one database,
the operator runs it once per release, before the engines start, and each engine checks
the revision at start (`check_schema`) and refuses to serve from an older one.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

from engine._help import HelpFormatter
from engine.errors import ConfigError
from engine.settings import Settings
from engine.store import Store, StoreUnavailable
from engine.store.migrations import BASE, HEAD

__all__ = ["add_store_commands", "check_schema"]

SettingsOf = Callable[[argparse.Namespace], Settings]


def add_store_commands(commands: Any, settings_of: SettingsOf) -> None:
    """Add `migrate` to the `ringback` command line."""
    migrate = commands.add_parser(
        "migrate", help="create or upgrade the store's schema (RINGBACK_DB) to this engine's",
        formatter_class=HelpFormatter,
    )
    migrate.set_defaults(run=lambda args: _migrate(settings_of(args)))


def _migrate(settings: Settings) -> int:
    store = Store(settings.db)
    try:
        before = store.revision() or (BASE if store.has_tables() else None)
        store.create()
    except StoreUnavailable as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(f"the store {_shown(settings.db)} did not answer: {reason}") from None
    finally:
        store.close()
    if before == HEAD:
        print(f"{_shown(settings.db)}: already at revision {HEAD}, the newest.")
    else:
        print(f"{_shown(settings.db)}: migrated from {before or 'nothing'} to revision {HEAD}.")
    return 0


def check_schema(settings: Settings) -> None:
    """Before serving: migrate a SQLite store, refuse a PostgreSQL one that is behind.

    Raises SchemaBehind (a ConfigError: one line naming `ringback migrate`). A store that
    does not answer is left to the engine, which serves fallbacks until it does.
    """
    store = Store(settings.db)
    try:
        store.ready()
    except StoreUnavailable:
        pass
    finally:
        store.close()


def _shown(url: str) -> str:
    """The store's URL with its password hidden."""
    return make_url(url).render_as_string(hide_password=True)
