"""`ringback export CALLER` and `ringback forget CALLER`: one person's data, out or gone.

`export` prints everything the store keeps about a caller as one JSON object; `forget`
erases it everywhere (calls, their events and voicemails, texts, replies, the landline
note) except the opt-out list, which keeps the number so it is never texted again. The
logic lives in `engine.privacy`; this module is only the command line around it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from engine._help import HelpFormatter
from engine.errors import ConfigError
from engine.phone import PhoneNumberError, to_e164
from engine.privacy import Recordings, export, forget
from engine.settings import Settings
from engine.store import Store

__all__ = ["add_privacy_commands"]

SettingsOf = Callable[[argparse.Namespace], Settings]


def add_privacy_commands(commands: Any, settings_of: SettingsOf) -> None:
    """Add `export` and `forget` to the `ringback` command line."""
    exporter = commands.add_parser(
        "export", help="print everything kept about one caller, as JSON",
        formatter_class=HelpFormatter,
    )
    exporter.add_argument("caller", metavar="CALLER", help="the caller's number, e.g. +48601111222")
    exporter.set_defaults(run=lambda args: _export(args, settings_of(args)))
    eraser = commands.add_parser(
        "forget", help="erase one caller everywhere, except the opt-out list",
        formatter_class=HelpFormatter,
    )
    eraser.add_argument("caller", metavar="CALLER", help="the caller's number, e.g. +48601111222")
    eraser.add_argument("--json", action="store_true", help="print what was erased as JSON")
    eraser.set_defaults(run=lambda args: _forget(args, settings_of(args)))


def _store(settings: Settings) -> Store:
    store = Store(settings.db)
    store.ready()  # SQLite is migrated; PostgreSQL must be, by `ringback migrate`
    return store


def _caller(text: str) -> str:
    """The caller's number as the store keeps it (E.164), or a one-line ConfigError."""
    try:
        return to_e164(text, None)
    except PhoneNumberError:
        raise ConfigError(
            f"CALLER must be a phone number in E.164, such as +48601111222, got {text!r}"
        ) from None


def _export(args: argparse.Namespace, settings: Settings) -> int:
    args.caller = _caller(args.caller)
    store = _store(settings)
    try:
        print(json.dumps(export(store, args.caller), indent=2, ensure_ascii=False))
    finally:
        store.close()
    return 0


def _forget(args: argparse.Namespace, settings: Settings) -> int:
    args.caller = _caller(args.caller)
    store = _store(settings)
    try:
        erased = forget(store, args.caller, Recordings(settings))
    except RuntimeError as exc:
        print(f"ringback: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print(json.dumps(erased.as_json()))
        return 0
    print(
        f"Erased {args.caller}: {erased.calls} calls, {erased.messages} texts, "
        f"{erased.replies} replies, {erased.recordings} voicemails. "
        "An opt-out, if this number has one, is kept, so that it is never texted again."
    )
    return 0
