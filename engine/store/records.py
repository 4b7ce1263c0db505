"""What the store hands back: frozen records of a call, a text and a reply, and its error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Call", "InboundReply", "Message", "StoreUnavailable", "aware", "to_message", "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class StoreUnavailable(RuntimeError):
    """The database did not answer."""


@dataclass(frozen=True)
class Call:
    call_sid: str
    flow_id: str
    flow_version: str | None
    line: str
    caller: str
    started_at: datetime
    trigger: str
    state: str
    status: str
    busy_known: bool
    answered: bool

    @property
    def ended(self) -> bool:
        return self.state == "ended"


@dataclass(frozen=True)
class Message:
    id: int
    call_sid: str
    step: str
    line: str
    to_number: str
    from_number: str | None
    body: str | None
    encoding: str | None
    segments: int | None
    status: str
    reason: str | None
    error_code: int | None
    attempts: int
    provider_sid: str | None = None
    status_callback: str | None = None


@dataclass(frozen=True)
class InboundReply:
    """A text a caller sent to a line, as `POST /sms` recorded it."""

    id: int
    line: str
    caller: str
    body: str
    kind: str
    answered: bool
    received_at: datetime



def aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they were stored in UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def to_message(row: Any) -> Message:
    return Message(
        id=row.id, call_sid=row.call_sid, step=row.step, line=row.line,
        to_number=row.to_number, from_number=row.from_number, body=row.body,
        encoding=row.encoding, segments=row.segments, status=row.status, reason=row.reason,
        error_code=row.error_code, attempts=row.attempts, provider_sid=row.provider_sid,
        status_callback=row.status_callback,
    )
