"""Replies: texts callers send to a line, on `POST /sms`.

Every reply is kept on the caller's history with that line. A reply that is nothing but
an opt-out word (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT; case and surrounding
white space ignored, as Twilio matches them) opts the caller out of that line, and only
that line; START, YES or UNSTOP opts them back in. A sentence that merely contains
"stop" ("Stop texting me") is an ordinary reply: Twilio itself only acts on the bare
word, and the engine must agree with Twilio about who is opted out. For the same reason,
Twilio's `OptOutType` (sent when Advanced Opt-Out, with its own keywords, is on) wins.

An ordinary reply is answered with the flow's `sms.reply` copy, when it has one, once
per follow-up: after the line's last text to the caller, the first reply gets the copy
and the next ones do not, so two auto-responders can never talk to each other for long.
Opt-out, opt-in and help words get no copy: the copy is for conversation, and Twilio's
own keyword handling answers those words.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Final, Literal

from twilio.twiml.messaging_response import MessagingResponse

from engine.dsl.flow import Flow
from engine.flows.calls import flow_line
from engine.flows.registry import FlowSet
from engine.phone import PhoneNumberError, mask, read_caller, to_e164
from engine.sms.copy import CopyError, Template, compile_copy
from engine.store import Store

__all__ = ["OPT_IN_WORDS", "OPT_OUT_WORDS", "Replies", "kind_of"]

log = logging.getLogger("ringback.sms")

OPT_OUT_WORDS: Final = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
OPT_IN_WORDS: Final = frozenset({"start", "yes", "unstop"})
HELP_WORDS: Final = frozenset({"help", "info"})

Kind = Literal["opt-out", "opt-in", "help", "reply"]


# A number in a Messaging Service with Advanced Opt-Out gets Twilio's own reading of the
# reply in `OptOutType` (its keywords may be customised); the engine takes Twilio's word.
_OPT_OUT_TYPES: Final[dict[str, Kind]] = {"stop": "opt-out", "start": "opt-in", "help": "help"}


def kind_of(body: str, opt_out_type: str | None = None) -> Kind:
    """What a reply asks for: "  stop " → "opt-out"; "Stop texting me" → "reply".

    Only the whole message counts, in any case, surrounding white space ignored. Twilio's
    `OptOutType` (STOP, START, HELP), when it sends one, decides instead.
    """
    if opt_out_type and opt_out_type.strip().casefold() in _OPT_OUT_TYPES:
        return _OPT_OUT_TYPES[opt_out_type.strip().casefold()]
    word = body.strip().casefold()
    if word in OPT_OUT_WORDS:
        return "opt-out"
    if word in OPT_IN_WORDS:
        return "opt-in"
    if word in HELP_WORDS:
        return "help"
    return "reply"


class Replies:
    """The engine's side of `POST /sms`: keep the reply, apply its keyword, answer."""

    def __init__(
        self, flows: Callable[[], FlowSet], store: Store,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._flows = flows
        self.store = store
        self.clock = clock

    def receive(self, params: Mapping[str, str]) -> str:
        """Record one incoming text; the MessagingResponse TwiML to answer Twilio with."""
        to, body, sid = params.get("To", ""), params.get("Body", ""), params.get("MessageSid", "")
        flow = self._flows().for_number(to)
        line = flow_line(flow, to) if flow else _e164_or_raw(to)
        caller = read_caller(params.get("From"), flow.region if flow else None)
        number = caller.e164 or params.get("From", "").strip()
        kind = kind_of(body, params.get("OptOutType"))
        reply_id = self.store.add_reply(sid, line, number, body, kind, params)
        if reply_id is None:
            log.info("Reply %s to line %s was already received (Twilio retried).", sid, line)
            return _answer(None)
        self._apply(kind, line, number, sid, flow)
        if kind != "reply" or flow is None:
            return _answer(None)
        return _answer(self._auto_reply(flow, line, number, reply_id))

    def _apply(self, kind: Kind, line: str, number: str, sid: str, flow: Flow | None) -> None:
        """Opt the caller out of, or back in to, the line; log the reply either way."""
        if kind == "opt-out":
            self.store.opt_out(line, number, source="reply")
            what = "opted out of"
        elif kind == "opt-in":
            self.store.opt_in(line, number)
            what = "opted back in to"
        else:
            what = f"replied ({kind}) to"
        log.info(
            "Reply %s: %s %s line %s (flow %s).",
            sid, mask(number), what, mask(line), flow.id if flow else "none",
        )

    def _auto_reply(self, flow: Flow, line: str, number: str, reply_id: int) -> str | None:
        """The `sms.reply` copy for this reply, or None when it must not be answered."""
        if flow.sms.reply is None or self.store.opted_out(line, number):
            return None
        last_answer = self.store.last_auto_reply(line, number)
        last_text = self.store.last_text_to(line, number)
        if last_answer is not None and (last_text is None or last_text <= last_answer):
            return None
        text = _render(flow, line, number, self.clock())
        if text is not None:
            self.store.mark_answered(reply_id)
        return text


def _render(flow: Flow, line: str, number: str, now: datetime) -> str | None:
    """The reply copy with the names copy may use; call names are empty (no call)."""
    assert flow.sms.reply is not None
    try:
        template = _compiled(flow.sms.reply)
    except CopyError:
        log.exception("Flow %s: sms.reply is not a valid template; not answering.", flow.id)
        return None
    local = now.astimezone(flow.tz)
    values = {
        "business": flow.business, "caller": number, "line": line, "trigger": "",
        "local_time": local.strftime("%H:%M"), "opens_at": flow.schedule.opens_at(local),
        "call_id": "",
    }
    return template.render(values)


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return compile_copy(source)


def _answer(text: str | None) -> str:
    """`<Response/>`, or a `<Message>` sent back to the caller from the line."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response.to_xml())


def _e164_or_raw(number: str) -> str:
    try:
        return to_e164(number, None)
    except PhoneNumberError:
        return number.strip()
