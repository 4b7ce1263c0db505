"""What a flow means on the phone: the rules `ringback check` applies to a compiled flow.

The compiler refuses what breaks the language. The linter looks at a flow that compiles
and says what will go wrong on real phones: copy that costs three segments because of one
curly quote, a text with no link to act on, a dial long enough for a phone's voicemail to
answer, a trigger the schedule reaches that nobody handles. Every rule has a stable code,
listed once in `RULES` with its severity.

Copy is measured as the caller's phone receives it, with each template variable at its
longest likely value (`SAMPLE`), so a copy that fits today still fits on a Wednesday.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import urlsplit

from engine.dsl import model as m
from engine.dsl.flow import FALLBACKS, Flow
from engine.dsl.loader import Loaded, Path, Positions
from engine.dsl.names import walk_steps
from engine.dsl.problems import suggest
from engine.errors import Problem, Severity
from engine.phone import accepts_alphanumeric_sender, is_alphanumeric_sender, region_of
from engine.sms.copy import Template
from engine.sms.segments import Measure, measure

__all__ = ["RULES", "SAMPLE", "CopyReport", "lint", "missing_audio"]

RULES: Mapping[str, tuple[Severity, str]] = {
    "copy-segments": ("warning", "copy longer than one segment"),
    "copy-ucs2": ("warning", "a character forces the whole copy into UCS-2"),
    "copy-no-business": ("warning", "copy that does not name the business"),
    "copy-no-link": ("warning", "copy without a link to act on"),
    "copy-home-page": ("warning", "copy linking to a bare home page"),
    "copy-deadline": ("warning", "copy promising a deadline"),
    "copy-price": ("warning", "copy quoting a price"),
    "copy-invites-reply": ("warning", "copy inviting a reply no alphanumeric sender can get"),
    "copy-render": ("error", "copy that fails when filled in with sample values"),
    "copy-too-long": ("error", "copy over Twilio's 1600-character limit for one message"),
    "missing-audio": ("error", "a play of a file that is not in the greetings folder"),
    "sender-refused": ("error", "an alphanumeric sender on a line in a country that refuses one"),
    "dial-voicemail": ("warning", "a dial of 25 s or more without screen"),
    "unhandled-trigger": ("warning", "a trigger the flow reaches but does not handle"),
    "unreachable-trigger": ("warning", "a trigger's steps that can never run"),
    "no-open-time": ("warning", "opening hours with no open time at all"),
}

SAMPLE: Mapping[str, str] = {
    "caller": "+" + "9" * 15,
    "trigger": "out_of_hours",
    "local_time": "23:59",
    "opens_at": "on Wednesday at 09:00",
    "call_id": "CA" + "f" * 32,
}
"""The longest likely value of each copy variable; `business` and `line` are the flow's."""

VOICEMAIL_SECONDS = 25
TWILIO_BODY_LIMIT = 1600  # Twilio refuses a longer body (error 21617): the text never goes
SCHEDULE_DAYS = 366

_LINK = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_PROMISE = re.compile(
    r"\b(?:call|ring|phone|text|get|getting|reply|respond|answer|contact|back to)\b"
    r"[^.!?\n]{0,40}?"
    r"(?:\b(?:in|within)\s+(?:the\s+next\s+)?(?:\d+|a|an|one|two|few)\s*"
    r"(?:-\s*\d+\s*)?(?:min|mins|minutes?|hours?|hrs?|h|days?)\b"
    r"|\bwithin the hour\b|\b(?:right away|straight away|immediately|asap)\b)"
    # A time of day is a deadline whoever keeps it: "ready by 5pm", "by 17:00", "by noon".
    r"|\bby\s+(?:\d{1,2}(?:[:.]\d{2})?\s*(?:am|pm)\b|\d{1,2}:\d{2}\b"
    r"|noon\b|midday\b|tonight\b|(?:the\s+)?end\s+of\s+(?:the\s+)?day\b)",
    re.IGNORECASE,
)
_AMOUNT = r"\d+(?:[ .,]\d{3})*(?:[.,]\d+)?"
_CURRENCY = r"(?:zł|pln|eur|usd|gbp|chf|euros?|dollars?|pounds?)"
_PRICE = re.compile(
    # The whole amount: "50 PLN", "$49", "€15", "EUR 15", "1,299.00 zł".
    rf"[$€£¥]\s?{_AMOUNT}"
    rf"|(?<![\w.,]){_AMOUNT}\s?(?:[€$£]|{_CURRENCY}(?!\w))"
    rf"|(?<!\w){_CURRENCY}\s?{_AMOUNT}",
    re.IGNORECASE,
)
_REPLY = re.compile(
    r"\b(?:reply|replies|respond|text us|text back|send us a text|answer this)\b", re.IGNORECASE
)
# "we will reply today" tells what the business does; it invites nothing. A reply word right
# after one of these is the business speaking of itself.
_OWN_ACTION = re.compile(
    r"(?:\b(?:we|i|they|will|would|shall|can|cannot|can't|may)|['’]ll)\s+$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CopyReport:
    """One copy as measured: `{"name": "missed", "encoding": "GSM-7", …}` in `--json`."""

    name: str
    encoding: str
    characters: int
    segments: int

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "encoding": self.encoding,
                "characters": self.characters, "segments": self.segments}


@dataclass(frozen=True)
class _Copy:
    name: str
    label: str
    where: Path
    template: Template


def lint(
    flow: Flow, positions: Positions, today: date | None = None
) -> tuple[list[Problem], list[CopyReport]]:
    """The warnings (and linter errors) of a compiled flow, and the measure of each copy.

    `positions` are the file's, from `engine.dsl.loader`; `today` starts the year of
    schedule the trigger rules look at (default: today).
    """
    at = _Where(flow, positions)
    problems: list[Problem] = []
    reports: list[CopyReport] = []
    for copy in _copies(flow):
        try:
            text = copy.template.render(_sample(flow))
        except Exception as exc:  # noqa: BLE001 - an author's template: any failure is theirs
            message = f"{copy.label} fails when filled in with sample values: {exc}"
            problems.append(at(copy.where, "copy-render", message))
            continue
        size = measure(text)
        reports.append(CopyReport(copy.name, size.encoding, size.characters, size.segments))
        problems += _copy_problems(flow, at, copy, text, size)
    problems += _sender_problems(flow, at)
    problems += _dial_problems(flow, at)
    problems += _trigger_problems(flow, at, today or date.today())
    return sorted(problems), reports


class _Where:
    """Problems at the author's line and column."""

    def __init__(self, flow: Flow, positions: Positions) -> None:
        self.flow, self.positions = flow, positions

    def __call__(self, where: Path, code: str, message: str, *, key: bool = False,
                 column: int | None = None) -> Problem:
        line, found = self.positions.of(where, key=key)
        severity = RULES[code][0]
        return Problem(line, column or found, self.flow.path, code, message, severity,
                       source=self.positions.line_text(line))


# --- copy ------------------------------------------------------------------------------


def _copies(flow: Flow) -> Iterator[_Copy]:
    """Every copy the flow can send: named copy, inline `sms` text, and the reply."""
    for name in flow.sms.copy_:
        yield _Copy(name, f"sms.copy.{name}", ("sms", "copy", name), flow.copy[name])
    for key, action in flow.actions.items():
        if isinstance(action.step, m.SmsStep) and action.step.sms.text and key in flow.copy:
            where = (*_path(key), "sms")
            yield _Copy(key, f"the sms text of {key}", where, flow.copy[key])


def _sample(flow: Flow) -> dict[str, str]:
    return {**SAMPLE, "business": flow.business, "line": max(flow.lines, key=len)}


def _copy_problems(
    flow: Flow, at: _Where, copy: _Copy, text: str, size: Measure
) -> list[Problem]:
    found = [_ucs2(at, copy, size), _segments(at, copy, size), _too_long(at, copy, text)]
    found += [_content(at, flow, copy, text), _link(at, copy, text)]
    found += [_deadline(at, copy, text), _price(at, copy, text), _invites(at, flow, copy, text)]
    return [problem for problem in found if problem is not None]


def _ucs2(at: _Where, copy: _Copy, size: Measure) -> Problem | None:
    if not size.ucs2_culprits:
        return None
    named = [_culprit(c.char, c.name, c.suggestion) for c in size.ucs2_culprits]
    message = (
        f"{copy.label} is sent as UCS-2 (70 characters a segment, not 160) because of "
        f"{'; '.join(named)}"
    )
    first = size.ucs2_culprits[0].char
    return at(copy.where, "copy-ucs2", message, column=_column_of(at, copy.where, first))


def _culprit(char: str, name: str, suggestion: str | None) -> str:
    if suggestion is None:
        return f"'{char}' ({name}), which has no GSM-7 equivalent: remove it"
    if suggestion == "":
        return f"'{char}' ({name}), an invisible character: delete it"
    return f"'{char}' ({name}): write '{suggestion}' instead"


def _column_of(at: _Where, where: Path, char: str) -> int | None:
    """The column of `char` on the copy's first line, when it is written there."""
    line, _ = at.positions.of(where)
    index = at.positions.line_text(line).find(char)
    return index + 1 if index >= 0 else None


def _segments(at: _Where, copy: _Copy, size: Measure) -> Problem | None:
    if size.segments <= 1:
        return None
    single = 160 if size.encoding == "GSM-7" else 70
    message = (
        f"{copy.label} takes {size.segments} segments ({size.encoding}, {size.characters} "
        f"characters with the longest likely values); one segment holds {single}: shorten it"
    )
    return at(copy.where, "copy-segments", message)


def _too_long(at: _Where, copy: _Copy, text: str) -> Problem | None:
    if len(text) <= TWILIO_BODY_LIMIT:
        return None
    message = (
        f"{copy.label} is {len(text)} characters with the longest likely values; Twilio "
        f"refuses a text over {TWILIO_BODY_LIMIT} and it would never be sent: shorten it"
    )
    return at(copy.where, "copy-too-long", message)


def _content(at: _Where, flow: Flow, copy: _Copy, text: str) -> Problem | None:
    if flow.business.casefold() in text.casefold():
        return None
    message = (
        f"{copy.label} does not name the business: a caller may not know who texted; "
        "start it with {{ business }} or the name"
    )
    return at(copy.where, "copy-no-business", message)


def _link(at: _Where, copy: _Copy, text: str) -> Problem | None:
    links = _LINK.findall(text)
    if not links:
        message = (
            f"{copy.label} has no link: give the caller something to act on, "
            "such as a booking page or a form"
        )
        return at(copy.where, "copy-no-link", message)
    bare = [link for link in links if _home_page(link)]
    if not bare:
        return None
    message = (
        f"{copy.label} links to the home page {bare[0]}: link the page that does the job, "
        "such as the booking page or the form"
    )
    return at(copy.where, "copy-home-page", message)


def _home_page(link: str) -> bool:
    parts = urlsplit(link if "://" in link else f"https://{link}")
    return parts.path.strip("/.,") == "" and not parts.query and not parts.fragment


def _deadline(at: _Where, copy: _Copy, text: str) -> Problem | None:
    match = _PROMISE.search(text)
    if match is None:
        return None
    message = (
        f"{copy.label} promises a deadline ('{match.group(0)}'): a busy business may not "
        "keep it; say what the caller can do instead"
    )
    return at(copy.where, "copy-deadline", message)


def _price(at: _Where, copy: _Copy, text: str) -> Problem | None:
    match = _PRICE.search(text)
    if match is None:
        return None
    message = (
        f"{copy.label} quotes a price ('{match.group(0)}'): a sent text cannot be corrected "
        "when prices change; link the price list instead"
    )
    return at(copy.where, "copy-price", message)


def _invites(at: _Where, flow: Flow, copy: _Copy, text: str) -> Problem | None:
    sender = flow.sms.sender
    if sender is None or not is_alphanumeric_sender(sender):
        return None
    invitations = (m for m in _REPLY.finditer(text) if not _OWN_ACTION.search(text[: m.start()]))
    match = next(invitations, None)
    if match is None:
        return None
    message = (
        f"{copy.label} invites a reply ('{match.group(0)}'), but sender '{sender}' is an "
        "alphanumeric ID that cannot receive one: link a form, or send from a number"
    )
    return at(copy.where, "copy-invites-reply", message)


# --- audio ---------------------------------------------------------------------------


def missing_audio(loaded: Loaded, folder: FilePath) -> list[Problem]:
    """Every `play` of a file that is not in the greetings folder, at the file's name.

    The compiler does not know the folder (a flow is the same wherever it is served), but
    Twilio fetches the file from the engine's `/greetings/`: a name not there is a 404 on
    the phone, so `check`, which knows the folder, makes it an error.
    """
    present = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    problems = []
    for where, name in _plays(loaded.data):
        if "://" in name or name in present:
            continue
        hint = suggest(name, present) or (
            f" (it holds {', '.join(present)})" if present else " (it has no files)"
        )
        message = (
            f"play '{name}' is not in the greetings folder {folder}{hint}; add the file, or "
            "point RINGBACK_GREETINGS (--greetings) at the folder that has it"
        )
        line, column = loaded.positions.of(where)
        problems.append(Problem(line, column, loaded.path, "missing-audio", message,
                                source=loaded.positions.line_text(line)))
    return sorted(problems)


def _plays(data: Any) -> Iterator[tuple[Path, str]]:
    """Each audio file named: in greetings, in `play` steps, in menu prompts."""
    greetings = data.get("greetings") if isinstance(data, dict) else None
    for name, greeting in greetings.items() if isinstance(greetings, dict) else ():
        if isinstance(greeting, dict) and isinstance(greeting.get("play"), str):
            yield ("greetings", str(name), "play"), greeting["play"]
    for where, step in walk_steps(data):
        if not (isinstance(step, dict) and len(step) == 1):
            continue
        name, value = next(iter(step.items()))
        if name == "menu" and isinstance(value, dict) and isinstance(value.get("prompt"), dict):
            where, name, value = (*where, "menu", "prompt"), "play", value["prompt"].get("play")
        if name != "play":
            continue
        if isinstance(value, str):
            yield (*where, "play"), value
        elif isinstance(value, dict) and isinstance(value.get("audio"), str):
            yield (*where, "play", "audio"), value["audio"]


# --- sender and dials ------------------------------------------------------------------


def _sender_problems(flow: Flow, at: _Where) -> list[Problem]:
    sender = flow.sms.sender
    if sender is None or not is_alphanumeric_sender(sender):
        return []
    refusing = [line for line in flow.lines if not accepts_alphanumeric_sender(line)]
    if not refusing:
        return []
    country = region_of(refusing[0]) or "its country"
    message = (
        f"sms.sender '{sender}' is an alphanumeric sender ID, which line {refusing[0]} "
        f"({country}) cannot send from: remove sender to text from the line's number"
    )
    return [at(("sms", "sender"), "sender-refused", message)]


def _dial_problems(flow: Flow, at: _Where) -> list[Problem]:
    problems = []
    for key, action in flow.actions.items():
        step = action.step
        if not isinstance(step, m.DialStep) or step.dial.screen is not None:
            continue
        if step.dial.timeout >= VOICEMAIL_SECONDS:
            message = (
                f"dial.timeout of {step.dial.timeout} s without screen: the phone's own "
                "voicemail may answer first and the engine would count a missed call as "
                "answered; ring for less than 25 s or add screen: true"
            )
            problems.append(at((*_path(key), "dial", "timeout"), "dial-voicemail", message))
    return problems


def _path(key: str) -> Path:
    """`on.open.0.menu.options.1.0` → ("on", "open", 0, "menu", "options", "1", 0)."""
    parts = key.split(".")
    return tuple(
        int(part) if part.isdigit() and parts[i - 1] != "options" else part
        for i, part in enumerate(parts)
    )


# --- triggers --------------------------------------------------------------------------


def _trigger_problems(flow: Flow, at: _Where, today: date) -> list[Problem]:
    start = datetime.combine(today, time(), tzinfo=flow.tz)
    periods = flow.schedule.periods(start, start + timedelta(days=SCHEDULE_DAYS))
    reached: set[str] = {period.trigger for period in periods}
    if any(isinstance(a.step, m.DialStep) for a in flow.actions.values()):
        reached |= {"busy", "missed", "failed"}
    problems = []
    if "open" not in reached:
        message = "the hours leave no open time at all: every call is out of hours"
        problems.append(at(("hours",), "no-open-time", message, key=True))
    for trigger in sorted(reached, key=m.TRIGGERS.index):
        covered = trigger in FALLBACKS and FALLBACKS[trigger] in reached
        if flow.handler(trigger) is None and not covered:
            problems.append(_unhandled(at, trigger))
    running = {handled[0] for t in reached if (handled := flow.handler(t)) is not None}
    running |= _goto_targets(flow)
    for trigger in flow.triggers:
        if trigger not in running and trigger != "open":
            problems.append(_unreachable(at, flow, trigger))
    return problems


def _unhandled(at: _Where, trigger: str) -> Problem:
    fallback = f" nor {FALLBACKS[trigger]}" if trigger in FALLBACKS else ""
    message = (
        f"calls can end up under {trigger}, which this flow does not handle{fallback}: "
        f"they would be hung up on with no text; add on.{trigger}"
    )
    return at(("on",), "unhandled-trigger", message, key=True)


def _unreachable(at: _Where, flow: Flow, trigger: str) -> Problem:
    schedule = flow.schedule
    listed = schedule.holiday_country is not None or schedule.holiday_dates
    why = {
        "holiday": f"no holiday falls in the next {SCHEDULE_DAYS} days"
        if listed else "the flow lists no holidays",
        "weekend": "every weekend moment is open or a holiday",
        "out_of_hours": "every closed moment is a weekend or a holiday with its own steps",
        "busy": "the flow dials nobody",
        "missed": "the flow dials nobody",
        "failed": "the flow dials nobody",
    }[trigger]
    message = f"on.{trigger} can never run: {why}"
    return at(("on", trigger), "unreachable-trigger", message, key=True)


def _goto_targets(flow: Flow) -> set[str]:
    """Triggers whose steps run through a `goto` (their steps appear in another's list)."""
    targets = set()
    for address, steps in flow.sequences.items():
        for action in steps:
            owner = action.key.split(".")[1]
            if not address.startswith(f"on.{owner}"):
                targets.add(owner)
    return targets
