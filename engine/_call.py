"""The record of one simulated call, and the wire the simulator talks to the engine on.

`Script` is what the simulation plays (the caller, the business phone's outcome, when the
caller hangs up, the keys pressed); `Call` is what happened, `as_json()` being the spec's
`--json` object; `Wire` posts webhooks signed as Twilio signs them (`X-Twilio-Signature`,
HMAC-SHA1 of the URL and the sorted form: reference §3) and keeps every request.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from twilio.request_validator import RequestValidator

from engine.errors import RingbackError

__all__ = ["Call", "CallerGone", "Document", "Moment", "Script", "SimulationError", "Wire"]


class SimulationError(RingbackError):
    """The engine answered something Twilio could not carry out, or did not answer."""


class CallerGone(Exception):
    """The caller hung up; the session's clock says when."""


@dataclass(frozen=True)
class Script:
    """The caller and the business phone, as the simulation plays them."""

    caller: str
    line: str
    at: datetime | None = None
    outcome: str = "no-answer"
    hangup_after: float | None = None
    digits: tuple[str, ...] = ()


@dataclass(frozen=True)
class Moment:
    """One line of the story: seconds into the call, who, what, and the flow file's line."""

    at: float
    who: str
    what: str
    line: int | None = None


@dataclass
class Call:
    """What happened on one simulated call; `as_json()` is the spec's `--json` shape."""

    flow: str
    call_sid: str
    started: datetime
    path: str = ""
    caller: str = ""
    trigger: str = ""
    heard: list[dict[str, Any]] = field(default_factory=list)
    dialed: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, Any]] = field(default_factory=list)
    sms_lines: list[int | None] = field(default_factory=list)
    ended_by: str = "engine"
    timeline: list[Moment] = field(default_factory=list)
    duration: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow, "call_sid": self.call_sid, "trigger": self.trigger,
            "heard": self.heard, "dialed": self.dialed, "requests": self.requests,
            "sms": self.sms, "ended_by": self.ended_by,
        }


@dataclass(frozen=True)
class Document:
    """A TwiML document and the URL it came from (relative URLs resolve against it)."""

    url: str
    root: ET.Element


class Wire:
    """Requests to the engine, signed as Twilio signs them, and the record of each."""

    def __init__(
        self, client: httpx.AsyncClient, base: str, token: str | None,
        public: str | None = None, reader: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        self.client = client
        self.base = base.rstrip("/")
        self.validator = RequestValidator(token) if token else None
        self.public = public.rstrip("/") if public else None
        self.requests: list[dict[str, Any]] = []
        self.reader = reader

    def absolute(self, url: str, against: str | None = None) -> str:
        return urljoin(against or self.base + "/", url)

    async def send(
        self, url: str, params: dict[str, str], method: str = "POST", *, record: bool = True,
    ) -> httpx.Response:
        """POST (or GET) `params` to `url` with `X-Twilio-Signature`, as Twilio does."""
        if method.upper() == "GET":
            url = str(httpx.URL(url).copy_merge_params(params))
            params = {}
        headers = {}
        if self.validator is not None:
            signature = self.validator.compute_signature(self._signed_url(url), params)
            headers["X-Twilio-Signature"] = signature
        try:
            response = await self.client.request(
                method.upper(), url, data=params or None, headers=headers
            )
        except httpx.HTTPError as exc:
            raise SimulationError(f"{url} did not answer: {exc}") from None
        if record:
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            self.requests.append({"path": path, "params": dict(params), "twiml": response.text})
        return response

    def _signed_url(self, url: str) -> str:
        """The URL the engine checks the signature against: PUBLIC_URL's, when it has one."""
        if self.public and url.startswith(self.base):
            return self.public + url[len(self.base):]
        return url

    async def report(self, call_sid: str) -> dict[str, Any] | None:
        """The engine's record of the call (`POST /voice/report`); None if it has none.

        An engine in this process is read directly (`reader`), sparing a request.
        """
        if self.reader is not None:
            return self.reader(call_sid)
        response = await self.send(
            self.absolute("/voice/report"), {"CallSid": call_sid}, record=False
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SimulationError(
                f"/voice/report answered HTTP {response.status_code}: {response.text[:200]}"
            )
        return response.json()  # type: ignore[no-any-return]
