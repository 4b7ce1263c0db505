"""`ringback schedule`: which trigger applies when, as a table people can scan.

The schedule (`engine.flows.schedule.Schedule`) knows the trigger at any moment; this
module lays out `--days N` from `--from` as consecutive periods on the flow's wall clock,
each with the trigger that starts a call then and the steps that run for it (a `weekend`
the flow does not handle runs `out_of_hours`), holidays named, and the DST changes of the
window (or the next one after it) marked, because those are the nights a schedule surprises
people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine.dsl.flow import Flow
from engine.flows.schedule import Period

__all__ = ["Timetable", "timetable"]

DST_LOOKAHEAD = timedelta(days=366)


@dataclass(frozen=True)
class Timetable:
    """The periods of a window and its DST changes, for one flow."""

    flow: Flow
    start: datetime
    end: datetime
    periods: list[Period]
    dst_changes: list[datetime]
    next_dst_change: datetime | None

    def runs(self, trigger: str) -> str | None:
        """The trigger whose steps run for `trigger` (fallbacks applied), or None."""
        handled = self.flow.handler(trigger)
        return handled[0] if handled else None

    def as_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow.id,
            "timezone": self.flow.tz.key,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "periods": [
                {"start": p.start.isoformat(), "end": p.end.isoformat(), "trigger": p.trigger,
                 "runs": self.runs(p.trigger), "holiday": p.note}
                for p in self.periods
            ],
            "dst_changes": [_change_json(change) for change in self.dst_changes],
            "next_dst_change": _change_json(self.next_dst_change)
            if self.next_dst_change else None,
        }

    def render(self) -> str:
        """The table: one line a period, DST changes in their place, the next one after."""
        head = (
            f"{self.flow.id} ({self.flow.tz.key}), {self.start:%a %Y-%m-%d} to "
            f"{self.end - timedelta(seconds=1):%a %Y-%m-%d}"
        )
        rows = [(p.start, _period_row(self, p)) for p in self.periods]
        rows += [(c, f"  {c:%a %Y-%m-%d %H:%M}  {_change_text(c)}") for c in self.dst_changes]
        lines = [head, ""] + [text for _, text in sorted(rows, key=lambda r: _utc_key(r[0]))]
        if not self.dst_changes and self.next_dst_change is not None:
            change = self.next_dst_change
            lines += ["", f"next DST change: {change:%a %Y-%m-%d %H:%M}, {_change_text(change)}"]
        return "\n".join(lines)


def timetable(flow: Flow, first: date, days: int) -> Timetable:
    """The trigger table of `flow` for `days` days from local midnight of `first`."""
    start = datetime.combine(first, time(), tzinfo=flow.tz)
    end = datetime.combine(first + timedelta(days=days), time(), tzinfo=flow.tz)
    schedule = flow.schedule
    changes = schedule.dst_changes(start, end)
    upcoming = schedule.dst_changes(end, end + DST_LOOKAHEAD) if not changes else []
    return Timetable(flow, start, end, schedule.periods(start, end), changes,
                     upcoming[0] if upcoming else None)


def _period_row(table: Timetable, period: Period) -> str:
    start, end = period.start, period.end
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %H:%M}"
    if end - start > timedelta(days=6) or (end.date() - start.date()).days > 6:
        until = f"{end:%a %Y-%m-%d %H:%M}"
    what: str = period.trigger
    if period.note:
        what += f" ({period.note})"
    runs = table.runs(period.trigger)
    if runs is None:
        what += ": not handled, the call is hung up"
    elif runs != period.trigger:
        what += f": runs {runs}"
    return f"  {start:%a %Y-%m-%d %H:%M} - {until:<20} {what}"


def _before(change: datetime) -> datetime:
    """The last instant on the old offset (aware arithmetic in UTC, not on the wall clock)."""
    return (change.astimezone(UTC) - timedelta(microseconds=1)).astimezone(change.tzinfo)


def _change_text(change: datetime) -> str:
    before, after = _before(change), change
    forward = (after.utcoffset() or timedelta()) > (before.utcoffset() or timedelta())
    shown = before.replace(tzinfo=None) + timedelta(microseconds=1)
    direction = "forward" if forward else "back"
    return (
        f"DST: clocks go {direction} from {shown:%H:%M} to {after:%H:%M} "
        f"({before.tzname()} to {after.tzname()})"
    )


def _change_json(change: datetime) -> dict[str, Any]:
    before = _before(change)
    return {"at": change.isoformat(), "offset_before": _offset(before),
            "offset_after": _offset(change)}


def _offset(moment: datetime) -> str:
    return moment.isoformat()[-6:]


def _utc_key(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
