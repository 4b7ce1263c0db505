"""Emitting TwiML: a trigger's steps become the document Twilio runs.

TwiML is built with twilio's own `VoiceResponse`, so every document is well-formed and
escaped. A verb with an `action` (`<Dial>`, `<Record>`, a menu's `<Gather>`) hands control
back to the engine, and Twilio never reaches the verbs written after it, so emission stops
there; the engine's own URLs carry the flow and the step so that a retried or late
request, even to a restarted engine, knows where the call is.

`sms` steps are not heard: emission returns them for the engine to carry out.

A document depends only on the flow's version, the steps, the public base URL and the
number the caller dialed, so `Emitter` keeps each one it has built and a webhook reuses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from engine.dsl import model as m
from engine.dsl.flow import Action, Flow

__all__ = [
    "Document", "apology", "continuation", "emit", "empty", "fallback_dial", "hangup",
    "screening",
]

APOLOGY = "Sorry, this number cannot take your call right now. Please try again later."


@dataclass(frozen=True)
class Document:
    """A TwiML document and the `sms` steps its steps ask the engine to carry out."""

    xml: str
    texts: tuple[Action, ...]


def continuation(kind: str, flow: Flow, action: Action) -> str:
    """The engine's URL for what comes back from a verb: `/voice/dial?flow=salon&step=on.open.1`.

    The query is written in one fixed order, so the URL Twilio signs is the URL the engine
    wrote, byte for byte.
    """
    return f"/voice/{kind}?" + urlencode({"flow": flow.id, "step": action.key})


def emit(flow: Flow, actions: Sequence[Action], base_url: str, line: str) -> Document:
    """Build the TwiML for `actions`, as the caller of `line` hears them."""
    return _emit(flow, tuple(actions), base_url, line)


@lru_cache(maxsize=4096)
def _emit(flow: Flow, actions: tuple[Action, ...], base_url: str, line: str) -> Document:
    response = VoiceResponse()
    texts: list[Action] = []
    for action in actions:
        if isinstance(action.step, m.SmsStep):
            texts.append(action)
            continue
        if _verb(response, flow, action, base_url, line):
            break
    else:
        response.hangup()
    return Document(xml=response.to_xml(), texts=tuple(texts))


def _verb(response: VoiceResponse, flow: Flow, action: Action, base_url: str, line: str) -> bool:
    """Append one step's verb; True when the step ends the document."""
    step = action.step
    if isinstance(step, m.SayStep):
        say = step.say
        response.say(say.text, voice=say.voice, language=say.language, loop=_loop(say.loop))
    elif isinstance(step, m.PlayStep):
        response.play(_audio_url(step.play.audio, base_url), loop=_loop(step.play.loop))
    elif isinstance(step, m.PauseStep):
        response.pause(length=step.pause)
    elif isinstance(step, m.DialStep):
        _dial(response, flow, action, line)
        return True
    elif isinstance(step, m.VoicemailStep):
        options = step.voicemail
        response.record(
            action=continuation("recorded", flow, action), max_length=options.max_length,
            play_beep=options.beep, transcribe=options.transcribe,
        )
        return True
    elif isinstance(step, m.MenuStep):
        _menu(response, flow, action, base_url)
        return True
    elif isinstance(step, m.RejectStep):
        response.reject(reason=step.reject)
        return True
    elif isinstance(step, m.HangupStep):
        response.hangup()
        return True
    else:  # pragma: no cover - the model admits no other step
        raise AssertionError(f"no TwiML for step {action.name}")
    return False


def _dial(response: VoiceResponse, flow: Flow, action: Action, line: str) -> None:
    """`<Dial>` with its action; each `<Number>` gets the screening URL when the engine must
    hear that the business picked up (screening, or counting bridged calls for max_calls)."""
    options = action.step.dial
    dial = response.dial(
        action=continuation("dial", flow, action),
        timeout=options.timeout,
        caller_id=line if options.caller_id == "line" else None,
        record="record-from-answer" if options.record else None,
        time_limit=options.time_limit,
    )
    watched = options.screen is not None or options.max_calls is not None
    url = continuation("screen", flow, action) if watched else None
    for number in options.to:
        dial.number(number, url=url)


def _menu(response: VoiceResponse, flow: Flow, action: Action, base_url: str) -> None:
    """`<Gather>` one key around the prompt; with no key Twilio falls through to the
    `<Redirect>`, which asks the same URL without `Digits`: the menu's default."""
    options = action.step.menu
    url = continuation("menu", flow, action)
    gather = response.gather(action=url, num_digits=1, timeout=options.timeout, input="dtmf")
    prompt = options.prompt
    if isinstance(prompt, m.SayStep):
        say = prompt.say
        gather.say(say.text, voice=say.voice, language=say.language, loop=_loop(say.loop))
    elif isinstance(prompt, m.PlayStep):
        gather.play(_audio_url(prompt.play.audio, base_url), loop=_loop(prompt.play.loop))
    response.redirect(url)


def screening(flow: Flow, action: Action) -> str:
    """What the business hears when it picks up a screened dial: the prompt, one key.

    No key (a phone's voicemail cannot press one) falls through to `<Hangup/>`: the
    business leg ends and the caller's dial reports back without the digit recorded.
    """
    screen = action.step.dial.screen
    response = VoiceResponse()
    gather = response.gather(
        action=continuation("screened", flow, action), num_digits=1, timeout=8, input="dtmf"
    )
    prompt = screen.prompt or m.SCREEN_PROMPT.replace("{business}", flow.business)
    gather.say(prompt.replace("{digit}", screen.digit))
    response.hangup()
    return str(response.to_xml())


def _loop(loop: int) -> int | None:
    return None if loop == 1 else loop


def _audio_url(audio: str, base_url: str) -> str:
    """A greeting file is served by the engine; an https:// URL is played as it is."""
    if audio.startswith("https://"):
        return audio
    return f"{base_url.rstrip('/')}/greetings/{audio}"


def empty() -> str:
    """`<Response />`: the answer to a request whose call is already over."""
    return str(VoiceResponse().to_xml())


def hangup() -> str:
    """`<Hangup />`: the polite end of a call."""
    response = VoiceResponse()
    response.hangup()
    return str(response.to_xml())


def apology(text: str = APOLOGY) -> str:
    """A short spoken apology, then hang up."""
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response.to_xml())


def fallback_dial(number: str) -> str:
    """What a caller gets when the flow fails at run time: straight through to the business."""
    response = VoiceResponse()
    response.dial(number, action="/voice/ended")
    return str(response.to_xml())
