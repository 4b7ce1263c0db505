"""The starting trigger at a moment, the next opening and how it is said, and schedule periods.

Expected values come from the spec's trigger rules and a calendar: in 2026 US clocks go
forward on Sunday 8 March and back on Sunday 1 November, Polish clocks on 29 March and
25 October; 11 November 2026 is a Wednesday, 25 December a Friday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.dsl.hours import TimeRange, parse_hours
from engine.flows.schedule import DEFAULT_WEEKEND, NO_OPENING, Period, Schedule, check_country

NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
WARSAW = ZoneInfo("Europe/Warsaw")


def schedule(
    tz: ZoneInfo,
    hours: dict[str, str] | None,
    *,
    weekend: frozenset[int] = DEFAULT_WEEKEND,
    holiday_country: str | None = None,
    holiday_dates: frozenset[date] = frozenset(),
) -> Schedule:
    """A Schedule from hours as an author writes them."""
    parsed, problems = parse_hours(list((hours or {}).items()))
    assert problems == []
    return Schedule(
        tz, parsed if hours is not None else None, weekend, holiday_country, holiday_dates
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


NEW_YORK_OFFICE = schedule(NEW_YORK, {"mon-fri": "09:00-17:00", "sun": "17:00-24:00"})
FRIDAY_NIGHTS = schedule(LOS_ANGELES, {"fri": "22:00-02:00"})
NIGHTS = schedule(WARSAW, {"mon-sun": "20:00-02:00"}, holiday_dates=frozenset({date(2026, 12, 25)}))
SALON = schedule(WARSAW, {"mon-fri": "09:00-18:00", "sat": "10:00-14:00, 15:00-17:00"})
WARSAW_OFFICE = schedule(WARSAW, {"mon-fri": "09:00-17:00"}, holiday_country="PL")


@pytest.mark.parametrize(
    ("plan", "moment", "trigger"),
    [
        pytest.param(
            NEW_YORK_OFFICE,
            datetime(2026, 3, 9, 9, 30, tzinfo=NEW_YORK),
            "open",
            id="monday 09:30 the day after DST starts",
        ),
        pytest.param(
            NEW_YORK_OFFICE,
            datetime(2026, 11, 2, 16, 30, tzinfo=NEW_YORK),
            "open",
            id="monday 16:30 the day after DST ends",
        ),
        pytest.param(
            NEW_YORK_OFFICE,
            datetime(2026, 11, 1, 23, 30, tzinfo=NEW_YORK),
            "open",
            id="sunday 23:30 in a sunday evening range, the day DST ends",
        ),
        # 13:15 UTC is 09:15 EDT (open); read with winter's offset it would be 08:15.
        pytest.param(NEW_YORK_OFFICE, utc(2026, 3, 9, 13, 15), "open", id="UTC moment, EDT"),
        # 21:30 UTC is 16:30 EST (open); read with summer's offset it would be 17:30.
        pytest.param(NEW_YORK_OFFICE, utc(2026, 11, 2, 21, 30), "open", id="UTC moment, EST"),
        pytest.param(
            NEW_YORK_OFFICE,
            datetime(2026, 3, 9, 9, 0, tzinfo=NEW_YORK),
            "open",
            id="start is inclusive",
        ),
        pytest.param(
            NEW_YORK_OFFICE,
            datetime(2026, 3, 9, 17, 0, tzinfo=NEW_YORK),
            "out_of_hours",
            id="end is exclusive",
        ),
        pytest.param(
            NEW_YORK_OFFICE,
            datetime(2026, 3, 9, 8, 59, 59, tzinfo=NEW_YORK),
            "out_of_hours",
            id="a second before opening",
        ),
        pytest.param(
            NEW_YORK_OFFICE,
            datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK),
            "weekend",
            id="repeated hour on a sunday outside hours",
        ),
        pytest.param(
            NEW_YORK_OFFICE,
            datetime(2026, 11, 2, 0, 0, tzinfo=NEW_YORK),
            "out_of_hours",
            id="sunday's 24:00 end excludes monday midnight",
        ),
        pytest.param(
            FRIDAY_NIGHTS,
            datetime(2026, 1, 17, 1, 30, tzinfo=LOS_ANGELES),
            "open",
            id="saturday 01:30 in friday's range",
        ),
        # Saturday 02:30 is in no range, so its business day is its own date, Saturday. That
        # is not a holiday, and Saturday is a weekend day by default: rule 3 gives weekend.
        pytest.param(
            FRIDAY_NIGHTS,
            datetime(2026, 1, 17, 2, 30, tzinfo=LOS_ANGELES),
            "weekend",
            id="saturday 02:30 after friday's range",
        ),
        pytest.param(
            FRIDAY_NIGHTS,
            datetime(2026, 1, 16, 21, 59, tzinfo=LOS_ANGELES),
            "out_of_hours",
            id="friday before the range",
        ),
        pytest.param(
            NIGHTS,
            datetime(2026, 12, 25, 1, 0, tzinfo=WARSAW),
            "open",
            id="25 december 01:00 in the 24th's range",
        ),
        pytest.param(
            NIGHTS,
            datetime(2026, 12, 26, 1, 0, tzinfo=WARSAW),
            "holiday",
            id="26 december 01:00 in the 25th's range, not held",
        ),
        pytest.param(
            NIGHTS,
            datetime(2026, 12, 25, 21, 0, tzinfo=WARSAW),
            "holiday",
            id="the holiday's own evening range",
        ),
        pytest.param(
            NIGHTS,
            datetime(2026, 12, 26, 21, 0, tzinfo=WARSAW),
            "open",
            id="a saturday evening range after the holiday",
        ),
        pytest.param(
            SALON,
            datetime(2026, 11, 7, 11, 0, tzinfo=WARSAW),
            "open",
            id="saturday inside its hours",
        ),
        pytest.param(
            SALON,
            datetime(2026, 11, 7, 14, 30, tzinfo=WARSAW),
            "weekend",
            id="saturday between its ranges",
        ),
        pytest.param(
            SALON,
            datetime(2026, 11, 8, 11, 0, tzinfo=WARSAW),
            "weekend",
            id="closed sunday",
        ),
        pytest.param(
            WARSAW_OFFICE,
            datetime(2026, 11, 11, 10, 0, tzinfo=WARSAW),
            "holiday",
            id="polish independence day",
        ),
        pytest.param(
            WARSAW_OFFICE,
            datetime(2026, 11, 12, 10, 0, tzinfo=WARSAW),
            "open",
            id="the day after independence day",
        ),
        pytest.param(
            schedule(NEW_YORK, None, holiday_dates=frozenset({date(2026, 7, 3)})),
            datetime(2026, 7, 3, 12, 0, tzinfo=NEW_YORK),
            "holiday",
            id="always open, except on a closed day",
        ),
        pytest.param(
            schedule(NEW_YORK, None),
            datetime(2026, 7, 4, 3, 0, tzinfo=NEW_YORK),
            "open",
            id="always open on a saturday night",
        ),
        pytest.param(
            schedule(LOS_ANGELES, {"fri": "22:00-02:00"}, weekend=frozenset()),
            datetime(2026, 1, 17, 2, 30, tzinfo=LOS_ANGELES),
            "out_of_hours",
            id="saturday 02:30 with no weekend",
        ),
    ],
)
def test_trigger_at(plan: Schedule, moment: datetime, trigger: str) -> None:
    assert plan.trigger_at(moment) == trigger


@pytest.mark.parametrize(
    ("country", "trigger"),
    [
        pytest.param("US-CA", "holiday", id="california keeps cesar chavez day"),
        pytest.param("us-ca", "holiday", id="lower case"),
        pytest.param("US", "open", id="not a federal holiday"),
    ],
)
def test_subdivision_holidays(country: str, trigger: str) -> None:
    plan = schedule(LOS_ANGELES, {"mon-fri": "09:00-17:00"}, holiday_country=country)
    # 31 March 2026 is a Tuesday.
    assert plan.trigger_at(datetime(2026, 3, 31, 10, 0, tzinfo=LOS_ANGELES)) == trigger


@pytest.mark.parametrize("code", ["PL", "US-CA", "us-ca", "US", "DE-BY"])
def test_known_countries(code: str) -> None:
    assert check_country(code) is None
    assert Schedule.check_country(code) is None


@pytest.mark.parametrize(
    ("code", "says"),
    [
        pytest.param("ZZ", "holidays.list_supported_countries()", id="unknown country"),
        pytest.param("US-XX", "names subdivision 'XX', which US does not have", id="bad subdiv"),
        pytest.param("US-XX", "CA, CO", id="lists the subdivisions"),
    ],
)
def test_unknown_countries(code: str, says: str) -> None:
    message = check_country(code)
    assert message is not None and says in message
    with pytest.raises(ValueError):
        Schedule(WARSAW, None, holiday_country=code)


def test_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        WARSAW_OFFICE.trigger_at(datetime(2026, 11, 12, 10, 0))


@pytest.mark.parametrize(
    ("plan", "moment", "opening"),
    [
        pytest.param(
            NEW_YORK_OFFICE,
            datetime(2026, 3, 9, 10, 0, tzinfo=NEW_YORK),
            utc(2026, 3, 10, 13),
            id="open now: tuesday's opening",
        ),
        pytest.param(
            NEW_YORK_OFFICE,
            datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK),
            utc(2026, 3, 8, 21),
            id="saturday: sunday 17:00 EDT",
        ),
        pytest.param(
            schedule(NEW_YORK, {"mon": "20:00-24:00", "tue": "00:00-02:00"}),
            datetime(2026, 3, 9, 21, 0, tzinfo=NEW_YORK),
            utc(2026, 3, 17, 0),
            id="ranges meeting at midnight are one open period",
        ),
        # The clocks jump from 02:00 to 03:00 at 07:00 UTC, passing 02:30: the range opens then.
        pytest.param(
            schedule(NEW_YORK, {"sun": "02:30-05:00"}),
            datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK),
            utc(2026, 3, 8, 7),
            id="start in the skipped hour opens at the jump",
        ),
        # Open 00:00-01:30 EDT, closed 01:30-02:00 EDT, then the clock shows 01:00 again (EST).
        pytest.param(
            schedule(NEW_YORK, {"sun": "00:00-01:30"}),
            datetime(2026, 11, 1, 1, 45, tzinfo=NEW_YORK),
            utc(2026, 11, 1, 6),
            id="end in the repeated hour opens a second time",
        ),
        pytest.param(
            schedule(NEW_YORK, {"mon-sun": "closed"}), utc(2026, 1, 1), None, id="never open"
        ),
        pytest.param(schedule(NEW_YORK, None), utc(2026, 1, 1), None, id="never closes"),
    ],
)
def test_next_opening(plan: Schedule, moment: datetime, opening: datetime | None) -> None:
    found = plan.next_opening(moment)
    assert (found and found.astimezone(UTC)) == opening
    assert found is None or found.tzinfo is plan.tz


@pytest.mark.parametrize(
    ("plan", "moment", "phrase"),
    [
        pytest.param(
            WARSAW_OFFICE,
            datetime(2026, 11, 2, 7, 0, tzinfo=WARSAW),
            "at 09:00",
            id="before opening the same day",
        ),
        pytest.param(
            WARSAW_OFFICE,
            datetime(2026, 11, 2, 20, 0, tzinfo=WARSAW),
            "tomorrow at 09:00",
            id="evening before",
        ),
        pytest.param(
            WARSAW_OFFICE,
            datetime(2026, 11, 6, 20, 0, tzinfo=WARSAW),
            "on Monday at 09:00",
            id="friday evening before a monday opening",
        ),
        pytest.param(
            WARSAW_OFFICE,
            datetime(2026, 11, 10, 18, 0, tzinfo=WARSAW),
            "on Thursday at 09:00",
            id="evening before a holiday",
        ),
        pytest.param(
            WARSAW_OFFICE,
            datetime(2026, 11, 11, 10, 0, tzinfo=WARSAW),
            "tomorrow at 09:00",
            id="on the holiday",
        ),
        pytest.param(
            WARSAW_OFFICE,
            datetime(2026, 11, 2, 10, 0, tzinfo=WARSAW),
            "tomorrow at 09:00",
            id="open now: the next opening",
        ),
        # 24-26 December are Polish holidays, then a weekend, the 28th-31st closed by the
        # business, 1 January a holiday, the 2nd and 3rd a weekend.
        pytest.param(
            schedule(
                WARSAW,
                {"mon-fri": "09:00-17:00"},
                holiday_country="PL",
                holiday_dates=frozenset(date(2026, 12, day) for day in range(28, 32)),
            ),
            datetime(2026, 12, 23, 18, 0, tzinfo=WARSAW),
            "on 4 January at 09:00",
            id="over christmas and new year",
        ),
        pytest.param(
            schedule(WARSAW, {"mon": "09:00-12:00, 13:00-17:00"}),
            datetime(2026, 11, 2, 12, 30, tzinfo=WARSAW),
            "at 13:00",
            id="after lunch",
        ),
        pytest.param(
            schedule(
                WARSAW,
                {"mon-fri": "09:00-17:00"},
                holiday_dates=frozenset(date(2027, 1, 1) + timedelta(days=n) for n in range(365)),
            ),
            datetime(2026, 12, 31, 18, 0, tzinfo=WARSAW),
            "on 3 January 2028 at 09:00",
            id="more than a year ahead names the year",
        ),
        pytest.param(
            schedule(NEW_YORK, {"sun": "02:30-05:00"}),
            datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK),
            "tomorrow at 03:00",
            id="the clock's time after the jump",
        ),
        pytest.param(
            schedule(WARSAW, {"mon-sun": "closed"}), utc(2026, 1, 1), NO_OPENING, id="never"
        ),
    ],
)
def test_opens_at(plan: Schedule, moment: datetime, phrase: str) -> None:
    assert plan.opens_at(moment) == phrase


def test_opens_at_when_never_open_is_honest() -> None:
    assert NO_OPENING == "at a time not yet set"


def periods_in_utc(periods: list[Period]) -> list[tuple[datetime, datetime, str, str | None]]:
    return [(p.start.astimezone(UTC), p.end.astimezone(UTC), p.trigger, p.note) for p in periods]


def test_periods_across_the_autumn_change() -> None:
    plan = schedule(NEW_YORK, {"sat": "22:00-02:00"})
    found = plan.periods(utc(2026, 10, 31, 16), utc(2026, 11, 1, 17))
    # Saturday 22:00 EDT is 02:00 UTC; Sunday 02:00 EST is 07:00 UTC: five hours open.
    assert periods_in_utc(found) == [
        (utc(2026, 10, 31, 16), utc(2026, 11, 1, 2), "weekend", None),
        (utc(2026, 11, 1, 2), utc(2026, 11, 1, 7), "open", None),
        (utc(2026, 11, 1, 7), utc(2026, 11, 1, 17), "weekend", None),
    ]
    assert all(p.start.tzinfo is NEW_YORK for p in found)


def test_periods_across_the_spring_change() -> None:
    found = schedule(NEW_YORK, {"sun": "02:30-05:00"}).periods(
        utc(2026, 3, 8, 5), utc(2026, 3, 8, 12)
    )
    # No clock shows 02:30 that night: the range opens when 02:00 EST becomes 03:00 EDT.
    assert periods_in_utc(found) == [
        (utc(2026, 3, 8, 5), utc(2026, 3, 8, 7), "weekend", None),
        (utc(2026, 3, 8, 7), utc(2026, 3, 8, 9), "open", None),
        (utc(2026, 3, 8, 9), utc(2026, 3, 8, 12), "weekend", None),
    ]


def test_periods_name_each_holiday() -> None:
    plan = schedule(
        WARSAW,
        {"mon-fri": "09:00-17:00"},
        holiday_country="PL",
        holiday_dates=frozenset({date(2026, 12, 28)}),
    )
    found = periods_in_utc(plan.periods(utc(2026, 12, 23, 16), utc(2026, 12, 28, 23)))
    # Warsaw is UTC+1 in winter; each local midnight is 23:00 UTC the day before.
    assert [(start, trigger) for start, _, trigger, _ in found] == [
        (utc(2026, 12, 23, 16), "out_of_hours"),
        (utc(2026, 12, 23, 23), "holiday"),
        (utc(2026, 12, 24, 23), "holiday"),
        (utc(2026, 12, 25, 23), "holiday"),
        (utc(2026, 12, 26, 23), "weekend"),
        (utc(2026, 12, 27, 23), "holiday"),
    ]
    notes = [note for *_, note in found]
    assert notes[0] is None and notes[4] is None
    assert "Christmas" in (notes[2] or "") and len(set(notes[1:4])) == 3
    assert notes[5] == "closed day"


def test_periods_of_an_empty_span() -> None:
    assert WARSAW_OFFICE.periods(utc(2026, 1, 2), utc(2026, 1, 2)) == []


@pytest.mark.parametrize(
    ("tz", "changes"),
    [
        pytest.param(NEW_YORK, [utc(2026, 3, 8, 7), utc(2026, 11, 1, 6)], id="new york"),
        pytest.param(WARSAW, [utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)], id="warsaw"),
        # Lord Howe Island moves its clocks by half an hour.
        pytest.param(
            ZoneInfo("Australia/Lord_Howe"),
            [utc(2026, 4, 4, 15), utc(2026, 10, 3, 15, 30)],
            id="lord howe",
        ),
        pytest.param(ZoneInfo("Asia/Kolkata"), [], id="no DST"),
    ],
)
def test_dst_changes(tz: ZoneInfo, changes: list[datetime]) -> None:
    found = Schedule(tz).dst_changes(utc(2026, 1, 1), utc(2027, 1, 1))
    assert [moment.astimezone(UTC) for moment in found] == changes


def test_dst_change_at_the_start_is_included() -> None:
    found = Schedule(NEW_YORK).dst_changes(utc(2026, 3, 8, 7), utc(2026, 3, 8, 8))
    assert [moment.astimezone(UTC) for moment in found] == [utc(2026, 3, 8, 7)]


# The property below checks trigger_at against an oracle that knows nothing of the module:
# it marks every minute of the week each range covers, walking the clock one minute at a time.

ZONES = [
    "America/New_York", "Europe/Warsaw", "Australia/Lord_Howe", "Asia/Kolkata",
    "America/Santiago", "Pacific/Chatham",
]  # fmt: skip
GRID = list(range(0, 1441, 15))
MICROSECOND = timedelta(microseconds=1)


def covered_minutes(ranges: dict[int, list[tuple[int, int]]]) -> dict[tuple[int, int], int]:
    """(weekday, minute of day) → how many days back the owning range started."""
    owner: dict[tuple[int, int], int] = {}
    for day, pairs in ranges.items():
        for start, end in pairs:
            clock = start
            while True:
                owner[((day + clock // 1440) % 7, clock % 1440)] = clock // 1440
                clock += 1
                if clock % 1440 == end % 1440:
                    break
    return owner


@st.composite
def weeks(draw: st.DrawFn) -> dict[int, list[tuple[int, int]]]:
    """Opening hours that never overlap: ranges within each day, then overnight ranges that fit."""
    ranges: dict[int, list[tuple[int, int]]] = {}
    for day in range(7):
        points = sorted(draw(st.sets(st.sampled_from(GRID), max_size=4)))
        ranges[day] = [(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)]
    for day in range(7):
        if not draw(st.booleans()):
            continue
        start = draw(st.sampled_from(GRID[:-1]))
        end = draw(st.sampled_from([m for m in GRID[:-1] if m <= start]))
        taken = covered_minutes(ranges)
        if not set(covered_minutes({day: [(start, end)]})) & set(taken):
            ranges[day].append((start, end))
    return ranges


def oracle(
    ranges: dict[int, list[tuple[int, int]]], closed: set[date], weekend: set[int], local: datetime
) -> str:
    back = covered_minutes(ranges).get((local.weekday(), local.hour * 60 + local.minute))
    business_day = local.date() - timedelta(days=back or 0)
    if back is not None and business_day not in closed:
        return "open"
    if business_day in closed:
        return "holiday"
    return "weekend" if business_day.weekday() in weekend else "out_of_hours"


@settings(max_examples=300, deadline=None)
@given(
    ranges=weeks(),
    zone=st.sampled_from(ZONES),
    shown_in=st.sampled_from(ZONES + ["UTC"]),
    instant=st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
    closed_offsets=st.sets(st.sampled_from([-1, 0, 1])),
    weekend=st.sets(st.integers(0, 6)),
)
def test_trigger_matches_brute_force(
    ranges: dict[int, list[tuple[int, int]]],
    zone: str,
    shown_in: str,
    instant: datetime,
    closed_offsets: set[int],
    weekend: set[int],
) -> None:
    tz = ZoneInfo(zone)
    local = instant.astimezone(tz)
    closed = {local.date() + timedelta(days=n) for n in closed_offsets}
    hours = {day: tuple(TimeRange(s, e) for s, e in sorted(pairs)) for day, pairs in ranges.items()}
    plan = Schedule(tz, hours, frozenset(weekend), holiday_dates=frozenset(closed))
    moment = instant.astimezone(ZoneInfo(shown_in))
    expected = oracle(ranges, closed, weekend, local)
    assert plan.trigger_at(moment) == expected
    assert (plan.trigger_at(moment) == "open") == (expected == "open")


@settings(max_examples=100, deadline=None)
@given(
    ranges=weeks(),
    zone=st.sampled_from(ZONES),
    instant=st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
    probes=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=5),
)
def test_periods_and_next_opening_agree_with_trigger_at(
    ranges: dict[int, list[tuple[int, int]]], zone: str, instant: datetime, probes: list[float]
) -> None:
    hours = {day: tuple(TimeRange(s, e) for s, e in sorted(pairs)) for day, pairs in ranges.items()}
    plan = Schedule(ZoneInfo(zone), hours)
    end = instant + timedelta(days=3)
    found = plan.periods(instant, end)

    assert found[0].start == instant and found[-1].end == end
    assert all(a.end == b.start and a.trigger != b.trigger for a, b in pairwise(found))
    for period in found:
        for probe in probes:
            # Arithmetic in UTC: between aware datetimes of one zone, + and - use the wall clock.
            start, stop = period.start.astimezone(UTC), period.end.astimezone(UTC)
            inside = start + timedelta(microseconds=int((stop - start) // MICROSECOND * probe))
            assert plan.trigger_at(inside) == period.trigger

    opening = plan.next_opening(instant)
    if opening is not None:
        assert plan.trigger_at(opening) == "open"
        before = opening.astimezone(UTC) - MICROSECOND
        assert plan.trigger_at(before) != "open"
