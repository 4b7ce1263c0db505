"""Opening hours and weekend days, read from the text a flow author wrote.

A flow's `hours` and `weekend` keys arrive from YAML as plain strings (`mon-fri: "09:00-18:00"`,
`weekend: [fri, sat]`). This module turns them into day numbers and minute ranges that the
schedule can compute with, and decides what counts as a mistake: an unknown day, a day named
twice, a time that is not on a clock, ranges that overlap. It never raises on bad input: every
problem is collected as a `HoursProblem` carrying the entry's index, so the flow loader can point
at the author's line and report all mistakes at once.

Times are minutes since local midnight and nothing more: time zones, DST and holidays belong to
`engine.flows.schedule`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Day = int
"""0 = Monday … 6 = Sunday, as `date.weekday()` counts."""

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60

_DAY_NUMBERS = {name: number for number, name in enumerate(DAY_NAMES)}
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_EXPECTED_DAYS = "expected mon … sun, a range like mon-fri, or a list like mon,wed,fri"
_EXPECTED_RANGES = "expected HH:MM-HH:MM like 09:00-17:00, several separated by commas, or closed"


@dataclass(frozen=True)
class TimeRange:
    """Opening time on one day, in minutes since that day's local midnight.

    The end is exclusive and may be 1440 (24:00). A range whose end is at or before its start
    runs past midnight and still belongs to the day it starts on:
    `TimeRange(1320, 120)` is 22:00-02:00, overnight, and stops 1560 minutes after the start
    day's midnight. `TimeRange(540, 540)` is open for 24 hours from 09:00.
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        if not (0 <= self.start < MINUTES_PER_DAY and 0 <= self.end <= MINUTES_PER_DAY):
            raise ValueError(f"time range {self.start}-{self.end} is outside 0..1440 minutes")

    @property
    def overnight(self) -> bool:
        """True when the range runs past midnight: 22:00-02:00 → True, 09:00-24:00 → False."""
        return self.end <= self.start

    @property
    def stop(self) -> int:
        """Minutes after the start day's midnight when it closes: 22:00-02:00 → 1560."""
        return self.end + MINUTES_PER_DAY if self.overnight else self.end

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


WeeklyHours = Mapping[Day, tuple[TimeRange, ...]]
"""Opening ranges per day, sorted by start; a closed or unnamed day has none."""


@dataclass(frozen=True)
class HoursProblem:
    """One mistake in `hours` or `weekend`, located by the entry's position in the input.

    `field` says whether the day key or the time value is wrong, so the loader can put the caret
    on the right token. `code` is stable and kebab-case: bad-day, day-twice, bad-time-range,
    bad-time, overlapping-ranges.
    """

    index: int
    field: Literal["key", "value"]
    code: str
    message: str


@dataclass(frozen=True)
class _Opening:
    """One range as it was assigned to one day, remembered for the overlap check."""

    index: int
    key: str
    day: Day
    range: TimeRange


def parse_hours(
    entries: Sequence[tuple[str, str]],
) -> tuple[dict[Day, tuple[TimeRange, ...]], list[HoursProblem]]:
    """Read `hours` entries (key, value) into ranges per day, with every problem found.

    [("mon-fri", "09:00-17:00"), ("sat", "closed")] → ({0..4: (540-1020,), 5: ()}, [])
    [("mon-fry", "09:00-17:00")] → ({}, [HoursProblem(0, "key", "bad-day", ...)])

    Keys are case-insensitive. A day named twice keeps its first entry's ranges; a day whose
    value cannot be read is left out rather than taken as closed.
    """
    hours: dict[Day, tuple[TimeRange, ...]] = {}
    named_by: dict[Day, str] = {}
    openings: list[_Opening] = []
    problems: list[HoursProblem] = []
    for index, (key, value) in enumerate(entries):
        days, key_problem = _read_key(key, named_by)
        ranges, value_problem = _read_value(key, value)
        problems += [HoursProblem(index, "key", *p) for p in key_problem]
        problems += [HoursProblem(index, "value", *p) for p in value_problem]
        named_by.update(dict.fromkeys(days, key))
        if value_problem:
            continue  # an unreadable value is not taken as closed: the flow is refused anyway
        for day in days:
            hours[day] = ranges
            openings += [_Opening(index, key, day, r) for r in ranges]
    problems += _overlaps(openings)
    problems.sort(key=lambda p: (p.index, p.field != "key"))
    return hours, problems


def parse_days(values: Sequence[str]) -> tuple[frozenset[Day], list[HoursProblem]]:
    """Read the `weekend` list into day numbers: ["sat", "sun"] → (frozenset({5, 6}), []).

    Each item may also be a range or comma list, as in `hours` keys: ["fri-sat"] → {4, 5}.
    """
    found: set[Day] = set()
    problems: list[HoursProblem] = []
    for index, value in enumerate(values):
        days, bad = _read_days(value)
        if bad is not None:
            message = f"weekend day {value!r} is not a day: expected mon … sun, as in [sat, sun]"
            problems.append(HoursProblem(index, "value", "bad-day", message))
        twice = [DAY_NAMES[d] for d in _repeats(days, found)]
        if twice:
            message = f"weekend names {', '.join(twice)} twice: name each day once"
            problems.append(HoursProblem(index, "value", "day-twice", message))
        found.update(days)
    return frozenset(found), problems


def _read_key(key: str, named_by: Mapping[Day, str]) -> tuple[list[Day], list[tuple[str, str]]]:
    """The days a key names that no earlier key named, and (code, message) problems."""
    days, bad = _read_days(key)
    if bad is not None:
        what = "is not a day" if bad == key.strip() else f"has {bad!r}, which is not a day"
        return [], [("bad-day", f"hours key {key!r} {what}: {_EXPECTED_DAYS}")]

    within = _repeats(days, set())
    if within:
        names = ", ".join(DAY_NAMES[d] for d in within)
        return [], [("day-twice", f"hours key {key!r} names {names} twice: name each day once")]

    earlier = [d for d in days if d in named_by]
    if not earlier:
        return days, []
    names = ", ".join(DAY_NAMES[d] for d in earlier)
    keys = " and ".join(dict.fromkeys(repr(named_by[d]) for d in earlier))
    message = f"hours key {key!r} names {names} again, already set by {keys}: name each day once"
    return [d for d in days if d not in named_by], [("day-twice", message)]


def _read_days(text: str) -> tuple[list[Day], str | None]:
    """Days in a key or weekend item, in the order named, or the first part that is no day.

    "mon, wed-fri" → ([0, 2, 3, 4], None); "fri-mon" → ([4, 5, 6, 0], None);
    "mon-fry" → ([], "mon-fry").
    """
    days: list[Day] = []
    for part in text.split(","):
        first, dash, last = (side.strip().lower() for side in part.partition("-"))
        if first not in _DAY_NUMBERS or (dash and last not in _DAY_NUMBERS):
            return [], part.strip()
        start = _DAY_NUMBERS[first]
        # A range always runs forward through the week, so fri-mon covers the weekend.
        length = (_DAY_NUMBERS[last] - start) % 7 + 1 if dash else 1
        days += [(start + step) % 7 for step in range(length)]
    return days, None


def _repeats(days: Sequence[Day], seen: set[Day]) -> list[Day]:
    """Days that occur in `seen` or earlier in `days`: ([0, 2, 0], {2}) → [2, 0]."""
    repeated: list[Day] = []
    for day in days:
        if day in seen and day not in repeated:
            repeated.append(day)
        seen = seen | {day}
    return repeated


def _read_value(key: str, value: str) -> tuple[tuple[TimeRange, ...], list[tuple[str, str]]]:
    """A value's ranges sorted by start, or (code, message) problems.

    "13:00-17:00, 09:00-12:00" → (540-720, 780-1020); "closed" → ().
    """
    if value.strip().lower() == "closed":
        return (), []
    ranges: list[TimeRange] = []
    problems: list[tuple[str, str]] = []
    for part in (part.strip() for part in value.split(",")):
        found = _read_range(part, whole=part == value.strip())
        if isinstance(found, TimeRange):
            ranges.append(found)
        else:
            code, what = found
            problems.append((code, f"hours value {value!r} for {key!r} {what}"))
    if problems:
        return (), problems
    return tuple(sorted(ranges, key=lambda r: r.start)), []


def _read_range(text: str, whole: bool) -> TimeRange | tuple[str, str]:
    """One `HH:MM-HH:MM`, or (code, what is wrong) to follow "hours value '…' for '…'".

    "22:00-02:00" → TimeRange(1320, 120); "09:00-" → ("bad-time-range", "is not a time range…").
    `whole` says the text is the entire value, so the message need not quote it twice.
    """
    pieces = [piece.strip() for piece in text.split("-")]
    if text.lower() == "closed":
        return "bad-time-range", "mixes closed with times: write either closed or time ranges"
    if len(pieces) != 2 or not all(pieces):
        shown = "is not a time range" if whole else f"has {text!r}, which is not a time range"
        return "bad-time-range", f"{shown}: {_EXPECTED_RANGES}"

    start, end = _minutes(pieces[0]), _minutes(pieces[1])
    if start is None or end is None:
        piece = pieces[0] if start is None else pieces[1]
        return "bad-time", f"has {piece!r}, which is not a time: expected HH:MM, 00:00 to 24:00"
    if start == MINUTES_PER_DAY:
        return "bad-time", "starts a range at 24:00, which can only end one: start at 00:00"
    return TimeRange(start, end)


def _minutes(text: str) -> int | None:
    """ "09:30" → 570, "24:00" → 1440, "24:30" / "9am" / "12:60" → None."""
    match = _CLOCK.fullmatch(text)
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2])
    if minute > 59 or hour * 60 + minute > MINUTES_PER_DAY:
        return None
    return hour * 60 + minute


def _overlaps(openings: Sequence[_Opening]) -> list[HoursProblem]:
    """A problem for each range that overlaps one set earlier, on its own day or across midnight.

    Overlaps are refused because a moment in two ranges would belong to two business days,
    and the trigger rules need exactly one. A key like mon-fri repeats the same overlap on each
    day; it is reported once, on the first day it happens.
    """
    problems: dict[tuple[int, str, int, str], HoursProblem] = {}
    for position, later in enumerate(openings):
        for earlier in openings[:position]:
            pair = (later.index, str(later.range), earlier.index, str(earlier.range))
            if pair in problems or not _overlap(earlier, later):
                continue
            problems[pair] = HoursProblem(
                later.index, "value", "overlapping-ranges", _overlap_message(earlier, later)
            )
    return list(problems.values())


def _overlap_message(earlier: _Opening, later: _Opening) -> str:
    """What overlaps what, naming the key that set the earlier range when it is another one."""
    by = "in the same value" if earlier.index == later.index else f"set by {earlier.key!r}"
    return (
        f"hours {later.key!r} range {later.range} on {DAY_NAMES[later.day]} overlaps"
        f" {earlier.range} on {DAY_NAMES[earlier.day]} {by}: ranges may meet, not overlap"
    )


def _overlap(a: _Opening, b: _Opening) -> bool:
    """Whether two ranges share a minute of the week, counting Sunday night into Monday."""
    week = 7 * MINUTES_PER_DAY
    a_start = a.day * MINUTES_PER_DAY + a.range.start
    b_start = b.day * MINUTES_PER_DAY + b.range.start
    a_stop = a_start + a.range.stop - a.range.start
    b_stop = b_start + b.range.stop - b.range.start
    return any(a_start < b_stop + shift and b_start + shift < a_stop for shift in (-week, 0, week))


def _clock(minutes: int) -> str:
    """570 → "09:30", 1440 → "24:00"."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
