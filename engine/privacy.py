"""Personal data as the law expects: retention, one caller's export, and erasure.

The store holds callers' numbers, what they texted and where their voicemails are. This
module decides what leaves it and when:

- **retention**: calls, their events, texts and replies older than
  `RINGBACK_RETENTION_DAYS` (default 365) are deleted by the engine itself, at start and
  then every hour (`Retention`), with the voicemails Twilio keeps for those calls;
- **export**: everything kept about one caller, as one JSON-ready dict (`export`);
- **erasure**: everything kept about one caller, everywhere, deleted (`forget`), except
  the opt-outs: a person who replied STOP is kept on that list so they are never texted
  again.

A voicemail lives at Twilio; deleting it there comes first, so a row is never dropped
while its recording survives out of sight. A recording Twilio could not delete keeps its
call for the next sweep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, delete, or_, select

from engine.phone import PhoneNumberError, to_e164
from engine.settings import Settings
from engine.store import (
    Store,
    StoreUnavailable,
    call_events,
    calls,
    landlines,
    message_events,
    messages,
    opt_outs,
    replies,
    utcnow,
)

__all__ = [
    "Erased", "Recordings", "Retention", "caller_forms", "export", "forget", "sweep",
    "twilio_resource",
]

log = logging.getLogger("ringback.privacy")

SWEEP_EVERY = 3600.0
TWILIO_API = "https://api.twilio.com"
# Tables that hold nothing about a caller, or that forget keeps on purpose.
KEPT_TABLES = frozenset({"opt_outs"})


@dataclass
class Erased:
    """How many rows (and recordings) one sweep or one `forget` removed."""

    calls: int = 0
    call_events: int = 0
    messages: int = 0
    message_events: int = 0
    replies: int = 0
    landlines: int = 0
    recordings: int = 0
    kept_recordings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "kept_recordings"}


class Recordings:
    """Deletes voicemails at Twilio (`DELETE …/Recordings/RE….json`)."""

    def __init__(self, settings: Settings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.client = client

    def delete(self, url: str) -> bool:
        """Delete one recording; True when it is gone (or was never Twilio's to keep).

        Without Twilio credentials (dry-run mode) there is nothing the engine can delete:
        the URL is forgotten, with a warning.
        """
        resource = twilio_resource(url, self.settings.api_base)
        target = f"{resource}.json" if resource else None
        if target is None or not self.settings.sends_texts:
            log.warning("A voicemail at %s is forgotten but cannot be deleted here.", url)
            return True
        auth = (self.settings.account_sid or "", self.settings.auth_token or "")
        try:
            response = self._client().delete(target, auth=auth, timeout=10)
        except httpx.HTTPError as exc:
            log.warning("Twilio did not delete the voicemail %s: %s.", url, exc)
            return False
        if response.status_code in (200, 204, 404):
            return True
        log.warning("Twilio answered %d deleting the voicemail %s.", response.status_code, url)
        return False

    def _client(self) -> httpx.Client:
        if self.client is None:
            self.client = httpx.Client()
        return self.client


def twilio_resource(url: str, api_base: str) -> str | None:
    """A URL Twilio gave (a recording's) → the same resource on TWILIO_API_BASE.

    None for a URL that is not Twilio's: the engine fetches and deletes only there.
    "https://api.twilio.com/2010-04-01/Accounts/AC…/Recordings/RE….mp3" with the default
    base → "https://api.twilio.com/2010-04-01/Accounts/AC…/Recordings/RE…".
    """
    base = api_base.rstrip("/")
    for known in (TWILIO_API, base):
        if url.startswith(known + "/"):
            path = url[len(known):]
            for suffix in (".json", ".wav", ".mp3"):
                path = path.removesuffix(suffix)
            return base + path
    return None


# --- one caller --------------------------------------------------------------------


def caller_forms(number: str) -> list[str]:
    """The forms a caller's number may be stored in: as given and in E.164.

    "+48 601 111 222" → ["+48 601 111 222", "+48601111222"]; "Anonymous" → ["Anonymous"].
    """
    forms = [number.strip()]
    try:
        forms.append(to_e164(number, None))
    except PhoneNumberError:
        pass
    return list(dict.fromkeys(form for form in forms if form))


def export(store: Store, number: str) -> dict[str, Any]:
    """Everything the store keeps about one caller, on every line, oldest first."""
    forms = caller_forms(number)
    with store.engine.connect() as connection:
        sids = _call_sids(connection, forms)
        texts = _rows(connection, select(messages).where(_messages_of(forms, sids)))
        ids = [text["id"] for text in texts]
        return {
            "caller": forms[-1],
            "exported_at": utcnow().isoformat(),
            "calls": _rows(connection, select(calls).where(calls.c.call_sid.in_(sids))),
            "call_events": _rows(
                connection, select(call_events).where(call_events.c.call_sid.in_(sids))
            ),
            "messages": texts,
            "message_events": _rows(
                connection, select(message_events).where(message_events.c.message_id.in_(ids))
            ),
            "replies": _rows(connection, select(replies).where(replies.c.caller.in_(forms))),
            "opt_outs": _rows(connection, select(opt_outs).where(opt_outs.c.number.in_(forms))),
            "landlines": _rows(
                connection, select(landlines).where(landlines.c.number.in_(forms))
            ),
        }


def forget(store: Store, number: str, recordings: Recordings) -> Erased:
    """Erase one caller everywhere but the opt-out list; what was erased.

    Raises `RuntimeError` (before erasing any row) when Twilio did not delete one of the
    caller's voicemails: run it again once Twilio answers.
    """
    forms = caller_forms(number)
    with store.engine.connect() as connection:
        sids = _call_sids(connection, forms)
        urls = _recording_urls(connection, sids)
    erased = Erased()
    for url in urls:
        if not recordings.delete(url):
            raise RuntimeError(f"Twilio did not delete the voicemail {url}; nothing was erased")
        erased.recordings += 1
    with store.engine.begin() as connection:
        _erase_calls(connection, sids, erased, extra=_messages_of(forms, sids))
        erased.replies = _count(connection.execute(delete(replies).where(
            replies.c.caller.in_(forms))))
        erased.landlines = _count(connection.execute(delete(landlines).where(
            landlines.c.number.in_(forms))))
    return erased


def _call_sids(connection: Connection, forms: Sequence[str]) -> list[str]:
    query = select(calls.c.call_sid).where(calls.c.caller.in_(forms))
    return [row.call_sid for row in connection.execute(query)]


def _messages_of(forms: Sequence[str], sids: Sequence[str]) -> Any:
    return or_(messages.c.to_number.in_(forms), messages.c.call_sid.in_(sids))


def _recording_urls(connection: Connection, sids: Sequence[str]) -> list[str]:
    query = select(calls.c.recording_url).where(
        calls.c.call_sid.in_(sids), calls.c.recording_url.is_not(None)
    )
    return [row.recording_url for row in connection.execute(query)]


def _rows(connection: Connection, query: Any) -> list[dict[str, Any]]:
    return [
        {key: _plain(value) for key, value in row._mapping.items()}
        for row in connection.execute(query)
    ]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


def _erase_calls(
    connection: Connection, sids: Sequence[str], erased: Erased, extra: Any = None
) -> None:
    """Delete these calls with their events, their texts and the texts' receipts."""
    chosen = messages.c.call_sid.in_(sids) if extra is None else extra
    found = connection.execute(select(messages.c.id, messages.c.provider_sid).where(chosen))
    ids, provider_sids = _split(found)
    erased.message_events += _count(connection.execute(delete(message_events).where(
        or_(message_events.c.message_id.in_(ids),
            message_events.c.message_sid.in_(provider_sids)))))
    erased.messages += _count(connection.execute(delete(messages).where(messages.c.id.in_(ids))))
    erased.call_events += _count(connection.execute(delete(call_events).where(
        call_events.c.call_sid.in_(sids))))
    erased.calls += _count(connection.execute(delete(calls).where(calls.c.call_sid.in_(sids))))


def _split(rows: Iterable[Any]) -> tuple[list[int], list[str]]:
    ids: list[int] = []
    provider_sids: list[str] = []
    for row in rows:
        ids.append(row.id)
        if row.provider_sid:
            provider_sids.append(row.provider_sid)
    return ids, provider_sids


# --- retention ---------------------------------------------------------------------


def sweep(store: Store, days: int, recordings: Recordings, now: datetime | None = None) -> Erased:
    """Delete what is older than `days`: calls (with their voicemails), texts, replies.

    A call whose voicemail Twilio did not delete stays until a later sweep.
    """
    cutoff = (now or utcnow()) - timedelta(days=days)
    erased = Erased()
    with store.engine.connect() as connection:
        old = connection.execute(
            select(calls.c.call_sid, calls.c.recording_url).where(calls.c.started_at < cutoff)
        ).all()
    sids = [row.call_sid for row in old if _recording_gone(row.recording_url, recordings, erased)]
    with store.engine.begin() as connection:
        for chunk in _chunks(sids, 500):
            _erase_calls(connection, chunk, erased)
        _erase_loose(connection, cutoff, erased)
    return erased


def _recording_gone(url: str | None, recordings: Recordings, erased: Erased) -> bool:
    if url is None:
        return True
    if recordings.delete(url):
        erased.recordings += 1
        return True
    erased.kept_recordings.append(url)
    return False


def _erase_loose(connection: Connection, cutoff: datetime, erased: Erased) -> None:
    """Old texts without a call, old replies, and old receipts Twilio sent for no text."""
    loose = connection.execute(
        select(messages.c.id, messages.c.provider_sid).where(messages.c.created_at < cutoff)
    )
    ids, _ = _split(loose)
    for chunk in _chunks(ids, 500):
        erased.message_events += _count(connection.execute(
            delete(message_events).where(message_events.c.message_id.in_(chunk))))
        erased.messages += _count(connection.execute(
            delete(messages).where(messages.c.id.in_(chunk))))
    erased.message_events += _count(connection.execute(delete(message_events).where(
        message_events.c.message_id.is_(None), message_events.c.received_at < cutoff)))
    erased.replies += _count(connection.execute(
        delete(replies).where(replies.c.received_at < cutoff)))


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Retention:
    """The engine's own sweeper: once at start, then every `SWEEP_EVERY` seconds."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.days = settings.retention_days
        self.recordings = Recordings(settings)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Sweep now (the engine serves once it is done), then keep sweeping."""
        await self._sweep_once()
        self._task = asyncio.get_running_loop().create_task(self._every())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            await self._sweep_once()

    async def _sweep_once(self) -> None:
        try:
            erased = await asyncio.to_thread(sweep, self.store, self.days, self.recordings)
        except StoreUnavailable:
            log.warning("The retention sweep could not reach the store; it runs again later.")
            return
        except Exception:
            log.exception("The retention sweep failed; it runs again later.")
            return
        if erased.calls or erased.messages or erased.replies:
            log.info(
                "Retention (%d days): deleted %d calls, %d texts, %d replies, %d voicemails.",
                self.days, erased.calls, erased.messages, erased.replies, erased.recordings,
            )
