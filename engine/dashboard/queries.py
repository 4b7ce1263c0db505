"""The dashboard's questions to the store, answered in SQL: counts, pages and histories.

Every page asks a bounded question. Counts are aggregated in the database; the call list
is read a page at a time, newest first, by keyset (`started_at`, `call_sid`) so page 400
costs what page 1 costs; details (texts, dial outcomes, replies) are fetched only for the
calls on the page. The indexes these rely on are declared in `engine.store`.

What the words mean, once, for every page:

- a *missed* call ended without the business taking it; it is counted under the trigger
  it ended in (`busy`, `missed`, `out_of_hours` …);
- a text is *sent* once Twilio accepted it, *delivered* when Twilio reports so, and
  *skipped* with the reason the engine recorded;
- a call *needs a call back* when it was missed, it is its caller's latest call on that
  line, and the caller has not texted the line since.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select
from sqlalchemy.sql import ColumnElement

from engine.store import call_events, calls, message_events, messages, replies

__all__ = [
    "DELIVERED", "PAGE_SIZE", "SENT", "Filters", "Line", "Overview", "Page", "Row",
    "caller_history", "chart_days", "overview", "page_of_calls",
]

PAGE_SIZE = 50
SENT = ("accepted", "scheduled", "queued", "sent", "delivered", "undelivered", "read",
        "partially_delivered")  # fmt: skip
DELIVERED = ("delivered", "read")
FAILED = ("failed", "canceled")
WAITING = ("pending", "sending", "unknown")
TEXT_OUTCOMES = ("sent", "delivered", "failed", "skipped", "none")
UNREACHABLE = ("no-caller-id", "invalid-number")


@dataclass(frozen=True)
class Line:
    """A business line as the dashboard shows it: a flow, its numbers and its zone."""

    id: str
    business: str
    numbers: tuple[str, ...]
    zone: tzinfo


# --- the overview ------------------------------------------------------------------


@dataclass
class Overview:
    """The counts of one line (or all lines) since a moment."""

    calls: int = 0
    answered: int = 0
    in_progress: int = 0
    missed: dict[str, int] = field(default_factory=dict)
    texts: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    waiting: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    replies: int = 0
    opt_outs: int = 0

    @property
    def missed_total(self) -> int:
        return sum(self.missed.values())

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def overview(connection: Connection, line: Line | None, since: datetime | None) -> Overview:
    """Counts for `line` (None: all lines) of calls started at or after `since`."""
    result = Overview()
    _count_calls(connection, result, _calls_where(line, since))
    _count_texts(connection, result, _calls_where(line, since))
    _count_replies(connection, result, line, since)
    return result


def _calls_where(line: Line | None, since: datetime | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if line is not None:
        where.append(calls.c.flow_id == line.id)
    if since is not None:
        where.append(calls.c.started_at >= since)
    return where


def _count_calls(connection: Connection, into: Overview, where: list[Any]) -> None:
    query = (
        select(calls.c.trigger, calls.c.answered, calls.c.state, func.count())
        .where(*where).group_by(calls.c.trigger, calls.c.answered, calls.c.state)
    )
    for trigger, answered, state, number in connection.execute(query):
        into.calls += number
        if answered:
            into.answered += number
        elif state != "ended":
            into.in_progress += number
        else:
            into.missed[trigger] = into.missed.get(trigger, 0) + number


def _count_texts(connection: Connection, into: Overview, where: list[Any]) -> None:
    query = (
        select(messages.c.status, messages.c.reason, func.count())
        .where(*_texts_of_calls(where)).group_by(messages.c.status, messages.c.reason)
    )
    for status, reason, number in connection.execute(query):
        into.texts += number
        if status == "skipped":
            key = reason or "unknown"
            into.skipped[key] = into.skipped.get(key, 0) + number
        into.sent += number if status in SENT else 0
        into.delivered += number if status in DELIVERED else 0
        into.failed += number if status in FAILED else 0
        into.waiting += number if status in WAITING else 0


def _texts_of_calls(where: list[Any]) -> list[ColumnElement[bool]]:
    """Texts of the calls `where` selects, as `call_sid IN (…)`: the calls are found first,
    by their index, and then their texts by theirs (a join lets SQLite walk every text)."""
    if not where:
        return []
    return [messages.c.call_sid.in_(select(calls.c.call_sid).where(*where))]


def _count_replies(
    connection: Connection, into: Overview, line: Line | None, since: datetime | None
) -> None:
    where: list[ColumnElement[bool]] = []
    if line is not None:
        where.append(replies.c.line.in_(line.numbers))
    if since is not None:
        where.append(replies.c.received_at >= since)
    query = select(replies.c.kind, func.count()).where(*where).group_by(replies.c.kind)
    for kind, number in connection.execute(query):
        into.replies += number
        into.opt_outs += number if kind == "opt-out" else 0


def chart_days(
    connection: Connection, lines: Mapping[str, Line], line: Line | None, today: date,
    days: int = 30,
) -> list[tuple[date, int, int]]:
    """(local day, missed calls, texts sent) for the `days` days up to `today`.

    A call counts on its own line's local day; its texts count on the day of the call.
    """
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first - timedelta(days=1), time(), UTC)
    where = _calls_where(line, since)
    texts = connection.execute(
        select(messages.c.call_sid, func.count())
        .where(*_texts_of_calls(where), messages.c.status.in_(SENT))
        .group_by(messages.c.call_sid)
    )
    sent: dict[str, int] = {sid: number for sid, number in texts}
    found = connection.execute(
        select(calls.c.call_sid, calls.c.started_at, calls.c.flow_id, calls.c.state,
               calls.c.answered).where(*where)
    )
    missed_by: Counter[date] = Counter()
    sent_by: Counter[date] = Counter()
    for row in found:
        day = _local_day(row, lines)
        missed_by[day] += row.state == "ended" and not row.answered
        sent_by[day] += sent.get(row.call_sid, 0)
    span = [first + timedelta(days=n) for n in range(days)]
    return [(day, missed_by[day], sent_by[day]) for day in span]


def _local_day(row: Any, lines: Mapping[str, Line]) -> date:
    found = lines.get(row.flow_id)
    return aware(row.started_at).astimezone(found.zone if found else UTC).date()


def aware(value: datetime) -> datetime:
    """SQLite gives naive datetimes back; the store keeps UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- the call list -----------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the call list is narrowed to; every field optional, all from the URL."""

    line: str | None = None
    trigger: str | None = None
    text: str | None = None
    start: date | None = None
    end: date | None = None
    callback: bool = False

    @classmethod
    def parse(cls, query: Mapping[str, str], lines: Iterable[str]) -> Filters:
        """Filters from a query string; a value that means nothing is ignored."""
        text = query.get("text") or None
        known_text = text in TEXT_OUTCOMES or (text or "").startswith("skipped:")
        return cls(
            line=query.get("line") if query.get("line") in set(lines) else None,
            trigger=(query.get("trigger") or None),
            text=text if known_text else None,
            start=_date(query.get("from")),
            end=_date(query.get("to")),
            callback=query.get("callback") == "1",
        )

    def params(self) -> dict[str, str]:
        """The query-string form of these filters (empty ones left out)."""
        values = {
            "line": self.line, "trigger": self.trigger, "text": self.text,
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "callback": "1" if self.callback else None,
        }
        return {key: value for key, value in values.items() if value}


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass
class Row:
    """One call on the list, with what happened after it."""

    call_sid: str
    flow_id: str
    line: str
    caller: str
    started_at: datetime
    trigger: str
    answered: bool
    state: str
    duration: int | None
    recording: bool
    dial: str | None = None
    texts: list[dict[str, Any]] = field(default_factory=list)
    reply: str | None = None


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_cursor: str | None


def page_of_calls(
    connection: Connection, lines: Mapping[str, Line], filters: Filters,
    cursor: str | None = None, size: int = PAGE_SIZE,
) -> Page:
    """One page of calls, newest first, and the cursor of the next page (or None)."""
    where = _filtered(lines, filters) + _after(cursor)
    query = (
        select(calls).where(*where)
        .order_by(calls.c.started_at.desc(), calls.c.call_sid.desc()).limit(size + 1)
    )
    found = connection.execute(query).all()
    rows = [_row(record) for record in found[:size]]
    _add_details(connection, rows)
    more = len(found) > size
    last = rows[-1] if rows else None
    return Page(rows, _cursor(last) if more and last else None)


def _filtered(lines: Mapping[str, Line], filters: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.line:
        where.append(calls.c.flow_id == filters.line)
    if filters.trigger == "answered":
        where.append(calls.c.answered.is_(True))
    elif filters.trigger:
        where += [calls.c.trigger == filters.trigger, calls.c.answered.is_(False)]
    if filters.text:
        where.append(_text_outcome(filters.text))
    if filters.start or filters.end:
        where.append(_local_days(lines, filters.start, filters.end))
    if filters.callback:
        where += _needs_call_back()
    return where


def _text_outcome(outcome: str) -> ColumnElement[bool]:
    """Calls with a text of this outcome: sent, delivered, failed, skipped[:reason], none.

    Written as `call_sid IN (…)` rather than a correlated EXISTS: the database finds the
    texts once, by status, instead of once per call it walks.
    """
    if outcome == "none":
        return ~exists().where(messages.c.call_sid == calls.c.call_sid)
    if outcome.startswith("skipped"):
        reason = outcome.partition(":")[2]
        extra = [messages.c.reason == reason] if reason else []
        which = [messages.c.status == "skipped", *extra]
    else:
        statuses = {"sent": SENT, "delivered": DELIVERED, "failed": FAILED}[outcome]
        which = [messages.c.status.in_(statuses)]
    return calls.c.call_sid.in_(select(messages.c.call_sid).where(*which))


def _local_days(
    lines: Mapping[str, Line], start: date | None, end: date | None
) -> ColumnElement[bool]:
    """Calls from `start` to `end` (inclusive) on each line's own calendar."""
    clauses = [
        and_(calls.c.flow_id == line.id, *_bounds(line.zone, start, end))
        for line in lines.values()
    ]
    clauses.append(and_(calls.c.flow_id.not_in(list(lines)), *_bounds(UTC, start, end)))
    return or_(*clauses)


def _bounds(zone: Any, start: date | None, end: date | None) -> list[ColumnElement[bool]]:
    bounds = []
    if start:
        bounds.append(calls.c.started_at >= _midnight(start, zone))
    if end:
        bounds.append(calls.c.started_at < _midnight(end + timedelta(days=1), zone))
    return bounds


def _midnight(day: date, zone: Any) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _needs_call_back() -> list[ColumnElement[bool]]:
    """Missed, reachable, the caller's latest call on the line, no text from them since."""
    later = calls.alias("later")
    newer_call = exists().where(
        later.c.flow_id == calls.c.flow_id, later.c.caller == calls.c.caller,
        later.c.started_at > calls.c.started_at,
    )
    texted_since = exists().where(
        replies.c.line == calls.c.line, replies.c.caller == calls.c.caller,
        replies.c.received_at >= calls.c.started_at,
    )
    unreachable = exists().where(
        messages.c.call_sid == calls.c.call_sid, messages.c.reason.in_(UNREACHABLE)
    )
    return [
        calls.c.state == "ended", calls.c.answered.is_(False), calls.c.caller.like("+%"),
        ~newer_call, ~texted_since, ~unreachable,
    ]


def _after(cursor: str | None) -> list[ColumnElement[bool]]:
    """Keyset paging: calls older than the cursor `ISO-time~CallSid`."""
    if not cursor or "~" not in cursor:
        return []
    moment, _, sid = cursor.partition("~")
    try:
        at = aware(datetime.fromisoformat(moment)).astimezone(UTC)
    except ValueError:
        return []
    return [or_(calls.c.started_at < at, and_(calls.c.started_at == at, calls.c.call_sid < sid))]


def _cursor(row: Row) -> str:
    return f"{row.started_at.astimezone(UTC).isoformat()}~{row.call_sid}"


def _row(record: Any) -> Row:
    return Row(
        call_sid=record.call_sid, flow_id=record.flow_id, line=record.line,
        caller=record.caller, started_at=aware(record.started_at), trigger=record.trigger,
        answered=record.answered, state=record.state, duration=record.duration,
        recording=bool(record.recording_url),
    )


def _add_details(connection: Connection, rows: Sequence[Row]) -> None:
    """Texts, dial outcomes and replies of the calls on one page: three small queries."""
    by_sid = {row.call_sid: row for row in rows}
    if not by_sid:
        return
    texts = select(messages).where(messages.c.call_sid.in_(by_sid)).order_by(messages.c.id)
    for text in connection.execute(texts):
        by_sid[text.call_sid].texts.append(dict(text._mapping))
    dials = select(call_events.c.call_sid, call_events.c.params).where(
        call_events.c.call_sid.in_(by_sid), call_events.c.kind == "dial"
    ).order_by(call_events.c.id)
    for event in connection.execute(dials):
        by_sid[event.call_sid].dial = json.loads(event.params).get("DialCallStatus")
    for sid, body in connection.execute(_first_replies(list(by_sid))):
        by_sid[sid].reply = body


def _first_replies(sids: list[str]) -> Any:
    """For each call, the first text its caller sent the line before calling again."""
    later = calls.alias("later")
    next_call = (
        select(func.min(later.c.started_at))
        .where(later.c.flow_id == calls.c.flow_id, later.c.caller == calls.c.caller,
               later.c.started_at > calls.c.started_at)
        .scalar_subquery()
    )
    first = (
        select(replies.c.body)
        .where(replies.c.line == calls.c.line, replies.c.caller == calls.c.caller,
               replies.c.received_at >= calls.c.started_at,
               or_(next_call.is_(None), replies.c.received_at < next_call))
        .order_by(replies.c.received_at, replies.c.id).limit(1)
        .scalar_subquery()
    )
    return select(calls.c.call_sid, first).where(calls.c.call_sid.in_(sids), first.is_not(None))


# --- one caller --------------------------------------------------------------------


@dataclass
class History:
    """Everything with one caller on one line, oldest first."""

    calls: list[dict[str, Any]]
    replies: list[dict[str, Any]]

    def timeline(self) -> list[tuple[datetime, str, dict[str, Any]]]:
        """Calls (with their texts inside) and replies, merged in time order."""
        entries = [(call["started_at"], "call", call) for call in self.calls]
        entries += [(reply["received_at"], "reply", reply) for reply in self.replies]
        return sorted(entries, key=lambda entry: (entry[0], entry[1]))


def caller_history(connection: Connection, line: Line, caller: str) -> History:
    """Every call, text (with its receipts) and reply between `caller` and `line`."""
    found = connection.execute(
        select(calls).where(calls.c.flow_id == line.id, calls.c.caller == caller)
        .order_by(calls.c.started_at, calls.c.call_sid)
    )
    records = [{**record._mapping, "started_at": aware(record.started_at),
                "texts": [], "events": []} for record in found]
    by_sid = {record["call_sid"]: record for record in records}
    _texts_into(connection, by_sid)
    _events_into(connection, by_sid)
    numbers = set(line.numbers) | {record["line"] for record in records}
    said = connection.execute(
        select(replies).where(replies.c.line.in_(numbers), replies.c.caller == caller)
        .order_by(replies.c.received_at, replies.c.id)
    )
    texts = [{**row._mapping, "received_at": aware(row.received_at)} for row in said]
    return History(records, texts)


def _texts_into(connection: Connection, by_sid: dict[str, dict[str, Any]]) -> None:
    found = connection.execute(
        select(messages).where(messages.c.call_sid.in_(by_sid)).order_by(messages.c.id)
    )
    texts = {row.id: {**row._mapping, "receipts": []} for row in found}
    receipts = connection.execute(
        select(message_events).where(message_events.c.message_id.in_(texts))
        .order_by(message_events.c.id)
    )
    for receipt in receipts:
        texts[receipt.message_id]["receipts"].append(dict(receipt._mapping))
    for text in texts.values():
        by_sid[text["call_sid"]]["texts"].append(text)


def _events_into(connection: Connection, by_sid: dict[str, dict[str, Any]]) -> None:
    found = connection.execute(
        select(call_events.c.call_sid, call_events.c.kind, call_events.c.params)
        .where(call_events.c.call_sid.in_(by_sid), call_events.c.kind.in_(("dial", "recording")))
        .order_by(call_events.c.id)
    )
    for event in found:
        params = json.loads(event.params)
        by_sid[event.call_sid]["events"].append({"kind": event.kind, "params": params})
