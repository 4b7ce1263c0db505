"""`ringback`: the command line of the engine.

Every option has one sentence of help and shows its default; every setting also has an
environment variable (see `engine.settings`). Problems a user can fix (a bad setting, a
flow that does not compile) are one line on stderr and a non-zero exit, not a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from engine._help import HelpFormatter
from engine.authoring_cli import add_authoring_commands
from engine.dsl.compiler import compile_file
from engine.dsl.flow import Flow
from engine.errors import ConfigError, FlowError
from engine.flows.registry import FlowSet
from engine.flowtest import run_tests
from engine.phone import mask_text
from engine.privacy_cli import add_privacy_commands
from engine.settings import Settings
from engine.simulator import (
    DEFAULT_CALLER,
    OUTCOMES,
    Script,
    SimulationError,
    caller_number,
    local_moment,
    parse_digits,
    simulate,
    simulate_remote,
    story,
)
from engine.store_cli import add_store_commands, check_schema

__all__ = ["main"]

T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `ringback` command; the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (ConfigError, SimulationError) as exc:
        print(f"ringback: {exc}", file=sys.stderr)
        return 2
    except FlowError as exc:
        for problem in exc.problems:
            print(problem.render(), file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ringback",
        description="Answer a business's calls from YAML flows and text every caller it missed.",
        formatter_class=HelpFormatter,
    )
    _setting_flags(parser, None)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _serve_parser(commands)
    _simulate_parser(commands)
    _test_parser(commands)
    _check_parser(commands)
    add_authoring_commands(commands, _settings, _find_flow)
    add_privacy_commands(commands, _settings)
    add_store_commands(commands, _settings)
    for command in commands.choices.values():
        # Also after the command (`ringback check --flows x`); there, unset leaves the
        # value given before the command untouched.
        _setting_flags(command, argparse.SUPPRESS)
    return parser


# Each setting's flag: (flag, its Settings field, type, help). The flag wins over the
# environment variable named in its help.
SETTING_FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--flows", "flows", Path, "folder of flow files (RINGBACK_FLOWS; default: ./flows)"),
    ("--greetings", "greetings", Path,
     "folder of greeting audio (RINGBACK_GREETINGS; default: ./greetings)"),
    ("--db", "db", str,
     "the store, as a SQLAlchemy URL (RINGBACK_DB; default: sqlite:///ringback.db)"),
    ("--twilio-account-sid", "account_sid", str,
     "the Twilio account that sends texts (TWILIO_ACCOUNT_SID)"),
    ("--twilio-auth-token", "auth_token", str,
     ("signs and checks webhooks, and sends texts with the account (TWILIO_AUTH_TOKEN; "
      "the environment variable keeps it out of the process list)")),
    ("--twilio-api-base", "api_base", str,
     "where Twilio's REST API is (TWILIO_API_BASE; default: https://api.twilio.com)"),
)


def _setting_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    for flag, field, kind, text in SETTING_FLAGS:
        parser.add_argument(flag, dest=field, type=kind, default=default, help=text)


def _settings(args: argparse.Namespace, **more: Any) -> Settings:
    given = {field: getattr(args, field, None) for _, field, _, _ in SETTING_FLAGS}
    return Settings.from_env(None, **given, **more)


# --- serve ----------------------------------------------------------------------------


def _serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve", help="run the engine under uvicorn",
        formatter_class=HelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on")
    serve.add_argument(
        "--public-url", help="the engine's public base URL, as Twilio reaches it (PUBLIC_URL)"
    )
    serve.add_argument("--log-level", default="info", help="debug, info, warning or error")
    serve.add_argument(
        "--forwarded-allow-ips",
        help="comma-separated proxy addresses or networks whose X-Forwarded-Proto and "
        "X-Forwarded-Host are believed, or * (FORWARDED_ALLOW_IPS; default: 127.0.0.1)",
    )
    serve.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="one line of text per event, or one JSON object per line",
    )
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.server import create_app

    settings = _settings(
        args, public_url=args.public_url, forwarded_allow_ips=args.forwarded_allow_ips
    )
    if not settings.flows.is_dir():
        raise ConfigError(
            f"the flows folder {settings.flows} does not exist: set RINGBACK_FLOWS or --flows"
        )
    check_schema(settings)  # SQLite is migrated; PostgreSQL must be, by `ringback migrate`
    _logging(args.log_level, args.log_format)
    log = logging.getLogger("ringback")
    if not settings.signed:
        if not _loopback(args.host):
            raise ConfigError(
                f"refusing to listen on {args.host} without TWILIO_AUTH_TOKEN: anyone could "
                "post fake calls; set TWILIO_AUTH_TOKEN or use --host 127.0.0.1"
            )
        log.warning("TWILIO_AUTH_TOKEN is not set: webhooks are not signature-checked "
                    "(local use only, listening on %s).", args.host)
    if not settings.sends_texts:
        log.warning("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not both set: texts are "
                    "recorded and logged in dry-run mode, not sent.")
    app = create_app(settings)
    flows = app.state.engine.flows
    log.info("Serving %d flows from %s on http://%s:%d.", len(flows.by_id), settings.flows,
             args.host, args.port)
    # The engine reads forwarded headers itself, from trusted proxies only.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                access_log=False, log_config=None, proxy_headers=False)
    return 0


def _seconds(text: str) -> float:
    """A number of seconds, zero or more, for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 10**6:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, got {text!r}")
    return value


def _port(text: str) -> int:
    """A TCP port, 1 to 65535, for argparse."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, got {text!r}")
    return int(text)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _MaskingFormatter(logging.Formatter):
    """Phone numbers in log lines are masked (`+4860*****67`) at INFO and above."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return mask_text(line) if record.levelno >= logging.INFO else line


class _JsonFormatter(_MaskingFormatter):
    """One JSON object per line: time, level, logger, message (and the error, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record), "level": record.levelname,
            "logger": record.name, "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        line = json.dumps(entry, ensure_ascii=False)
        return mask_text(line) if record.levelno >= logging.INFO else line


def _logging(level: str, form: str = "text") -> None:
    handler = logging.StreamHandler()
    text = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(_JsonFormatter() if form == "json" else _MaskingFormatter(text))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


# --- simulate -------------------------------------------------------------------------


def _simulate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = commands.add_parser(
        "simulate", help="run one call through a flow, as Twilio would, and print what happened",
        formatter_class=HelpFormatter,
    )
    sim.add_argument("flow", metavar="FLOW", help="a flow id, a file path, or a line number")
    sim.add_argument("--from", dest="caller", default=DEFAULT_CALLER,
                     help="the caller's number (or Anonymous)")
    sim.add_argument("--at", help="the caller's local time in the flow's zone, "
                                  "e.g. 2026-05-05T10:00 (default: now)")
    sim.add_argument("--outcome", choices=OUTCOMES, default="no-answer",
                     help="what the dialed business phone does")
    sim.add_argument("--hangup-after", type=_seconds, metavar="SECONDS",
                     help="seconds into the call when the caller hangs up (default: never)")
    sim.add_argument("--digits", default="", help="keys the caller presses, one per menu; "
                     "commas separate entries of several keys (12,3)")
    sim.add_argument("--url", metavar="BASE_URL", help="drive the engine running there, "
                     "signing with TWILIO_AUTH_TOKEN when set (default: an engine in process)")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.set_defaults(run=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    flow = _find_flow(settings, args.flow, remote=args.url is not None)
    region = flow.region if flow else None
    tz = flow.tz if flow else None
    at = _option("--at", lambda: local_moment(args.at, tz) if args.at else None)
    digits = _option("--digits", lambda: parse_digits(args.digits))
    line = flow.lines[0] if flow else args.flow
    script = Script(caller=caller_number(args.caller, region), line=line, at=at,
                    outcome=args.outcome, hangup_after=args.hangup_after,
                    digits=digits)
    if args.url:
        run = simulate_remote(args.url, flow, script, settings.auth_token, settings.public_url)
    else:
        assert flow is not None
        run = simulate(settings, flow, script)
    call = asyncio.run(run)
    print(json.dumps(call.as_json(), indent=2, ensure_ascii=False) if args.json else story(call))
    return 0


def _option(name: str, read: Callable[[], T]) -> T:
    """An option's value, or a ConfigError that names the option and what was wrong."""
    try:
        return read()
    except ValueError as exc:
        raise ConfigError(f"{name} {exc}") from None


def _find_flow(settings: Settings, name: str, remote: bool = False) -> Flow | None:
    """The flow FLOW names; with --url, a line number no local file knows is still fine."""
    path = Path(name)
    if path.suffix == ".yaml" and path.is_file():
        return compile_file(path)
    flows = FlowSet.load(settings.flows)
    flow = flows.find(name)
    if flow is None:
        broken = [p for p in flows.refused if Path(p).stem == name]
        if broken:
            raise flows.refused[broken[0]]
        if remote and name.lstrip("+").replace(" ", "").isdigit():
            return None
        known = ", ".join(sorted(flows.by_id)) or "none"
        raise ConfigError(f"no flow '{name}' in {settings.flows} (flows: {known})")
    return flow


# --- test -----------------------------------------------------------------------------


def _test_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    test = commands.add_parser(
        "test", help="run flow test files (*.test.yaml) and report N passed, N failed",
        formatter_class=HelpFormatter,
    )
    test.add_argument("paths", nargs="*", metavar="PATH",
                      help="test files or folders (default: the tests folder of the flows)")
    test.set_defaults(run=_test)


def _test(args: argparse.Namespace) -> int:
    settings = _settings(args)
    paths = [Path(p) for p in args.paths] or [settings.flows / "tests"]
    return run_tests(paths, settings, sys.stdout)


# --- check ----------------------------------------------------------------------------


def _check_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check", help="validate and lint flow files; exit 1 on any error, 0 with warnings only",
        formatter_class=HelpFormatter,
    )
    check.add_argument(
        "paths", nargs="*", metavar="PATH",
        help="flow files or folders (default: the flows folder)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(run=_check)


def _check(args: argparse.Namespace) -> int:
    from engine.check import check, files_to_check, render, report_json

    settings = _settings(args)
    paths = files_to_check([Path(p) for p in args.paths], settings.flows)
    reports = check(paths, greetings=settings.greetings)
    result = report_json(reports)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else render(reports))
    return 1 if result["errors"] else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


