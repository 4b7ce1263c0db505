"""The caller's leg: the call from its first webhook to its last status callback.

On top of what every leg does (`engine._twilio`), the caller's leg dials the business
(the business phone doing what `--outcome` says, with the timings below), records
voicemail, can be rejected, and posts the call's status callbacks as a number subscribed
to every event: `ringing` and `in-progress` as the call is answered, then its final
status with `CallDuration`, each with `SequenceNumber` and `Timestamp` (reference §2.3).
"""

from __future__ import annotations

import math
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from engine._call import CallerGone, Document, SimulationError
from engine._twilio import CALLER_ONLY, BusinessLeg, Go, Leg, Session, url_path

__all__ = ["CallerLeg"]

ANSWER_AFTER = 5.0  # a person picks up after five seconds of ringing
VOICEMAIL_PICKUP = 15.0  # the phone's own voicemail, as the spec says
CONVERSATION = 60.0  # a person talks for a minute, then hangs up
VOICEMAIL_MESSAGE = 20.0  # what a caller tells the business phone's voicemail
CALLER_MESSAGE = 10.0  # what a caller tells the flow's own voicemail (`<Record>`)


@dataclass
class _Phone:
    """One `<Number>` of a dial, and how its leg ended."""

    number: str
    url: str | None
    sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    status: str = "no-answer"


@dataclass
class _Dialed:
    status: str
    sid: str
    talked: float = 0.0
    bridged: bool = False


class CallerLeg(Leg):
    """The caller's leg: the call itself, from the first webhook to the last callback."""

    allowed = (*Leg.allowed, *CALLER_ONLY)

    def __init__(self, session: Session) -> None:
        script = session.script
        params = {
            "CallSid": session.call.call_sid, "AccountSid": session.account,
            "From": script.caller, "To": script.line, "Caller": script.caller,
            "Called": script.line, "CallStatus": "ringing", "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        super().__init__(session, params)
        self.sequence = 0
        self.rejected: str | None = None
        self.business_ended = False
        self.heard_then = 0
        self.first: Document | None = None

    def heard(self, entry: dict[str, Any]) -> None:
        self.session.call.heard.append(entry)

    def keys(self, action: str, prompt: str) -> str:
        """The caller's next `--digits` entry, one per menu."""
        return self.session.digits.pop(0) if self.session.digits else ""

    async def run(self, first: dict[str, str]) -> None:
        """Play the whole call; `first` are parameters of the first webhook only."""
        try:
            self.first = await self.fetch(self.session.wire.absolute("/voice"), first)
            await self.status("ringing")
            if not _rejects(self.first):
                await self.status("in-progress")
            document: Document | None = self.first
            self.params["CallStatus"] = "in-progress"
            while document is not None:
                document = await self.perform(document)
        except CallerGone:
            pass
        if self.business_ended and len(self.session.call.heard) == self.heard_then:
            self.session.call.ended_by = "business"
        self.session.call.duration = self.session.clock
        await self.status(self.final())

    def final(self) -> str:
        """The call's last status: a rejected call was never answered."""
        if self.rejected is not None:
            return "busy" if self.rejected == "busy" else "no-answer"
        return "completed"

    async def status(self, status: str) -> None:
        """Post a status callback of the call, as a number subscribed to its events."""
        params = {
            "CallStatus": status, "SequenceNumber": str(self.sequence),
            "Timestamp": self.session.timestamp(), "CallbackSource": "call-progress-events",
        }
        if status not in ("ringing", "in-progress"):
            params["CallDuration"] = str(self.duration())
            self.note("twilio", f"reports the call {status}, {params['CallDuration']} s long")
        self.sequence += 1
        url = self.session.wire.absolute("/voice/status")
        response = await self.session.wire.send(url, {**self.params, **params})
        if response.status_code >= 400:
            raise SimulationError(
                f"/voice/status answered HTTP {response.status_code}: {response.text[:200]}"
            )
        await self.session.observe()

    def duration(self) -> int:
        """`CallDuration`: whole seconds, rounded up; 0 for a call never answered."""
        return 0 if self.rejected is not None else math.ceil(round(self.session.clock, 3))

    # --- verbs only the caller's leg has --------------------------------------------

    async def _reject(self, verb: ET.Element, document: Document) -> None:
        reason = verb.get("reason", "rejected")
        line = self.session.lines.of_verb("reject", reason, self.session.trigger)
        if document is not self.first or document.root[0] is not verb:
            self.note("twilio", "<Reject> after the call was answered: Twilio hangs up", line)
            return
        self.rejected = reason
        self.note("engine", f"rejects the call ({reason}): it is never answered", line)

    async def _record(self, verb: ET.Element, document: Document) -> Document | None:
        action = urljoin(document.url, verb.get("action") or document.url)
        line = self.session.lines.of_url(action)
        longest = int(verb.get("maxLength", "3600"))
        beep = verb.get("playBeep", "true").lower() != "false"
        # Being recorded is not something the caller hears: the timeline tells it, and
        # `heard` stays the list of what was said and played.
        self.note("caller", f"is recorded{' after a beep' if beep else ''} "
                            f"(at most {longest} s)", line)
        start = self.session.clock
        try:
            self.session.spend(min(CALLER_MESSAGE, longest))
            spoke = self.session.clock - start
            self.note("caller", f"leaves a {spoke:g} s message and falls silent")
            self.session.spend(float(verb.get("timeout", "5")))
        except CallerGone:
            spoke = min(self.session.clock - start, CALLER_MESSAGE)
            await self.fetch(action, self._recording(spoke, "hangup"))
            raise
        return await self.fetch(action, self._recording(spoke, None))

    def _recording(self, seconds: float, digits: str | None) -> dict[str, str]:
        sid = "RE" + secrets.token_hex(16)
        extra = {
            "RecordingSid": sid, "RecordingDuration": str(math.ceil(seconds)),
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/"
                            f"{self.session.account}/Recordings/{sid}",
        }
        if digits:
            extra["Digits"] = digits
        if self.session.gone:
            extra["CallStatus"] = "completed"
        return extra

    async def _dial(self, verb: ET.Element, document: Document) -> Document | None | Go:
        phones = _phones(verb, document.url)
        timeout = float(verb.get("timeout", "30"))
        action = verb.get("action")
        action = urljoin(document.url, action) if action else None
        lines = self.session.lines
        line = lines.of_url(action)
        screened = lines.screens(action)
        screened = any(p.url for p in phones) if screened is None else screened
        numbers = ", ".join(p.number for p in phones)
        self.note("engine", f"dials {numbers} for up to {timeout:g} s"
                            f"{' (screened)' if screened else ''}", line)
        try:
            dialed = await self._connect(phones, timeout, verb, screened)
        except _DialOver as over:
            dialed = over.dialed
        self.session.call.dialed.extend(
            {"to": p.number, "status": p.status, "screened": screened} for p in phones
        )
        return await self._after_dial(action, dialed)

    async def _after_dial(self, action: str | None, dialed: _Dialed) -> Document | None | Go:
        extra = {
            "DialCallStatus": dialed.status, "DialCallSid": dialed.sid,
            "DialCallDuration": str(math.ceil(dialed.talked)),
            "DialBridged": "true" if dialed.bridged else "false",
        }
        if self.session.gone:
            extra["CallStatus"] = "completed"
        if action is None:
            if self.session.gone:
                raise CallerGone
            self.note("twilio", "the dial has no action: Twilio goes on with the next verb")
            return Go.ON
        document = await self.fetch(action, extra)
        if self.session.gone:
            self.note("twilio", "the caller is gone: Twilio ignores that TwiML")
            raise CallerGone
        self.heard_then = len(self.session.call.heard)
        return document

    async def _connect(
        self, phones: list[_Phone], timeout: float, verb: ET.Element, screened: bool
    ) -> _Dialed:
        """Ring the phones as the outcome says; how the dial ended."""
        outcome = self.session.script.outcome
        first = phones[0]
        if outcome in ("busy", "failed"):
            for phone in phones:
                phone.status = outcome
            self.note("business", "is busy" if outcome == "busy" else "cannot be reached: "
                      "the call fails")
            return _Dialed(outcome, first.sid)
        pickup = {"answer": ANSWER_AFTER, "voicemail": VOICEMAIL_PICKUP}.get(outcome)
        if pickup is None or pickup >= timeout:
            await self._ring(phones, timeout)
            self.note("business", f"does not answer within {timeout:g} s")
            return _Dialed("no-answer", first.sid)
        await self._ring(phones, pickup)
        for phone in phones[1:]:
            phone.status = "canceled"
        first.status = "completed"
        person = outcome == "answer"
        self.note("business", f"{first.number} answers" if person else
                  f"{first.number}'s voicemail answers")
        if first.url and not await self._screen(first, person):
            return _Dialed("completed", first.sid)
        return await self._talk(first, person, verb, screened)

    async def _ring(self, phones: list[_Phone], seconds: float) -> None:
        """The phones ring; a caller who hangs up meanwhile cancels them."""
        try:
            self.session.spend(seconds)
        except CallerGone:
            # Unverified: Twilio's DialCallStatus when the caller gives up while it rings.
            for phone in phones:
                phone.status = "canceled"
            raise _DialOver(_Dialed("no-answer", phones[0].sid)) from None

    async def _screen(self, phone: _Phone, person: bool) -> bool:
        """Run the `<Number url>` TwiML on the business's leg; whether it bridges."""
        assert phone.url is not None
        params = {
            "CallSid": phone.sid, "ParentCallSid": self.params["CallSid"],
            "AccountSid": self.session.account, "From": self.params["From"],
            "To": phone.number, "CallStatus": "in-progress", "Direction": "outbound-dial",
            "ApiVersion": "2010-04-01",
        }
        business = BusinessLeg(self.session, params, person)
        try:
            document: Document | None = await business.fetch(phone.url)
            while document is not None:
                document = await business.perform(document)
        except CallerGone:
            raise _DialOver(_Dialed("completed", phone.sid)) from None
        if business.declined:
            self.note("business", "did not take the call: its leg is hung up")
        return not business.declined

    async def _talk(
        self, phone: _Phone, person: bool, verb: ET.Element, screened: bool
    ) -> _Dialed:
        """The bridged call: a person talks, or the caller speaks to a voicemail."""
        length = CONVERSATION if person else VOICEMAIL_MESSAGE
        limit = verb.get("timeLimit")
        if limit is not None:
            length = min(length, float(limit))
        self.note("caller", "talks with the business" if person else
                  "leaves a message on the business phone's voicemail")
        start = self.session.clock
        try:
            self.session.spend(length)
        except CallerGone:
            talked = self.session.clock - start
            raise _DialOver(_Dialed("completed", phone.sid, talked, True)) from None
        if limit is not None and length == float(limit):
            self.note("twilio", f"cuts the bridge after timeLimit {limit} s")
        elif person:
            self.note("business", "hangs up")
            self.business_ended = True
        else:
            self.session.hang_up()
        if not person and not screened:
            self.note("twilio", "reports the dial completed, as if the business had answered "
                                "(a dial with screen would count it as missed)")
        return _Dialed("completed", phone.sid, length, True)


class _DialOver(Exception):
    """The caller hung up during a dial; how the dial ended for its `action`."""

    def __init__(self, dialed: _Dialed) -> None:
        self.dialed = dialed


def _rejects(document: Document) -> bool:
    return len(document.root) > 0 and document.root[0].tag == "Reject"


def _phones(verb: ET.Element, url: str) -> list[_Phone]:
    """The numbers a `<Dial>` rings at once: its `<Number>`s, or the number in its body."""
    phones = []
    for noun in verb:
        if noun.tag != "Number":
            raise SimulationError(f"the simulator cannot dial <{noun.tag}> (in {url_path(url)})")
        target = noun.get("url")
        phones.append(_Phone(" ".join((noun.text or "").split()),
                             urljoin(url, target) if target else None))
    if not phones and (verb.text or "").strip():
        phones.append(_Phone(verb.text.strip(), None))  # type: ignore[union-attr]
    if not phones:
        raise SimulationError(f"<Dial> with nothing to dial (in {url_path(url)})")
    return phones
