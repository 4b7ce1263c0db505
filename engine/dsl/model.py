"""The flow language as a pydantic model: every key, option, default and range in one place.

The model checks each value on its own (a timeout is a whole number of seconds between 5
and 600, a number is a phone number of the flow's region). What needs the whole flow (a
greeting name that must exist, a trigger the schedule can reach) is the linker's job, in
`engine.dsl.compiler`. Validation errors carry stable kebab-case codes as their pydantic
error type; `engine.dsl.compiler` turns them into `path:line:column:` problems.

Steps are one-key mappings; a scalar value is the step's shorthand and is widened to its
options before validation (`dial: "+48601234567"` is `dial: {to: "+48601234567"}`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from engine.phone import PhoneNumberError, is_alphanumeric_sender, to_e164

__all__ = [
    "STEP_NAMES",
    "TRIGGERS",
    "DialStep",
    "FlowModel",
    "GotoStep",
    "Greeting",
    "GreetingStep",
    "HangupStep",
    "MenuStep",
    "PauseStep",
    "PlayStep",
    "RejectStep",
    "SayStep",
    "SmsSettings",
    "SmsStep",
    "Step",
    "VoicemailStep",
]

TRIGGERS = ("open", "busy", "missed", "failed", "out_of_hours", "weekend", "holiday")
Trigger = Literal["open", "busy", "missed", "failed", "out_of_hours", "weekend", "holiday"]


def _fail(code: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(code, message, context)


def _shown(value: Any) -> str:
    """A value as an author would recognise it in an error message."""
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(
        value, bool
    ) else str(value)


def whole_number(code: str, low: int, high: int, unit: str = "seconds") -> Any:
    """A whole number in `low..high`, also when written as a quoted number (`"20"`)."""

    def check(value: Any) -> int:
        number = value
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            number = int(value)
        if isinstance(number, bool) or not isinstance(number, int):
            raise _fail(code, f"must be a whole number of {unit}, got {_shown(value)}")
        if not low <= number <= high:
            raise _fail(code, f"must be between {low} and {high} {unit}, got {number}")
        return number

    schema: dict[str, Any] = {"anyOf": [
        {"type": "integer", "minimum": low, "maximum": high},
        {"type": "string", "pattern": r"^\s*\d+\s*$", "description": "a quoted number"},
    ]}
    return Annotated[int, BeforeValidator(check), WithJsonSchema(schema)]


def _phone(value: Any, info: ValidationInfo) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _fail("invalid-number", f"must be a phone number, got {_shown(value)}")
    region = (info.context or {}).get("region")
    try:
        return to_e164(str(value), region)
    except PhoneNumberError as exc:
        raise _fail("invalid-number", str(exc)) from None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail("bad-text", f"must be a non-empty text, got {_shown(value)}")
    return value


# A number may be written unquoted (`to: 601234567`): YAML reads it as an integer.
Phone = Annotated[
    str, BeforeValidator(_phone), WithJsonSchema({"type": ["string", "integer"]})
]
Text = Annotated[str, BeforeValidator(_text)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]


def _one_or_many(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


class Strict(BaseModel):
    """Unknown keys are errors; models never change after load."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _widen(field: str) -> Callable[[Any], Any]:
    """Turn a step's scalar shorthand into its options mapping under `field`."""

    def widen(value: Any) -> Any:
        return value if isinstance(value, (dict, BaseModel)) else {field: value}

    return widen


class SayOptions(Strict):
    text: Text = Field(description="the text Twilio speaks")
    voice: str | None = Field(default=None, description="a Twilio voice, e.g. Polly.Ewa")
    language: str | None = Field(default=None, description="the language spoken, e.g. pl-PL")
    loop: whole_number("bad-loop", 0, 1000, "times") = Field(  # type: ignore[valid-type]
        default=1, description="how many times to say it; 0 repeats until the call moves on"
    )


def _private_host(url: str) -> bool:
    """True for a URL whose host Twilio cannot reach: private, loopback or local names."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("", "localhost") or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


class PlayOptions(Strict):
    # `file:` and `url:` name the same option as `audio:`: authors write whichever fits.
    audio: Text = Field(
        validation_alias=AliasChoices("audio", "file", "url"),
        description="a file in the greetings folder or an https:// URL (also file: or url:)",
    )
    loop: whole_number("bad-loop", 0, 1000, "times") = Field(  # type: ignore[valid-type]
        default=1, description="how many times to play it; 0 repeats until the call moves on"
    )

    @field_validator("audio")
    @classmethod
    def _audio(cls, value: str) -> str:
        if "://" in value and not value.startswith("https://"):
            raise _fail("bad-audio", f"must be a file name or an https:// URL, got {value!r}")
        if "://" in value and _private_host(value):
            raise _fail(
                "private-audio",
                f"must be a public https:// URL that Twilio can fetch, got {value!r} "
                "(a private, loopback or local address)",
            )
        if "://" not in value and ("/" in value or "\\" in value or value.startswith(".")):
            raise _fail(
                "bad-audio",
                f"must name a file directly inside the greetings folder, got {value!r}",
            )
        return value


class Greeting(Strict):
    """A named greeting: a `say` (with its voice) or a `play`."""

    say: Text | None = Field(default=None, description="the text spoken (or give play)")
    play: Text | None = Field(
        default=None, description="a file in the greetings folder or an https:// URL (or say)"
    )
    voice: str | None = Field(default=None, description="a Twilio voice for say, e.g. Polly.Ewa")
    language: str | None = Field(default=None, description="the language of say, e.g. pl-PL")
    loop: whole_number("bad-loop", 0, 1000, "times") = Field(  # type: ignore[valid-type]
        default=1, description="how many times to say or play it"
    )

    # Exactly one of say or play, and no voice with play: checked on the raw data
    # (engine.dsl.names), so it is listed beside a bad value in the same greeting.

    @field_validator("play")
    @classmethod
    def _audio(cls, value: str | None) -> str | None:
        return value if value is None else PlayOptions._audio(value)

    def as_step(self) -> SayStep | PlayStep:
        if self.say is not None:
            options = SayOptions(
                text=self.say, voice=self.voice, language=self.language, loop=self.loop
            )
            return SayStep(say=options)
        assert self.play is not None
        return PlayStep(play=PlayOptions(audio=self.play, loop=self.loop))


DIGIT = r"^[0-9*#]$"
SCREEN_PROMPT = "A call for {business}. Press {digit} to take it, or hang up."


class ScreenOptions(Strict):
    """What the business hears when it picks up, and the key that takes the call."""

    prompt: Text | None = Field(
        default=None,
        description="said to the business, {digit} naming the key; default: A call for "
        "<business>. Press 1 to take it, or hang up.",
    )
    digit: Annotated[str, Field(pattern=DIGIT, description="the key that takes the call")] = "1"


def _screen(value: Any) -> Any:
    """`screen: true` is the default prompt and digit 1; `false` (or nothing) is no screen."""
    if value is True:
        return {}
    if value is False or value is None:
        return None
    if not isinstance(value, (dict, BaseModel)):
        raise _fail(
            "bad-screen", f"must be true, false or {{prompt, digit}}, got {_shown(value)}"
        )
    return value


DialOutcome = Literal["busy", "missed", "failed"]


class DialOptions(Strict):
    to: Annotated[
        list[Phone], BeforeValidator(_one_or_many), Field(min_length=1, max_length=10),
        Field(description="a number, or a list of up to 10 rung at the same time"),
    ]
    timeout: whole_number("bad-timeout", 5, 600) = Field(  # type: ignore[valid-type]
        default=20, description="seconds to ring; keep it below the phone's own voicemail"
    )
    caller_id: Literal["caller", "line"] = Field(
        default="caller", description="the number the business sees: the caller's or the line's"
    )
    screen: Annotated[ScreenOptions | None, BeforeValidator(_screen)] = Field(
        default=None,
        description="true or {prompt, digit}: the business must press the digit to take the call",
    )
    max_calls: whole_number(  # type: ignore[valid-type]
        "bad-max-calls", 1, 100, "calls"
    ) | None = Field(
        default=None, description="calls bridged at once to these numbers; one more is busy"
    )
    record: bool = Field(default=False, description="record the bridged call")
    time_limit: whole_number("bad-time-limit", 1, 14400) | None = Field(  # type: ignore[valid-type]
        default=None, description="seconds after which a bridged call is cut"
    )
    on: dict[DialOutcome, list[Step]] = Field(
        default={}, description="busy / missed / failed: steps overriding the flow's triggers"
    )


class SmsOptions(Strict):
    copy_: Name | None = Field(
        default=None, alias="copy", description="a name from sms.copy (or give text)"
    )
    text: Text | None = Field(default=None, description="the copy itself, a template (or copy)")
    to: Phone | None = Field(default=None, description="who gets the text; default: the caller")
    # Exactly one of copy or text: checked on the raw data (engine.dsl.names), so it is
    # listed beside a bad `to` in the same step.


def _sms_shorthand(value: Any) -> Any:
    """`sms: missed` names a copy; `sms: "Sorry we missed you"` is inline text."""
    if isinstance(value, str):
        is_name = re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", value) is not None
        return {"copy": value} if is_name else {"text": value}
    return value


class VoicemailOptions(Strict):
    max_length: whole_number("bad-max-length", 2, 3600) = Field(  # type: ignore[valid-type]
        default=120, description="the longest message, in seconds"
    )
    beep: bool = Field(default=True, description="beep before recording")
    transcribe: bool = Field(default=False, description="ask Twilio for a transcription")


def _flag_step(value: Any) -> Any:
    """`- hangup`, `- hangup: {}` and `- hangup: null` all mean the same."""
    return {} if value in (None, True) else value


class SayStep(Strict):
    say: Annotated[SayOptions, BeforeValidator(_widen("text"))]


class PlayStep(Strict):
    play: Annotated[PlayOptions, BeforeValidator(_widen("audio"))]


class GreetingStep(Strict):
    greeting: Name


class PauseStep(Strict):
    pause: whole_number("bad-pause", 1, 600)  # type: ignore[valid-type]


class DialStep(Strict):
    dial: Annotated[DialOptions, BeforeValidator(_widen("to"))]


class SmsStep(Strict):
    sms: Annotated[SmsOptions, BeforeValidator(_sms_shorthand)]


class VoicemailStep(Strict):
    voicemail: Annotated[VoicemailOptions, BeforeValidator(_flag_step)] = VoicemailOptions()


class HangupStep(Strict):
    hangup: Annotated[dict[str, Any], BeforeValidator(_flag_step), Field(max_length=0)] = {}


class RejectStep(Strict):
    reject: Literal["busy", "rejected"] = "rejected"


class GotoStep(Strict):
    goto: Trigger = Field(description="continue with that trigger's steps")


def _prompt(value: Any) -> Any:
    """A menu's prompt written as text is said: `prompt: "Press 1…"` is `{say: "Press 1…"}`."""
    return {"say": value} if isinstance(value, str) else value


Prompt = Annotated[
    Union[
        Annotated[SayStep, Tag("say")],
        Annotated[PlayStep, Tag("play")],
        Annotated[GreetingStep, Tag("greeting")],
    ],
    Discriminator(
        lambda value: step_name(value),
        custom_error_type="bad-prompt",
        custom_error_message="must be a text, or one of say, play or greeting",
    ),
    BeforeValidator(_prompt),
]


def _digit_keys(value: Any) -> Any:
    """YAML reads `1:` as a number; a menu's keys are the keypad's characters."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


class MenuOptions(Strict):
    prompt: Prompt | None = Field(default=None, description="a text said, or a say/play/greeting")
    options: Annotated[
        dict[Annotated[str, Field(pattern=DIGIT)], list[Step]],
        BeforeValidator(_digit_keys),
        Field(min_length=1, description="a key of the keypad (0-9, *, #) → steps"),
    ]
    timeout: whole_number("bad-menu-timeout", 1, 60) = Field(  # type: ignore[valid-type]
        default=5, description="seconds to wait for a key after the prompt"
    )
    default: list[Step] = Field(
        default=[], description="steps when no key or a key without an option is pressed"
    )


class MenuStep(Strict):
    menu: MenuOptions


_STEPS: dict[str, type[Strict]] = {
    "say": SayStep,
    "play": PlayStep,
    "greeting": GreetingStep,
    "pause": PauseStep,
    "dial": DialStep,
    "sms": SmsStep,
    "voicemail": VoicemailStep,
    "hangup": HangupStep,
    "reject": RejectStep,
    "menu": MenuStep,
    "goto": GotoStep,
}
STEP_NAMES = tuple(_STEPS)


def step_name(value: Any) -> str | None:
    """The step a YAML item names: its single key, or a bare word such as `- hangup`."""
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    if isinstance(value, str) and value in ("hangup", "voicemail"):
        return value
    return None


def _bare_step(value: Any) -> Any:
    return {value: None} if isinstance(value, str) and value in ("hangup", "voicemail") else value


_STEP_UNION: Any = Union[tuple(Annotated[model, Tag(name)] for name, model in _STEPS.items())]
Step = Annotated[
    _STEP_UNION,
    Discriminator(
        step_name,
        custom_error_type="bad-step",
        custom_error_message="is not a step",
    ),
    BeforeValidator(_bare_step),
]

# `dial.on` and `menu` hold steps themselves: resolve their forward references now.
for _model in (DialOptions, DialStep, MenuOptions, MenuStep):
    _model.model_rebuild()


class Holidays(Strict):
    country: str | None = Field(
        default=None, description="public holidays of a country (PL) or subdivision (US-CA)"
    )
    dates: list[date] = Field(default=[], description="extra closed days, e.g. [2026-12-24]")


DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")


def _duration(value: Any) -> int:
    """`30m`, `12h`, `2d`, `0` → seconds."""
    if value == 0 or value == "0":
        return 0
    match = DURATION.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise _fail(
            "bad-duration", f"must be a duration such as 30m, 12h or 2d, got {_shown(value)}"
        )
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return int(match.group(1)) * unit


DURATION_SCHEMA: dict[str, Any] = {"anyOf": [
    {"const": 0},
    {"type": "string", "pattern": r"^(0|\s*\d+\s*[smhd]\s*)$"},
]}


class SmsSettings(Strict):
    sender: Annotated[str | None, WithJsonSchema({"type": ["string", "integer"]})] = Field(
        default=None,
        description="an alphanumeric sender ID (1 to 11 letters, digits, spaces) or a number; "
        "default: the line itself",
    )
    cooldown: Annotated[int, BeforeValidator(_duration), WithJsonSchema(DURATION_SCHEMA)] = Field(
        default=12 * 3600,
        description="one follow-up per caller and line in this window: 30m, 12h, 2d; 0 is off",
    )
    send_to: Literal["mobile", "any"] = Field(
        default="mobile", description="mobile skips fixed lines; any texts every number"
    )
    copy_: dict[Name, Text] = Field(
        default={}, alias="copy", description="named message bodies (Jinja), used by sms steps"
    )
    reply: Text | None = Field(
        default=None, description="copy sent back once to a caller who replies"
    )

    @field_validator("sender", mode="before")
    @classmethod
    def _sender(cls, value: Any, info: ValidationInfo) -> str:
        if isinstance(value, str) and is_alphanumeric_sender(value):
            return value
        try:
            return _phone(value, info)
        except PydanticCustomError:
            raise _fail(
                "bad-sender",
                "must be a phone number or an alphanumeric sender ID of 1 to 11 letters, "
                f"digits and spaces with at least one letter, got {_shown(value)}",
            ) from None


def _region(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise _fail(
            "bad-region", f"must be a two-letter region code such as PL or US, got {_shown(value)}"
        )
    return value.upper()


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(
            "bad-timezone",
            f"must be an IANA time zone such as Europe/Warsaw, got {_shown(value)}",
        ) from None
    return str(value)


class FlowModel(Strict):
    """One flow file. Validate with `context={"region": …}` so numbers read in the region."""

    line: Annotated[list[Phone], BeforeValidator(_one_or_many), Field(min_length=1)]
    business: Text
    region: Annotated[str | None, BeforeValidator(_region)] = None
    timezone: Annotated[str | None, BeforeValidator(_timezone)] = None
    hours: dict[str, str] | None = None
    weekend: list[str] | None = None
    holidays: Holidays | None = None
    greetings: dict[Name, Greeting] = {}
    sms: SmsSettings = SmsSettings()
    on: dict[Trigger, list[Step]]
    # `timezone` being required with a schedule is checked on the raw data
    # (engine.dsl.names), so it is listed with every other problem of the file.
