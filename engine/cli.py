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
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from engine.dsl.compiler import compile_file
from engine.errors import ConfigError, FlowError
from engine.flows.registry import FlowSet, flow_files
from engine.phone import mask_text
from engine.settings import Settings
from engine.simulator import OUTCOMES, Call, Script, SimulationError, simulate

__all__ = ["main"]


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
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--flows", type=Path, help="folder of flow files (RINGBACK_FLOWS)")
    parser.add_argument("--greetings", type=Path, help="folder of greeting audio (RINGBACK_GREETINGS)")
    parser.add_argument("--db", help="the store, as a SQLAlchemy URL (RINGBACK_DB)")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _serve_parser(commands)
    _simulate_parser(commands)
    _check_parser(commands)
    return parser


def _settings(args: argparse.Namespace, **more: object) -> Settings:
    return Settings.from_env(flows=args.flows, greetings=args.greetings, db=args.db, **more)


# --- serve ----------------------------------------------------------------------------


def _serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve", help="run the engine under uvicorn",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--public-url", help="the engine's public base URL, as Twilio reaches it (PUBLIC_URL)")
    serve.add_argument("--log-level", default="info", help="debug, info, warning or error")
    serve.add_argument(
        "--forwarded-allow-ips",
        help="comma-separated proxy addresses or networks whose X-Forwarded-Proto and "
        "X-Forwarded-Host are believed, or * (FORWARDED_ALLOW_IPS; default 127.0.0.1)",
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
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sim.add_argument("flow", metavar="FLOW", help="a flow id, a file path, or a line number")
    sim.add_argument("--from", dest="caller", default="+447700900123",
                     help="the caller's number (or Anonymous)")
    sim.add_argument("--at", help="the caller's local time in the flow's zone, e.g. 2026-05-05T10:00 (default: now)")
    sim.add_argument("--outcome", choices=OUTCOMES, default="no-answer",
                     help="what the dialed business phone does")
    sim.add_argument("--hangup-after", type=float, help="seconds into the call when the caller hangs up")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.set_defaults(run=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    flow = _find_flow(settings, args.flow)
    at = _local_time(args.at, flow.tz) if args.at else None
    script = Script(caller=args.caller, line=flow.lines[0], at=at, outcome=args.outcome,
                    hangup_after=args.hangup_after)
    call = asyncio.run(simulate(settings, flow, script))
    print(json.dumps(call.as_json(), indent=2, ensure_ascii=False) if args.json else _story(call))
    return 0


def _find_flow(settings: Settings, name: str):  # type: ignore[no-untyped-def]
    path = Path(name)
    if path.suffix == ".yaml" and path.is_file():
        return compile_file(path)
    flows = FlowSet.load(settings.flows)
    flow = flows.find(name)
    if flow is None:
        broken = [p for p in flows.refused if Path(p).stem == name]
        if broken:
            raise flows.refused[broken[0]]
        known = ", ".join(sorted(flows.by_id)) or "none"
        raise ConfigError(f"no flow '{name}' in {settings.flows} (flows: {known})")
    return flow


def _local_time(text: str, tz: object) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at must be a local date and time such as 2026-05-05T10:00, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)  # type: ignore[arg-type]


def _story(call: Call) -> str:
    lines = [f"Call {call.call_sid} on flow {call.flow}"]
    lines += [f"  {seconds:6.1f}s  {text}" for seconds, text in call.timeline]
    lines.append(f"  trigger: {call.trigger}; ended by the {call.ended_by}")
    for text in call.sms:
        if text["status"] == "skipped":
            lines.append(f"  text to {text['to'] or '(no number)'}: skipped ({text['reason']})")
        else:
            lines.append(
                f"  text to {text['to']} from {text['from']}: {text['status']}, "
                f"{text['encoding']}, {text['segments']} segment(s)\n      {text['body']}"
            )
    if not call.sms:
        lines.append("  no text")
    return "\n".join(lines)


# --- check ----------------------------------------------------------------------------


def _check_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check", help="validate flow files; exit 1 on any error",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    check.add_argument("paths", nargs="*", metavar="PATH", help="flow files or folders (default: the flows folder)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(run=_check)


def _check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    paths: list[Path] = []
    for given in [Path(p) for p in args.paths] or [settings.flows]:
        paths.extend(flow_files(given) if given.is_dir() else [given])
    flows = FlowSet.of(paths)
    report = []
    for path in paths:
        error = flows.refused.get(str(path))
        problems = error.problems if error else []
        report.append({"path": str(path), "ok": not problems, "warnings": [], "copy": [],
                       "errors": [{"line": p.line, "column": p.column, "code": p.code,
                                   "message": p.message} for p in problems]})
        if not args.json:
            for problem in problems:
                print(problem.render())
            if not problems:
                print(f"{path}: ok")
    errors = sum(len(f["errors"]) for f in report)
    if args.json:
        print(json.dumps({"files": report, "errors": errors, "warnings": 0}, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


