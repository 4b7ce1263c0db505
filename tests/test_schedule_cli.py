"""`ringback schedule` and worked schedule values (DST, past midnight), through a compiled flow.

Dates worked out from the calendar and tzdata: in 2026 the US springs forward on Sunday
8 March (02:00 EST → 03:00 EDT) and falls back on Sunday 1 November (02:00 EDT → 01:00
EST); 9 March and 2 November are Mondays; 3 November 2026 is Election Day, a New York
state holiday.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.cli import main
from engine.dsl.compiler import compile_file

NEW_YORK = """\
line: "+1 212 555 0100"
business: Corner Deli
timezone: America/New_York
hours:
  mon-fri: "09:00-17:00"
  sun: "17:00-24:00"
on:
  open: [hangup]
  out_of_hours: [hangup]
"""

LOS_ANGELES = """\
line: "+1 213 555 0100"
business: Night Garage
timezone: America/Los_Angeles
hours:
  fri: "22:00-02:00"
on:
  open: [hangup]
  out_of_hours: [hangup]
"""


def write(tmp_path: Path, text: str, name: str = "deli") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "local",
    [
        pytest.param(datetime(2026, 3, 9, 9, 30), id="Monday after DST starts, 09:30"),
        pytest.param(datetime(2026, 11, 2, 16, 30), id="Monday after DST ends, 16:30"),
        pytest.param(datetime(2026, 11, 1, 23, 30), id="Sunday DST ends, 23:30"),
    ],
)
def test_new_york_is_open_across_dst(tmp_path: Path, local: datetime) -> None:
    flow = compile_file(write(tmp_path, NEW_YORK))
    moment = local.replace(tzinfo=ZoneInfo("America/New_York"))
    assert flow.starting_trigger(moment) == "open"


def test_a_friday_night_range_belongs_to_friday(tmp_path: Path) -> None:
    flow = compile_file(write(tmp_path, LOS_ANGELES))
    tz = ZoneInfo("America/Los_Angeles")
    assert flow.starting_trigger(datetime(2026, 5, 9, 1, 30, tzinfo=tz)) == "open"
    # 02:30 is past Friday's range: a Saturday, which without on.weekend runs out_of_hours.
    closed = flow.starting_trigger(datetime(2026, 5, 9, 2, 30, tzinfo=tz))
    assert closed == "weekend"
    assert flow.handler(closed) is not None and flow.handler(closed)[0] == "out_of_hours"


def test_with_no_weekend_saturday_after_the_range_is_out_of_hours(tmp_path: Path) -> None:
    text = LOS_ANGELES.replace("on:\n", "weekend: []\non:\n")
    flow = compile_file(write(tmp_path, text))
    tz = ZoneInfo("America/Los_Angeles")
    assert flow.starting_trigger(datetime(2026, 5, 9, 2, 30, tzinfo=tz)) == "out_of_hours"


def test_the_schedule_table_marks_dst_and_fallbacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, NEW_YORK)
    assert main(["schedule", str(path), "--from", "2026-03-08", "--days", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "deli (America/New_York), Sun 2026-03-08 to Mon 2026-03-09",
        "",
        "  Sun 2026-03-08 00:00 - 17:00                weekend: runs out_of_hours",
        "  Sun 2026-03-08 03:00  DST: clocks go forward from 02:00 to 03:00 (EST to EDT)",
        "  Sun 2026-03-08 17:00 - Mon 00:00            open",
        "  Mon 2026-03-09 00:00 - 09:00                out_of_hours",
        "  Mon 2026-03-09 09:00 - 17:00                open",
        "  Mon 2026-03-09 17:00 - Tue 00:00            out_of_hours",
    ]


def test_the_schedule_json_names_holidays_and_the_fall_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, NEW_YORK.replace("on:\n", "holidays: {country: US-NY}\non:\n"))
    assert main(["schedule", str(path), "--from", "2026-11-01", "--days", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dst_changes"] == [
        {"at": "2026-11-01T01:00:00-05:00", "offset_before": "-04:00", "offset_after": "-05:00"}
    ]
    last = result["periods"][-1]
    assert last == {
        "start": "2026-11-03T00:00:00-05:00", "end": "2026-11-04T00:00:00-05:00",
        "trigger": "holiday", "runs": "out_of_hours", "holiday": "Election Day",
    }
    monday_open = {"start": "2026-11-02T09:00:00-05:00", "end": "2026-11-02T17:00:00-05:00",
                   "trigger": "open", "runs": "open", "holiday": None}
    assert monday_open in result["periods"]


def test_a_window_without_dst_names_the_next_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, NEW_YORK)
    assert main(["schedule", str(path), "--from", "2026-05-04", "--days", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        "next DST change: Sun 2026-11-01 01:00, DST: clocks go back from 02:00 to 01:00 "
        "(EDT to EST)"
    )


def test_a_bad_from_date_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, NEW_YORK)
    assert main(["schedule", str(path), "--from", "soon"]) == 2
    assert capsys.readouterr().err == (
        "ringback: --from must be a date such as 2026-03-09, got 'soon'\n"
    )


def test_the_friday_night_range_through_ringback_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, LOS_ANGELES, name="garage")
    assert main(["schedule", str(path), "--from", "2026-05-08", "--days", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[2:5] == [
        "  Fri 2026-05-08 00:00 - 22:00                out_of_hours",
        "  Fri 2026-05-08 22:00 - Sat 02:00            open",
        "  Sat 2026-05-09 02:00 - Sun 00:00            weekend: runs out_of_hours",
    ]


def test_the_sunday_evening_of_the_fall_back_is_open_in_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, NEW_YORK)
    assert main(["schedule", str(path), "--from", "2026-11-01", "--days", "1", "--json"]) == 0
    periods = json.loads(capsys.readouterr().out)["periods"]
    assert periods[-1] == {
        "start": "2026-11-01T17:00:00-05:00", "end": "2026-11-02T00:00:00-05:00",
        "trigger": "open", "runs": "open", "holiday": None,
    }
