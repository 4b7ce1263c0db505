"""Twilio's side of one call: TwiML documents carried out verb by verb, on a clock.

What Twilio does, and so what the simulator does (TwiML reference §1, webhooks §2):

- `<Say>` takes 0.4 s a word, `<Play>` the audio's real length, each times `loop`
  (`loop="0"` repeats until the call ends, at most 1000 times); `<Pause>` its `length`.
- `<Gather>` plays its prompts, then takes the caller's next `--digits` entry: with
  `numDigits` reached or `finishOnKey` pressed it posts `action` at once, else after
  `timeout` more seconds. With no key it waits `timeout` and goes on with the next verb,
  unless `actionOnEmptyResult="true"` makes it post `action` without `Digits`.
- `<Dial>` rings every `<Number>` at once. The business phone does what the outcome says:
  `busy` and `failed` at once; `no-answer` rings for `timeout`; `answer` is a person who
  picks up after 5 s, `voicemail` the phone's own voicemail after 15 s (neither when the
  timeout comes first). The first to pick up is bridged and the others are hung up; a
  `<Number url>` first runs its TwiML on the business's leg (the screening prompt): a
  person presses the digit asked for, a voicemail presses nothing. A person talks for
  60 s and hangs up; a caller leaves a 20 s message on a voicemail and hangs up. The
  `action` gets `DialCallStatus`: `completed` for any leg that picked up, bridged or not.
- `<Record>`: the caller speaks for 10 s and falls silent; after `timeout` (5 s) of
  silence Twilio posts `action` with the recording. A caller who hangs up while recorded
  still gets the `action` posted, with `Digits=hangup`.
- `<Redirect>` fetches its URL; `<Hangup/>` and the end of a document end the call;
  `<Reject/>` as the first verb refuses it unanswered (`busy` or `no-answer`).
- The caller hangs up `--hangup-after` seconds in, whatever is going on. An action that
  reports the moment (a dial, a recording) is still posted, with `CallStatus=completed`,
  and the TwiML it returns is ignored.

Anything else in a document is an error that names the verb: the simulator never skips
what it does not understand.
"""

from __future__ import annotations

import enum
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from engine._audio import AudioError, audio_seconds
from engine._call import Call, CallerGone, Document, Moment, Script, SimulationError, Wire
from engine._lines import Lines

__all__ = ["CALLER_ONLY", "BusinessLeg", "Go", "Leg", "Session", "url_path"]

SECONDS_PER_WORD = 0.4
MAX_LOOPS = 1000
MAX_REQUESTS = 200
TWIML_TYPES = ("text/xml", "application/xml")
CALLER_ONLY = ("Dial", "Record", "Reject")


class Go(enum.Enum):
    """What a verb returns when the document goes on with the next verb."""

    ON = "on"


class Session:
    """One call's shared state: the clock, the script, the wire and what was seen."""

    def __init__(
        self, wire: Wire, script: Script, call: Call, lines: Lines,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.wire, self.script, self.call, self.lines = wire, script, call, lines
        self.settle = settle
        self.clock = 0.0
        self.gone = False
        self.trigger = ""
        self.texts: set[str] = set()
        self.requests = 0
        self.digits = list(script.digits)
        self.audio: dict[str, float | None] = {}
        self.account = "AC" + secrets.token_hex(16)

    def note(self, who: str, what: str, line: int | None = None) -> None:
        self.call.timeline.append(Moment(round(self.clock, 1), who, what, line))

    def spend(self, seconds: float) -> None:
        """Let time pass; raise CallerGone when the caller hangs up before it has.

        A caller who hangs up at the very moment something ends has heard all of it.
        """
        limit = self.script.hangup_after
        if limit is not None and (limit <= self.clock or limit < self.clock + seconds):
            self.clock = max(self.clock, limit)
            self.hang_up()
            raise CallerGone
        self.clock += seconds

    def hang_up(self) -> None:
        if not self.gone:
            self.gone = True
            self.call.ended_by = "caller"
            self.note("caller", "hangs up")

    def counted(self) -> None:
        self.requests += 1
        if self.requests > MAX_REQUESTS:
            raise SimulationError(
                f"the call made more than {MAX_REQUESTS} webhook requests: the flow loops"
            )

    async def observe(self) -> None:
        """After a webhook: the trigger the engine moved to and the texts it decided."""
        if self.settle is not None:
            await self.settle()
        report = await self.wire.report(self.call.call_sid)
        if report is None:
            return
        if report.get("trigger") and report["trigger"] != self.trigger:
            self.trigger = report["trigger"]
            self.note("engine", f"trigger: {self.trigger}{self.lines.fallback(self.trigger)}")
        for text in report.get("sms", []):
            step = text.get("step", "")
            if step in self.texts:
                continue
            self.texts.add(step)
            self.note("engine", f"decides a text: {_decision(text)}", self.lines.of_step(step))

    async def audio_length(self, url: str) -> float | None:
        """Seconds of the audio at `url`, fetched as Twilio fetches `<Play>` media."""
        if url not in self.audio:
            self.audio[url] = await self._measure(url)
        return self.audio[url]

    async def _measure(self, url: str) -> float | None:
        try:
            if url.startswith(self.wire.base):
                response = await self.wire.client.get(url)
            else:
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.get(url)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            raise SimulationError(f"<Play> {url} answered HTTP {response.status_code}")
        try:
            return audio_seconds(response.content, urlsplit(url).path)
        except AudioError as exc:
            raise SimulationError(f"<Play> {url}: {exc}") from None

    def timestamp(self) -> str:
        """Now in the call, as Twilio writes `Timestamp` (RFC 2822, UTC)."""
        moment = self.call.started.astimezone(UTC) + timedelta(seconds=self.clock)
        return format_datetime(moment)


def _decision(text: dict[str, Any]) -> str:
    if text.get("status") == "skipped":
        return f"to {text.get('to') or '(no number)'} skipped ({text.get('reason')})"
    return f"to {text.get('to')} from {text.get('from')}"


class Leg:
    """One leg of the call carrying out TwiML: the caller's, or the business's."""

    who = "caller"
    allowed: tuple[str, ...] = ("Say", "Play", "Pause", "Gather", "Redirect", "Hangup")

    def __init__(self, session: Session, params: dict[str, str]) -> None:
        self.session = session
        self.params = params

    def note(self, who: str, what: str, line: int | None = None) -> None:
        self.session.note(who, what, line)

    async def fetch(
        self, url: str, extra: dict[str, str] | None = None, method: str = "POST"
    ) -> Document:
        """Request TwiML as Twilio does; the document it answers."""
        self.session.counted()
        params = {**self.params, **(extra or {})}
        response = await self.session.wire.send(url, params, method)
        if response.status_code != 200:
            refused = response.status_code == 403
            hint = " (is TWILIO_AUTH_TOKEN the engine's token?)" if refused else ""
            raise SimulationError(
                f"{url_path(url)} answered HTTP {response.status_code}: "
                f"{response.text[:200]}{hint}"
            )
        kind = response.headers.get("content-type", "")
        if not kind.startswith(TWIML_TYPES):
            raise SimulationError(
                f"{url_path(url)} answered {kind or 'no content type'}, not TwiML "
                "(Twilio error 12300)"
            )
        await self.session.observe()
        self.session.lines.new_document()
        return Document(url, _parse(response.text, url))

    async def perform(self, document: Document) -> Document | None:
        """Carry out one document; the next document when a verb hands control back."""
        for verb in document.root:
            if verb.tag not in self.allowed:
                raise SimulationError(_unknown(verb.tag, self.allowed, document.url))
            handler: Callable[[ET.Element, Document], Awaitable[Any]]
            handler = getattr(self, f"_{verb.tag.lower()}")
            result = await handler(verb, document)
            if result is not Go.ON:
                return result  # type: ignore[no-any-return]
        self.ended(document)
        return None

    def ended(self, document: Document) -> None:
        self.note("twilio", "the TwiML ends: Twilio hangs up")

    # --- what is heard --------------------------------------------------------------

    def heard(self, entry: dict[str, Any]) -> None:
        """Only what the caller hears goes into `heard`."""

    async def _say(self, verb: ET.Element, document: Document, line: int | None = None) -> Go:
        text = " ".join("".join(verb.itertext()).split())  # SSML children are spoken too
        loops = _loops(verb)
        seconds = len(text.split()) * SECONDS_PER_WORD * loops
        line = line or self.session.lines.of_verb("say", text, self.session.trigger)
        for _ in range(_heard_times(verb)):
            self.heard({"say": text})
        self.note(self.who, f'hears "{text}"{_times(loops)} ({seconds:.1f} s)', line)
        self.session.spend(seconds)
        return Go.ON

    async def _play(self, verb: ET.Element, document: Document, line: int | None = None) -> Go:
        if verb.get("digits"):
            tones = verb.get("digits", "")
            self.note(self.who, f"hears the tones {tones}", line)
            self.session.spend(0.5 * len(tones))
            return Go.ON
        url = urljoin(document.url, (verb.text or "").strip())
        name = _audio_name(url, self.session.wire.base)
        loops = _loops(verb)
        seconds = await self.session.audio_length(url)
        file = name.rsplit("/", 1)[-1]
        line = line or self.session.lines.of_verb("play", file, self.session.trigger)
        for _ in range(_heard_times(verb)):
            self.heard({"play": name})
        if seconds is None:
            self.note(self.who, f"hears {name}{_times(loops)} (length unknown: counted as 0 s)",
                      line)
            return Go.ON
        self.note(self.who, f"hears {name}{_times(loops)} ({seconds * loops:.1f} s)", line)
        self.session.spend(seconds * loops)
        return Go.ON

    async def _pause(self, verb: ET.Element, document: Document, line: int | None = None) -> Go:
        seconds = float(verb.get("length", "1"))
        line = line or self.session.lines.of_verb("pause", f"{seconds:g}", self.session.trigger)
        self.note(self.who, f"hears silence ({seconds:g} s)", line)
        self.session.spend(seconds)
        return Go.ON

    # --- control --------------------------------------------------------------------

    async def _gather(self, verb: ET.Element, document: Document) -> Document | None | Go:
        if "dtmf" not in verb.get("input", "dtmf").split():
            raise SimulationError("<Gather> without dtmf input: the simulator presses keys, "
                                  "it cannot speak")
        action = urljoin(document.url, verb.get("action") or document.url)
        line = self.session.lines.of_url(action)
        prompt = []
        for child in verb:
            if child.tag not in ("Say", "Play", "Pause"):
                raise SimulationError(f"<Gather> cannot hold <{child.tag}> (in {document.url})")
            prompt.append(child.text or "")
            await getattr(self, f"_{child.tag.lower()}")(child, document, line)
        timeout = float(verb.get("timeout", "5"))
        entry = self.keys(action, " ".join(prompt))
        digits, wait = _entered(entry, verb)
        if not digits:
            return await self._no_key(verb, action, timeout, line)
        self.note(self.who, f"presses {entry}", line)
        if wait:
            self.session.spend(timeout)
        return await self.fetch(action, {"Digits": digits})

    async def _no_key(
        self, verb: ET.Element, action: str, timeout: float, line: int | None
    ) -> Document | Go:
        self.note(self.who, f"presses nothing for {timeout:g} s", line)
        self.session.spend(timeout)
        if verb.get("actionOnEmptyResult", "false").lower() == "true":
            return await self.fetch(action)
        self.note("twilio", "no key: Twilio goes on with the next verb")
        return Go.ON

    def keys(self, action: str, prompt: str) -> str:
        """The keys this leg presses at a `<Gather>`; empty for none."""
        return ""

    async def _redirect(self, verb: ET.Element, document: Document) -> Document:
        url = urljoin(document.url, (verb.text or "").strip())
        return await self.fetch(url, method=verb.get("method", "POST"))

    async def _hangup(self, verb: ET.Element, document: Document) -> None:
        line = self.session.lines.of_verb("hangup", "", self.session.trigger)
        self.note("engine", "hangs up", line)


class BusinessLeg(Leg):
    """The business's own leg of a `<Dial>`: the `<Number url>` TwiML before bridging."""

    who = "business"

    def __init__(self, session: Session, params: dict[str, str], person: bool) -> None:
        super().__init__(session, params)
        self.person = person
        self.declined = False

    def keys(self, action: str, prompt: str) -> str:
        if not self.person:
            return ""
        return self.session.lines.screen_digit(action, prompt)

    async def _hangup(self, verb: ET.Element, document: Document) -> None:
        self.declined = True
        self.note("engine", "hangs up the business's leg")

    def ended(self, document: Document) -> None:
        self.note("twilio", "the business's TwiML ends: Twilio bridges the call")


def _parse(xml: str, url: str) -> ET.Element:
    if xml[:1].isspace():
        raise SimulationError(f"{url_path(url)}: space before the XML declaration (Twilio 12100)")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise SimulationError(f"{url_path(url)} answered malformed TwiML (Twilio 12100): {exc}") \
            from None
    if root.tag != "Response":
        raise SimulationError(f"{url_path(url)}: TwiML must be a <Response>, got <{root.tag}> "
                              "(Twilio 12102)")
    return root


def _unknown(tag: str, allowed: tuple[str, ...], url: str) -> str:
    if tag in CALLER_ONLY:
        return f"<{tag}> is not allowed on the business's leg (in the TwiML of {url_path(url)})"
    return f"the simulator cannot carry out <{tag}> (in the TwiML of {url_path(url)})"


def url_path(url: str) -> str:
    """`http://ringback.local/voice/dial?step=on.open.1` → `/voice/dial?step=on.open.1`."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _loops(verb: ET.Element) -> int:
    value = int(verb.get("loop", "1") or "1")
    return MAX_LOOPS if value == 0 else value


def _heard_times(verb: ET.Element) -> int:
    """How many entries a looped verb makes in `heard`: one per loop.

    `loop="0"` repeats until the call moves on or the caller hangs up; how many times
    that is cannot be told apart from one long hearing, so it counts once.
    """
    value = int(verb.get("loop", "1") or "1")
    return 1 if value == 0 else value


def _times(loops: int) -> str:
    return f" {loops} times" if loops > 1 else ""


def _audio_name(url: str, base: str) -> str:
    """A greeting served by the engine by its file name; other audio by its URL."""
    parts = urlsplit(url)
    if url.startswith(base) or parts.hostname in ("localhost", "127.0.0.1"):
        return parts.path.rsplit("/", 1)[-1]
    if "/greetings/" in parts.path:
        return parts.path.rsplit("/", 1)[-1]
    return url


def _entered(entry: str, verb: ET.Element) -> tuple[str, bool]:
    """The digits a `<Gather>` posts for the keys pressed, and whether it waits `timeout`
    for more first (neither `numDigits` reached nor `finishOnKey` pressed)."""
    if not entry:
        return "", False
    wanted = verb.get("numDigits")
    finish = verb.get("finishOnKey", "#")
    if wanted and wanted.isdigit() and len(entry) >= int(wanted):
        return entry[: int(wanted)], False
    if finish and finish in entry:
        return entry[: entry.index(finish)], False
    return entry, True
