"""A Twilio in a box: one call played through a flow, as Twilio would play it.

The simulator posts the signed webhooks Twilio posts for a call (a fresh `CallSid`),
reads the TwiML that comes back and carries it out (`engine._twilio` says how, verb by
verb), posts the status callbacks a real call produces, and then the texts' status
callbacks. It drives either

- an engine in this process, on a fresh store, serving only the flow played, whose texts
  go to the simulator's own stand-in for Twilio's Messages API (`simulate`); or
- a running engine over HTTP, signed with its auth token (`simulate_remote`): that engine
  sends what it sends, and Twilio, not the simulator, reports on its texts.

Either way the trigger and the texts' decisions are read from the engine's
`POST /voice/report`, a signed, read-only view of one call.

`simulate(settings, flow, Script(caller="+48601111222", line=flow.lines[0],
outcome="busy"))` → a `Call` whose `as_json()` is the spec's `--json` object and whose
timeline `story()` prints.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from engine._call import Call, Moment, Script, SimulationError, Wire
from engine._caller import CallerLeg
from engine._lines import Lines
from engine._twilio import Session
from engine.dsl.flow import Flow
from engine.flows.registry import FlowSet
from engine.phone import PhoneNumberError, to_e164
from engine.server import SIMULATED_AT, call_report, create_app
from engine.settings import Settings
from engine.sms.transport import Outcome
from engine.store import Store, metadata

__all__ = [
    "DEFAULT_CALLER", "OUTCOMES", "Call", "Moment", "Script", "SimulationError", "caller_number",
    "local_moment", "parse_digits", "scratch_store", "simulate", "simulate_remote", "story",
]

OUTCOMES: tuple[str, ...] = ("answer", "busy", "no-answer", "failed", "voicemail")
DEFAULT_CALLER = "+447400123456"  # a UK mobile number (07700 900… is not a valid one)
LOCAL = "http://ringback.local"
REMOTE_SETTLE = 10.0  # seconds a remote engine gets to send the texts it decided


@dataclass(frozen=True)
class _Sent:
    sid: str
    to: str
    sender: str
    status_callback: str | None


class _Messages:
    """Twilio's Messages API, in the box: every text is accepted and kept, none leaves."""

    name = "simulator"

    def __init__(self) -> None:
        self.sent: list[_Sent] = []
        self._lock = threading.Lock()

    def send(self, to: str, sender: str, body: str, status_callback: str | None) -> Outcome:
        sid = "SM" + secrets.token_hex(16)
        with self._lock:
            self.sent.append(_Sent(sid, to, sender, status_callback))
        return Outcome("sent", provider_sid=sid, detail="simulated")


def local_moment(text: str, tz: tzinfo | None) -> datetime:
    """`2026-05-05T10:00` read as the flow's local wall-clock time (an offset is kept)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"must be a local date and time such as 2026-05-05T10:00, got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz or UTC)


def parse_digits(text: str) -> tuple[str, ...]:
    """`--digits`: one entry per menu. `"21"` → `("2", "1")`; `"12#,3"` → `("12#", "3")`.

    Only keys a phone has are allowed (`0-9`, `*`, `#`); anything else raises ValueError.
    """
    text = "".join(text.split())
    wrong = sorted(set(text) - set("0123456789*#,"))
    if wrong:
        raise ValueError(f"must be keys of a phone (0-9, * and #), got {''.join(wrong)!r}")
    if "," in text:
        return tuple(text.split(","))
    return tuple(text)


def caller_number(text: str, region: str | None) -> str:
    """`From` as Twilio sends it: E.164 for a number, anything else (`Anonymous`) as given."""
    try:
        return to_e164(text, region)
    except PhoneNumberError:
        return text


@asynccontextmanager
async def scratch_store() -> AsyncIterator[Store]:
    """A store in a temporary folder, removed afterwards.

    `simulate` empties it before each call, so many calls can share it and still each
    start on a fresh store; sharing spares each call creating a database (and SQLAlchemy
    compiling its statements anew), which is most of a call's cost.
    """
    with tempfile.TemporaryDirectory(prefix="ringback-sim-") as folder:
        store = Store(f"sqlite:///{Path(folder) / 'simulation.db'}")
        try:
            await asyncio.to_thread(store.create)
            yield store
        finally:
            store.close()


def _empty(store: Store) -> None:
    """Delete every row of every table: the store as a fresh one, without its cost."""
    with store.engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@asynccontextmanager
async def _local_engine(
    settings: Settings, flow: Flow, messages: _Messages, store: Store | None
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """An engine in this process on an empty store, serving `flow` alone."""
    async with AsyncExitStack() as stack:
        if store is None:
            store = await stack.enter_async_context(scratch_store())
        else:
            await asyncio.to_thread(_empty, store)
        app = create_app(settings, transport=messages, store=store,
                         flows=FlowSet.serving([flow]))
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url=LOCAL)
        )
        yield client, app.state.engine


async def simulate(
    settings: Settings, flow: Flow, script: Script, store: Store | None = None
) -> Call:
    """Play one call through `flow` in this process, on a fresh store (or on `store`,
    emptied first: see `scratch_store`)."""
    token = secrets.token_hex(16)
    settings = replace(settings, auth_token=token, account_sid=None, public_url=LOCAL,
                       watch=False)
    messages = _Messages()
    async with _local_engine(settings, flow, messages, store) as (client, engine):
        wire = Wire(client, LOCAL, token, reader=partial(call_report, engine.store))
        # Texts go out between webhooks, as they leave Twilio well before the next one.
        call = await _play(wire, flow, script, engine.outbox.drain, each=engine.outbox.drain)
        await _text_callbacks(wire, messages, call)
    return call


async def simulate_remote(
    base_url: str, flow: Flow | None, script: Script, token: str | None,
    public_url: str | None = None, client: httpx.AsyncClient | None = None,
) -> Call:
    """Play one call against the engine at `base_url`, signing with `token` when given.

    Signatures are computed over `public_url` when the engine has one (PUBLIC_URL), as
    Twilio would have reached it there.
    """
    async with _client(client) as http:
        wire = Wire(http, base_url, token, public_url)

        async def settle() -> None:
            await _sent_by(wire, call_sid, REMOTE_SETTLE)

        call_sid = "CA" + secrets.token_hex(16)
        call = await _play(wire, flow, script, settle, call_sid)
    return call


@asynccontextmanager
async def _client(given: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    if given is not None:
        yield given
        return
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


async def _play(
    wire: Wire, flow: Flow | None, script: Script, settle: Callable[[], Awaitable[None]],
    call_sid: str | None = None, each: Callable[[], Awaitable[None]] | None = None,
) -> Call:
    """Play the call, let the engine send its texts, then read the call's record."""
    started = script.at or datetime.now(flow.tz if flow else UTC)
    call = Call(flow=flow.id if flow else script.line, call_sid=call_sid or
                "CA" + secrets.token_hex(16), started=started, path=flow.path if flow else "",
                caller=script.caller)
    session = Session(wire, script, call, Lines(flow), each)
    first = {SIMULATED_AT: script.at.isoformat()} if script.at else {}
    await CallerLeg(session).run(first)
    await settle()
    report = await wire.report(call.call_sid)
    if report is None:
        call.notes.append("the engine keeps no record of this call (no /voice/report): "
                          "trigger and texts unknown")
        report = {}
    call.trigger = report.get("trigger", "")
    texts = report.get("sms", [])
    call.sms = [{k: v for k, v in text.items() if k != "step"} for text in texts]
    call.sms_lines = [session.lines.of_step(text.get("step", "")) for text in texts]
    call.requests = wire.requests
    return call


async def _sent_by(wire: Wire, call_sid: str, patience: float) -> None:
    """Wait, up to `patience` seconds, until a remote engine has sent what it decided."""
    for _ in range(int(patience / 0.2)):
        report = await wire.report(call_sid)
        texts = report.get("sms", []) if report else []
        if all(text.get("status") not in ("pending", "sending") for text in texts):
            return
        await asyncio.sleep(0.2)


async def _text_callbacks(wire: Wire, messages: _Messages, call: Call) -> None:
    """Post each text's status callbacks, `sent` then `delivered`, as Twilio does.

    An engine without the route (`404`) gets none: older engines had no `/sms/status`.
    """
    for text in messages.sent:
        if text.status_callback is None:
            continue
        for status in ("sent", "delivered"):
            params = {
                "MessageSid": text.sid, "SmsSid": text.sid, "AccountSid": "AC" + "0" * 32,
                "From": text.sender, "To": text.to, "MessageStatus": status,
                "SmsStatus": status, "ApiVersion": "2010-04-01",
            }
            response = await wire.send(text.status_callback, params)
            if response.status_code == 404:
                return
            if response.status_code >= 400:
                raise SimulationError(
                    f"/sms/status answered HTTP {response.status_code}: {response.text[:200]}"
                )
    call.requests = wire.requests


# --- the story a tester reads ---------------------------------------------------------


def story(call: Call) -> str:
    """The call, line by line: seconds in, who, what, and the flow file's line behind it.

    ```
    Call CA… on salon-belle (flows/salon-belle.yaml), Tuesday 2026-05-05 10:00 CEST, from …
        0.0s  caller    hears belle-welcome.wav (4.9 s)                         line 28
    ```
    """
    where = f" ({call.path})" if call.path else ""
    when = f"{call.started:%A %Y-%m-%d %H:%M} {call.started.tzname()}"
    lines = [f"Call {call.call_sid} on {call.flow}{where}, {when}, from {call.caller}"]
    lines += [_moment(moment) for moment in call.timeline]
    lines.append(f"Trigger: {call.trigger or 'unknown'}. Ended by the {call.ended_by} "
                 f"after {call.duration:.1f} s.")
    lines += [f"Note: {note}" for note in call.notes]
    for number, (text, line) in enumerate(zip(call.sms, call.sms_lines, strict=True), 1):
        lines += _text(number, text, line)
    if not call.sms:
        lines.append("No text.")
    return "\n".join(lines)


def _moment(moment: Moment) -> str:
    head = f"{moment.at:7.1f}s  {moment.who:<9} {moment.what}"
    if moment.line is None:
        return head
    return f"{head:<88} line {moment.line}"


def _text(number: int, text: dict[str, Any], line: int | None) -> list[str]:
    at = f" (line {line})" if line else ""
    if text.get("status") == "skipped":
        to = text.get("to") or "(no number)"
        return [f"Text {number}{at}: skipped, {text.get('reason')}: to {to}"]
    size = f"{text.get('encoding')}, {text.get('segments')} segment(s)"
    head = f"Text {number}{at}: {text.get('status')}, to {text.get('to')} from {text.get('from')}"
    return [f"{head}, {size}", f"    {text.get('body')}"]
