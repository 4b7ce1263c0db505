"""Reading `hours` and `weekend` as authors write them, and the problems reported for mistakes."""

from __future__ import annotations

import pytest

from engine.dsl.hours import DAY_NAMES, HoursProblem, TimeRange, parse_days, parse_hours

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def minutes(hours: dict[int, tuple[TimeRange, ...]]) -> dict[int, list[tuple[int, int]]]:
    return {day: [(r.start, r.end) for r in ranges] for day, ranges in hours.items()}


def located(problems: list[HoursProblem]) -> list[tuple[int, str, str]]:
    return [(p.index, p.field, p.code) for p in problems]


def test_day_names_count_from_monday() -> None:
    assert DAY_NAMES == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(
            [("mon-fri", "09:00-17:00")],
            {day: [(540, 1020)] for day in (MON, TUE, WED, THU, FRI)},
            id="weekday range",
        ),
        pytest.param(
            [("fri-mon", "closed")],
            {FRI: [], SAT: [], SUN: [], MON: []},
            id="fri-mon wraps through the weekend",
        ),
        pytest.param(
            [("mon, wed ,fri", "08:30-12:15")],
            {MON: [(510, 735)], WED: [(510, 735)], FRI: [(510, 735)]},
            id="comma list with spaces",
        ),
        pytest.param(
            [("MON-Tue", "09:00-10:00"), ("Sat", "CLOSED")],
            {MON: [(540, 600)], TUE: [(540, 600)], SAT: []},
            id="any case",
        ),
        pytest.param(
            [("sat", "15:00-17:00, 10:00-14:00")],
            {SAT: [(600, 840), (900, 1020)]},
            id="several ranges come back sorted",
        ),
        pytest.param(
            [("fri", "22:00-02:00"), ("sat", "02:00-05:00")],
            {FRI: [(1320, 120)], SAT: [(120, 300)]},
            id="overnight range meets next day's range",
        ),
        pytest.param(
            [("sun", "17:00-24:00"), ("mon", "00:00-01:00")],
            {SUN: [(1020, 1440)], MON: [(0, 60)]},
            id="24:00 ends a range",
        ),
        pytest.param(
            [("mon", "09:00-12:00, 12:00-17:00")],
            {MON: [(540, 720), (720, 1020)]},
            id="ranges may meet",
        ),
        pytest.param(
            [("mon-wed, sat", "9:00 - 10:00")],
            {MON: [(540, 600)], TUE: [(540, 600)], WED: [(540, 600)], SAT: [(540, 600)]},
            id="range inside a list, one-digit hour",
        ),
        pytest.param([], {}, id="no entries"),
    ],
)
def test_reads_hours(
    entries: list[tuple[str, str]], expected: dict[int, list[tuple[int, int]]]
) -> None:
    hours, problems = parse_hours(entries)
    assert problems == []
    assert minutes(hours) == expected


@pytest.mark.parametrize(
    ("value", "overnight", "stop", "text"),
    [
        pytest.param(TimeRange(1320, 120), True, 1560, "22:00-02:00", id="past midnight"),
        pytest.param(TimeRange(540, 540), True, 1980, "09:00-09:00", id="end equals start"),
        pytest.param(TimeRange(0, 1440), False, 1440, "00:00-24:00", id="whole day"),
        pytest.param(TimeRange(540, 1020), False, 1020, "09:00-17:00", id="office hours"),
    ],
)
def test_time_range(value: TimeRange, overnight: bool, stop: int, text: str) -> None:
    assert (value.overnight, value.stop, str(value)) == (overnight, stop, text)


def test_time_range_refuses_minutes_off_the_clock() -> None:
    with pytest.raises(ValueError):
        TimeRange(1440, 60)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param([("mon-fry", "09:00-17:00")], [(0, "key", "bad-day")], id="mon-fry"),
        pytest.param([("", "09:00-17:00")], [(0, "key", "bad-day")], id="empty key"),
        pytest.param(
            [("mon", "closed"), ("mon,mon", "closed")], [(1, "key", "day-twice")], id="day twice"
        ),
        pytest.param([("mon", "09:00-25:00")], [(0, "value", "bad-time")], id="25:00"),
        pytest.param([("mon", "25:00")], [(0, "value", "bad-time-range")], id="25:00 alone"),
        pytest.param([("mon", "09:00-")], [(0, "value", "bad-time-range")], id="09:00-"),
        pytest.param([("mon", "24:00-10:00")], [(0, "value", "bad-time")], id="24:00 start"),
        pytest.param([("mon", "24:30-10:00")], [(0, "value", "bad-time")], id="24:30"),
        pytest.param([("mon", "09:60-10:00")], [(0, "value", "bad-time")], id="minute 60"),
        pytest.param([("mon", "9am-5pm")], [(0, "value", "bad-time")], id="9am"),
        pytest.param([("mon", "")], [(0, "value", "bad-time-range")], id="empty value"),
        pytest.param(
            [("mon", "closed, 09:00-10:00")],
            [(0, "value", "bad-time-range")],
            id="closed and times",
        ),
        pytest.param(
            [("mon-fri", "09:00-13:00, 12:00-17:00")],
            [(0, "value", "overlapping-ranges")],
            id="overlap on one day, reported once for five days",
        ),
        pytest.param(
            [("fri", "22:00-02:00"), ("sat", "01:00-05:00")],
            [(1, "value", "overlapping-ranges")],
            id="overnight range overlaps next day",
        ),
        pytest.param(
            [("sun", "20:00-20:00"), ("mon", "19:00-21:00")],
            [(1, "value", "overlapping-ranges")],
            id="sunday night runs into monday",
        ),
        pytest.param(
            [("mon-fry", "9-5"), ("tue", "10:00-"), ("wed", "closed"), ("tue-wed", "closed")],
            [
                (0, "key", "bad-day"),
                (0, "value", "bad-time"),
                (1, "value", "bad-time-range"),
                (3, "key", "day-twice"),
            ],
            id="every problem at once",
        ),
    ],
)
def test_reports_problems(
    entries: list[tuple[str, str]], expected: list[tuple[int, str, str]]
) -> None:
    assert located(parse_hours(entries)[1]) == expected


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        pytest.param(
            [("mon-fry", "09:00-17:00")],
            "hours key 'mon-fry' is not a day: expected mon … sun, a range like mon-fri,"
            " or a list like mon,wed,fri",
            id="bad day",
        ),
        pytest.param(
            [("mon, wedn", "closed")],
            "hours key 'mon, wedn' has 'wedn', which is not a day: expected mon … sun,"
            " a range like mon-fri, or a list like mon,wed,fri",
            id="bad day in a list",
        ),
        pytest.param(
            [("mon-fri", "09:00-17:00"), ("wed", "10:00-12:00")],
            "hours key 'wed' names wed again, already set by 'mon-fri': name each day once",
            id="day twice",
        ),
        pytest.param(
            [("mon", "09:00-25:00")],
            "hours value '09:00-25:00' for 'mon' has '25:00', which is not a time:"
            " expected HH:MM, 00:00 to 24:00",
            id="bad time",
        ),
        pytest.param(
            [("mon", "09:00-")],
            "hours value '09:00-' for 'mon' is not a time range: expected HH:MM-HH:MM like"
            " 09:00-17:00, several separated by commas, or closed",
            id="half a range",
        ),
        pytest.param(
            [("mon", "24:00-10:00")],
            "hours value '24:00-10:00' for 'mon' starts a range at 24:00, which can only end"
            " one: start at 00:00",
            id="24:00 start",
        ),
        pytest.param(
            [("fri", "22:00-02:00"), ("sat", "01:00-05:00")],
            "hours 'sat' range 01:00-05:00 on sat overlaps 22:00-02:00 on fri set by 'fri':"
            " ranges may meet, not overlap",
            id="overlap",
        ),
    ],
)
def test_problem_messages(entries: list[tuple[str, str]], message: str) -> None:
    assert [p.message for p in parse_hours(entries)[1]] == [message]


def test_first_entry_wins_for_a_day_named_twice() -> None:
    hours, _ = parse_hours([("mon-fri", "09:00-17:00"), ("fri-sat", "10:00-12:00")])
    assert minutes(hours)[FRI] == [(540, 1020)]
    assert minutes(hours)[SAT] == [(600, 720)]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(["sat", "sun"], {SAT, SUN}, id="default weekend"),
        pytest.param(["Fri", " SAT "], {FRI, SAT}, id="friday and saturday"),
        pytest.param(["fri-sat"], {FRI, SAT}, id="range"),
        pytest.param([], set(), id="no weekend"),
    ],
)
def test_reads_weekend(values: list[str], expected: set[int]) -> None:
    assert parse_days(values) == (frozenset(expected), [])


def test_weekend_problems() -> None:
    days, problems = parse_days(["sat", "sunday", "sat"])
    assert days == {SAT}
    assert problems == [
        HoursProblem(
            1,
            "value",
            "bad-day",
            "weekend day 'sunday' is not a day: expected mon … sun, as in [sat, sun]",
        ),
        HoursProblem(2, "value", "day-twice", "weekend names sat twice: name each day once"),
    ]
