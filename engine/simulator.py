"""A Twilio in a box: one call played through a flow, as Twilio would play it.

The simulator posts the signed webhooks Twilio posts for a call (a fresh `CallSid`),
reads the TwiML that comes back and carries it out: it speaks `<Say>` and `<Play>` (and
counts the time they take), rings the business as `--outcome` says, follows every
`action` and `<Redirect>`, ends the call at `<Hangup/>`, `<Reject/>` or the end of a
document, and posts the status callback a finished call produces. By default it drives an
engine in this process on a fresh store, with texts decided but never sent.
"""

from __future__ import annotations

import secrets
import tempfile
import wave
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx
from twilio.request_validator import RequestValidator

from engine.dsl.flow import Flow
from engine.server import SIMULATED_AT, create_app
from engine.settings import Settings
from engine.sms.transport import DryRun
from engine.store import Store

__all__ = ["OUTCOMES", "Call", "SimulationError", "simulate"]

Outcome = Literal["answer", "busy", "no-answer", "failed", "voicemail"]
OUTCOMES: tuple[str, ...] = ("answer", "busy", "no-answer", "failed", "voicemail")
SECONDS_PER_WORD = 0.4
VOICEMAIL_PICKUP = 15
CONVERSATION = 60

# What the business phone does, as Twilio reports it on the `<Dial action>`.
DIAL_STATUS = {"answer": "completed", "busy": "busy", "no-answer": "no-answer",
               "failed": "failed", "voicemail": "completed"}


class SimulationError(Exception):
    """The engine answered something Twilio could not carry out."""


@dataclass
class Call:
    """What happened on one simulated call; `as_json()` is the spec's `--json` shape."""

    flow: str
    call_sid: str
    trigger: str = ""
    heard: list[dict[str, str]] = field(default_factory=list)
    dialed: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, Any]] = field(default_factory=list)
    ended_by: str = "engine"
    timeline: list[tuple[float, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow, "call_sid": self.call_sid, "trigger": self.trigger,
            "heard": self.heard, "dialed": self.dialed, "requests": self.requests,
            "sms": self.sms, "ended_by": self.ended_by,
        }


@dataclass
class Script:
    """The caller and the business, as the simulation plays them."""

    caller: str
    line: str
    at: datetime | None
    outcome: str = "no-answer"
    hangup_after: float | None = None


class _Player:
    """Carries out TwiML documents one verb at a time, posting what Twilio posts."""

    def __init__(self, client: httpx.AsyncClient, token: str, base: str, script: Script,
                 call: Call) -> None:
        self.client, self.base, self.script, self.call = client, base, script, call
        self.validator = RequestValidator(token)
        self.clock = 0.0
        self.sequence = 0
        self.params = {
            "CallSid": call.call_sid, "AccountSid": "AC" + secrets.token_hex(16),
            "From": script.caller, "To": script.line, "Caller": script.caller,
            "Called": script.line, "CallStatus": "ringing", "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        if script.at is not None:
            self.params[SIMULATED_AT] = script.at.isoformat()

    async def post(self, url: str, extra: dict[str, str] | None = None) -> str:
        params = {**self.params, **(extra or {})}
        absolute = urljoin(self.base + "/", url.lstrip("/")) if not url.startswith("http") else url
        signature = self.validator.compute_signature(absolute, params)
        response = await self.client.post(
            absolute, data=params, headers={"X-Twilio-Signature": signature}
        )
        body = response.text
        self.call.requests.append({"path": urlsplit(absolute).path + _query(absolute),
                                   "params": params, "status": response.status_code,
                                   "twiml": body})
        if response.status_code != 200:
            raise SimulationError(f"{url} answered HTTP {response.status_code}: {body[:200]}")
        return body

    def note(self, text: str) -> None:
        self.call.timeline.append((round(self.clock, 1), text))

    def spend(self, seconds: float) -> bool:
        """Let time pass; False when the caller hangs up before it has."""
        limit = self.script.hangup_after
        if limit is not None and self.clock + seconds >= limit:
            self.clock = limit
            self.call.ended_by = "caller"
            self.note("the caller hangs up")
            return False
        self.clock += seconds
        return True

    async def run(self, url: str) -> None:
        document = await self.post(url)
        self.params["CallStatus"] = "in-progress"
        while document is not None:
            document = await self.perform(document)

    async def perform(self, xml: str) -> str | None:
        """Carry out one document; the next document when a verb hands control back."""
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as exc:
            raise SimulationError(f"the engine answered malformed TwiML: {exc}") from None
        if root.tag != "Response":
            raise SimulationError(f"TwiML root must be <Response>, got <{root.tag}>")
        for verb in root:
            handler = getattr(self, f"_{verb.tag.lower()}", None)
            if handler is None:
                raise SimulationError(f"the simulator cannot carry out <{verb.tag}>")
            result = await handler(verb)
            if result is not _CONTINUE:
                return result  # type: ignore[no-any-return]
        self.note("the document ends: Twilio hangs up")
        return None

    async def _say(self, verb: ET.Element) -> object:
        text = (verb.text or "").strip()
        self.call.heard.append({"say": text})
        self.note(f"the caller hears: {text}")
        loops = max(int(verb.get("loop", "1")), 1)
        return _CONTINUE if self.spend(len(text.split()) * SECONDS_PER_WORD * loops) else None

    async def _play(self, verb: ET.Element) -> object:
        url = (verb.text or "").strip()
        name = url.rsplit("/", 1)[-1]
        self.call.heard.append({"play": name})
        self.note(f"the caller hears the audio {name}")
        seconds = await self._audio_length(url)
        return _CONTINUE if self.spend(seconds * max(int(verb.get("loop", "1")), 1)) else None

    async def _audio_length(self, url: str) -> float:
        response = await self.client.get(url)
        if response.status_code != 200:
            raise SimulationError(f"<Play> {url} answered HTTP {response.status_code}")
        return _duration(response.content)

    async def _pause(self, verb: ET.Element) -> object:
        return _CONTINUE if self.spend(float(verb.get("length", "1"))) else None

    async def _hangup(self, verb: ET.Element) -> object:
        self.note("the engine hangs up")
        return None

    async def _reject(self, verb: ET.Element) -> object:
        self.note(f"the engine rejects the call ({verb.get('reason', 'rejected')})")
        self.params["CallStatus"] = "busy" if verb.get("reason") == "busy" else "no-answer"
        return None

    async def _redirect(self, verb: ET.Element) -> object:
        return await self.post((verb.text or "").strip())

    async def _record(self, verb: ET.Element) -> object:
        self.note("the caller is asked for a voicemail")
        self.call.heard.append({"record": verb.get("maxLength", "3600")})
        spoke = self.spend(10)
        extra = {"RecordingUrl": f"https://api.twilio.com/recordings/RE{secrets.token_hex(16)}",
                 "RecordingDuration": "10", "Digits": "hangup"}
        if not spoke:
            self.params["CallStatus"] = "completed"
        document = await self.post(verb.get("action", ""), extra)
        return document if spoke else None

    async def _dial(self, verb: ET.Element) -> object:
        numbers = [n.text.strip() for n in verb.findall("Number") if n.text] or [
            (verb.text or "").strip()
        ]
        outcome = self.script.outcome
        timeout = float(verb.get("timeout", "30"))
        status = DIAL_STATUS[outcome]
        ringing = {"answer": 5.0, "voicemail": float(VOICEMAIL_PICKUP)}.get(outcome, timeout)
        ringing = 0.0 if outcome in ("busy", "failed") else min(ringing, timeout)
        if outcome == "voicemail" and timeout <= VOICEMAIL_PICKUP:
            status, ringing = "no-answer", timeout
        self.note(f"the engine dials {', '.join(numbers)} for up to {timeout:g} s")
        for number in numbers:
            self.call.dialed.append({"to": number, "status": status, "screened": False})
        if not self.spend(ringing):
            return None
        extra = {"DialCallStatus": status, "DialCallSid": "CA" + secrets.token_hex(16)}
        if status == "completed":
            self.note("the business answers; they talk")
            extra["DialCallDuration"] = str(CONVERSATION)
            self.clock += CONVERSATION
            self.call.ended_by = "business"
        else:
            self.note(f"the dial ends: {status}")
        action = verb.get("action")
        if action is None:
            raise SimulationError("<Dial> without an action: the engine would never hear back")
        return await self.post(action, extra)

    async def finish(self) -> None:
        """Post the status callback a finished call produces."""
        final = self.params["CallStatus"]
        if final in ("ringing", "in-progress"):
            final = "completed"
        self.sequence += 1
        await self.post("/voice/status", {
            "CallStatus": final, "CallDuration": str(int(self.clock)),
            "SequenceNumber": str(self.sequence), "Timestamp": format_datetime(datetime.now(UTC)),
            "CallbackSource": "call-progress-events",
        })


_CONTINUE = object()


def _query(url: str) -> str:
    query = urlsplit(url).query
    return f"?{query}" if query else ""


def _duration(audio: bytes) -> float:
    """Seconds of a WAV file; other formats count as 3 s, a short greeting's length."""
    import io

    try:
        with wave.open(io.BytesIO(audio)) as sound:
            return sound.getnframes() / float(sound.getframerate())
    except (wave.Error, EOFError):
        return 3.0


@asynccontextmanager
async def _local_engine(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """An engine in this process on a fresh store, texts in dry-run mode."""
    with tempfile.TemporaryDirectory(prefix="ringback-sim-") as folder:
        store = Store(f"sqlite:///{Path(folder) / 'simulation.db'}")
        app = create_app(settings, transport=DryRun(), store=store)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ringback.local") as client:
                yield client, app.state.engine
        store.close()


async def simulate(settings: Settings, flow: Flow, script: Script) -> Call:
    """Play one call through `flow` in this process; the result, as the spec's JSON says."""
    token = secrets.token_hex(16)
    settings = Settings(**{**settings.__dict__, "auth_token": token, "account_sid": None,
                           "public_url": "http://ringback.local", "watch": False})
    call = Call(flow=flow.id, call_sid="CA" + secrets.token_hex(16))
    async with _local_engine(settings) as (client, engine):
        player = _Player(client, token, "http://ringback.local", script, call)
        await player.run("/voice")
        await player.finish()
        await engine.outbox.drain()
        stored = engine.store.call(call.call_sid)
        call.trigger = stored.trigger if stored else ""
        call.sms = [_text(message) for message in engine.store.messages_for_call(call.call_sid)]
    return call


def _text(message: Any) -> dict[str, Any]:
    if message.status == "skipped":
        return {"to": message.to_number, "status": "skipped", "reason": message.reason}
    return {
        "to": message.to_number, "from": message.from_number, "body": message.body,
        "encoding": message.encoding, "segments": message.segments, "status": message.status,
    }
