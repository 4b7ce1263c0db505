"""Which trigger a call starts under, and when the line opens next.

A flow's hours, weekend and holidays are written on the wall clock of its time zone. This
module applies the spec's trigger rules to a moment: the moment's *business day* is the day
whose opening range contains it (a range past midnight belongs to the day it starts on), or its
own date when no range does; then `open`, `holiday`, `weekend` and `out_of_hours` are tried in
that order. Falling back to `out_of_hours` when a flow has no handler is the flow's business,
not this module's.

Every rule reads the time the zone's clock shows. At a DST change the clock skips or repeats
an hour, and so does the schedule: a range starting at 02:30 on a night that jumps from 02:00
to 03:00 opens at the jump, and a range ending at 01:30 on a night that repeats 01:00-02:00
is open in both passes of 01:00-01:30.

Built on that rule are the answers other parts of Ringback need: `next_opening` and
`opens_at` for the `{{ opens_at }}` SMS copy, and `periods` and `dst_changes` for
`ringback schedule`. They search real instants (in UTC) where the trigger can change: the
instants whose wall clock shows a range boundary or a midnight, and the instants where the
zone's offset changes. Between two such instants the trigger cannot change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

from engine.dsl.hours import Day, TimeRange, WeeklyHours

Trigger = Literal["open", "holiday", "weekend", "out_of_hours"]

DEFAULT_WEEKEND: frozenset[Day] = frozenset({5, 6})
CLOSED_DAY = "closed day"
"""The note on a date closed by `holidays.dates` that is not also a public holiday."""
NO_OPENING = "at a time not yet set"
"""What `opens_at` says when no opening is found: true, and it still reads after "we open"."""
SEARCH_HORIZON = timedelta(days=732)

_SEARCH_STEP = timedelta(days=8)
# Offset changes are found by sampling the zone hourly; tzdb has no two changes within an hour.
_OFFSET_STEP = timedelta(hours=1)
_LIST_COMMAND = 'python -c "import holidays; print(holidays.list_supported_countries())"'
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True)
class Period:
    """A stretch of time with one trigger; `note` names the holiday of a `holiday` period."""

    start: datetime
    end: datetime
    trigger: Trigger
    note: str | None = None


def check_country(code: str) -> str | None:
    """None when the `holidays` library knows the code, else a message saying how to fix it.

    "PL" → None; "us-ca" → None; "ZZ" → "holidays country 'ZZ' is not one …".
    """
    country, dash, subdiv = code.partition("-")
    subdivisions = holidays.list_supported_countries().get(country.strip().upper())
    if subdivisions is None:
        return (
            f"holidays country {code!r} is not one the holidays library knows: expected a country"
            f" code like PL or US, or a subdivision like US-CA; list them with {_LIST_COMMAND}"
        )
    if dash and _subdivision(subdiv, subdivisions) is None:
        known = ", ".join(subdivisions) if subdivisions else "none, so write the country alone"
        return (
            f"holidays country {code!r} names subdivision {subdiv.strip()!r}, which"
            f" {country.strip().upper()} does not have: expected one of {known}"
        )
    return None


def _subdivision(text: str, known: list[str]) -> str | None:
    """The library's own spelling of a subdivision, matched without regard to case: ca → CA."""
    wanted = text.strip().casefold()
    return next((name for name in known if name.casefold() == wanted), None)


class Schedule:
    """The opening hours, weekend and holidays of one flow, in its time zone.

    `hours` None means always open, except on holidays. Moments given to any method must be
    timezone-aware, in any zone; datetimes returned are in `tz`. Compare returned datetimes
    after `.astimezone(UTC)`: Python compares two datetimes of one zone by wall time alone,
    so both passes of a repeated hour would look equal.
    """

    def __init__(
        self,
        tz: ZoneInfo,
        hours: WeeklyHours | None = None,
        weekend: frozenset[Day] = DEFAULT_WEEKEND,
        holiday_country: str | None = None,
        holiday_dates: frozenset[date] = frozenset(),
    ) -> None:
        problem = check_country(holiday_country) if holiday_country is not None else None
        if problem is not None:
            raise ValueError(problem)
        self.tz = tz
        self.hours = dict(hours) if hours is not None else None
        self.weekend = weekend
        self.holiday_country = holiday_country
        self.holiday_dates = holiday_dates
        self._public: dict[int, dict[date, str]] = {}

    @staticmethod
    def check_country(code: str) -> str | None:
        """The module's `check_country`, reachable from the class for the flow loader."""
        return check_country(code)

    def trigger_at(self, moment: datetime) -> Trigger:
        """The starting trigger for a call at `moment`, by the spec's rules.

        With `fri: "22:00-02:00"`: Friday 23:00 → "open", Saturday 01:30 → "open" (Friday's
        range), Saturday 02:30 → "weekend" (Saturday's own date, a weekend day).
        """
        return self._state(self._wall(moment))[0]

    def holiday_name(self, day: date) -> str | None:
        """The public holiday's name on `day`, else CLOSED_DAY for a listed date, else None."""
        if self.holiday_country is not None:
            name = self._public_holidays(day.year).get(day)
            if name is not None:
                return name
        return CLOSED_DAY if day in self.holiday_dates else None

    def next_opening(self, moment: datetime) -> datetime | None:
        """The next instant after `moment` when the trigger turns `open`, in `tz`.

        When `moment` is open already, that is the opening after this open period ends.
        None when nothing opens within SEARCH_HORIZON (every day closed, say).
        """
        if self.hours is not None and not any(self.hours.values()):
            return None
        previous = self.trigger_at(moment)
        for instant in self._changes(_utc(moment), _utc(moment) + SEARCH_HORIZON):
            trigger = self.trigger_at(instant)
            if trigger == "open" and previous != "open":
                return instant.astimezone(self.tz)
            previous = trigger
        return None

    def opens_at(self, moment: datetime) -> str:
        """The next opening as people say it, on the business's clock, seen from `moment`.

        Seen from Monday 07:00 with `mon-fri: "09:00-17:00"`: "at 09:00"; from Monday 20:00:
        "tomorrow at 09:00"; from Friday 20:00: "on Monday at 09:00"; from Wednesday
        23 December 2026 in Poland, with 28-31 December closed too: "on 4 January at 09:00".
        NO_OPENING when nothing opens within the search horizon.
        """
        opening = self.next_opening(moment)
        if opening is None:
            return NO_OPENING
        return _spoken(self._wall(moment), self._wall(opening))

    def periods(self, start: datetime, end: datetime) -> list[Period]:
        """Split [start, end) into consecutive periods, each with one trigger and note.

        A new period begins where the trigger changes, or where one holiday follows another.
        """
        first, last = _utc(start), _utc(end)
        if first >= last:
            return []
        periods: list[Period] = []
        for cut in [first, *self._changes(first, last)]:
            state = self._state(self._wall(cut))
            if cut == last or (periods and (periods[-1].trigger, periods[-1].note) == state):
                continue
            periods.append(Period(cut.astimezone(self.tz), end, *state))
        ends = [p.start for p in periods[1:]] + [end.astimezone(self.tz)]
        return [Period(p.start, stop, p.trigger, p.note) for p, stop in zip(periods, ends)]

    def dst_changes(self, start: datetime, end: datetime) -> list[datetime]:
        """The instants in [start, end) when the zone's UTC offset changes, in `tz`.

        Each is the first instant on the new offset: in America/New_York on 8 March 2026,
        03:00 EDT (07:00 UTC), when the clock jumps from 02:00 to 03:00.
        """
        return [instant.astimezone(self.tz) for instant in self._offset_changes(start, end)]

    def _state(self, wall: datetime) -> tuple[Trigger, str | None]:
        """The trigger and holiday note for a local wall time, by the spec's rules in order."""
        business_day = self._business_day(wall)
        holiday = self.holiday_name(business_day or wall.date())
        if business_day is not None and holiday is None:
            return "open", None
        if holiday is not None:
            return "holiday", holiday
        if wall.weekday() in self.weekend:
            return "weekend", None
        return "out_of_hours", None

    def _business_day(self, wall: datetime) -> date | None:
        """The date whose opening range holds `wall`, or None outside every range.

        Yesterday is tried first: only it can own a range that runs past midnight into today.
        """
        if self.hours is None:
            return wall.date()
        for day in (wall.date() - timedelta(days=1), wall.date()):
            for lo, hi in self._openings(day):
                if lo <= wall < hi:
                    return day
        return None

    def _openings(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The wall-clock [start, stop) of each range of `day`; naive, so DST cannot shift them."""
        midnight = datetime.combine(day, time())
        ranges: tuple[TimeRange, ...] = (self.hours or {}).get(day.weekday(), ())
        for r in ranges:
            yield midnight + timedelta(minutes=r.start), midnight + timedelta(minutes=r.stop)

    def _changes(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """UTC instants in (after, until] where the trigger may change, in order, found lazily."""
        window = after
        while window < until:
            window_end = min(window + _SEARCH_STEP, until)
            yield from self._changes_within(window, window_end)
            window = window_end

    def _changes_within(self, after: datetime, until: datetime) -> list[datetime]:
        """UTC instants in (after, until] where the trigger may change, in order."""
        day = self._wall(after).date() - timedelta(days=1)
        instants = set(self._offset_changes(after, until))
        while day <= self._wall(until).date():
            walls = [datetime.combine(day, time())]
            walls += [edge for opening in self._openings(day) for edge in opening]
            instants.update(i for wall in walls for i in self._instants(wall))
            day += timedelta(days=1)
        return sorted(i for i in instants if after < i <= until)

    def _instants(self, wall: datetime) -> list[datetime]:
        """The UTC instants whose clock in `tz` shows `wall`: one, two in a repeated hour,
        or none in a skipped one (the offset change then stands in for it)."""
        candidates = (wall.replace(tzinfo=self.tz, fold=fold).astimezone(UTC) for fold in (0, 1))
        return [instant for instant in candidates if self._wall(instant) == wall]

    def _offset_changes(self, start: datetime, end: datetime) -> list[datetime]:
        """UTC instants in [start, end) when the offset changes, each found to the microsecond."""
        changes: list[datetime] = []
        probe, stop = _utc(start) - timedelta(microseconds=1), _utc(end)
        while probe < stop:
            following = min(probe + _OFFSET_STEP, stop)
            if self._offset(probe) != self._offset(following):
                changes.append(self._first_on_new_offset(probe, following))
            probe = following
        return [change for change in changes if change < stop]

    def _first_on_new_offset(self, before: datetime, after: datetime) -> datetime:
        """Bisect until `after` is the first microsecond with the later offset."""
        while after - before > timedelta(microseconds=1):
            middle = before + (after - before) / 2
            if self._offset(middle) == self._offset(before):
                before = middle
            else:
                after = middle
        return after

    def _offset(self, instant: datetime) -> timedelta | None:
        return instant.astimezone(self.tz).utcoffset()

    def _wall(self, moment: datetime) -> datetime:
        """The naive local time the zone's clock shows at `moment`."""
        return _utc(moment).astimezone(self.tz).replace(tzinfo=None)

    def _public_holidays(self, year: int) -> dict[date, str]:
        """One year of public holidays, loaded on first use; observed days included."""
        if year not in self._public:
            assert self.holiday_country is not None
            country, _, subdiv = self.holiday_country.partition("-")
            country = country.strip().upper()
            known = holidays.list_supported_countries()[country]
            found = holidays.country_holidays(
                country, subdiv=_subdivision(subdiv, known) if subdiv else None, years=year
            )
            self._public[year] = dict(found)
        return self._public[year]


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is refused, since its zone would be a guess."""
    if moment.utcoffset() is None:
        raise ValueError(f"a schedule needs a timezone-aware moment, got {moment.isoformat()}")
    return moment.astimezone(UTC)


def _spoken(now: datetime, then: datetime) -> str:
    """How a person names wall time `then` seen from wall time `now`.

    (Mon 07:00, Mon 09:00) → "at 09:00"; (Mon 20:00, Tue 09:00) → "tomorrow at 09:00";
    (Fri 20:00, Mon 09:00) → "on Monday at 09:00"; a week or more ahead → "on 2 January at
    09:00", with the year added a year or more ahead, where day and month alone mislead.
    """
    clock = f"at {then:%H:%M}"
    days = (then.date() - now.date()).days
    if days == 0:
        return clock
    if days == 1:
        return f"tomorrow {clock}"
    if days < 7:
        return f"on {_WEEKDAYS[then.weekday()]} {clock}"
    year = f" {then.year}" if days >= 365 else ""
    return f"on {then.day} {_MONTHS[then.month - 1]}{year} {clock}"
