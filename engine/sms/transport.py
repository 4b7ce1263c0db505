"""How a text leaves the engine: through Twilio's Messages API, or nowhere (dry run).

Both transports answer one `Outcome` per attempt, already sorted into what the outbox
must do next:

- `sent`: the provider accepted the message (its id is kept);
- `retry`: nothing was accepted and trying again is safe (HTTP 429, a server error, a
  connection that never opened);
- `failed`: a permanent refusal, with Twilio's error code (21211, 21610, 21614 …);
- `unknown`: the request may have reached Twilio but no answer came back; sending again
  could text the caller twice, so the outbox records it and does not resend.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal, Protocol

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

__all__ = ["DryRun", "Outcome", "Transport", "TwilioTransport"]


@dataclass(frozen=True)
class Outcome:
    status: Literal["sent", "retry", "failed", "unknown"]
    provider_sid: str | None = None
    error_code: int | None = None
    detail: str = ""


class Transport(Protocol):
    name: str

    def send(self, to: str, sender: str, body: str, status_callback: str | None) -> Outcome:
        """Hand one text to the provider."""
        ...


class DryRun:
    """Texts are recorded as sent and written to the log; nothing leaves the machine."""

    name = "dry-run"

    def send(self, to: str, sender: str, body: str, status_callback: str | None) -> Outcome:
        return Outcome("sent", provider_sid="SM" + secrets.token_hex(16), detail="dry run")


class TwilioTransport:
    """The real twilio `Client`, pointed at `api_base` (Twilio's, or a compatible one)."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, api_base: str, timeout: float = 10) -> None:
        http = TwilioHttpClient(timeout=timeout)
        self.client = Client(account_sid, auth_token, http_client=http)
        self.client.api.base_url = api_base.rstrip("/")

    def send(self, to: str, sender: str, body: str, status_callback: str | None) -> Outcome:
        try:
            message = self.client.messages.create(
                to=to, from_=sender, body=body, status_callback=status_callback
            )
        except TwilioRestException as exc:
            return _refusal(exc)
        except (requests.ConnectionError, requests.Timeout) as exc:
            return _network(exc)
        return Outcome("sent", provider_sid=message.sid)


def _refusal(exc: TwilioRestException) -> Outcome:
    code = exc.code if isinstance(exc.code, int) else None
    if exc.status == 429 or exc.status >= 500:
        return Outcome("retry", error_code=code, detail=f"HTTP {exc.status}: {exc.msg}")
    return Outcome("failed", error_code=code, detail=f"HTTP {exc.status}: {exc.msg}")


def _network(exc: Exception) -> Outcome:
    # A connection that never opened sent nothing; a timeout after sending may have.
    if isinstance(exc, requests.ConnectTimeout) or (
        isinstance(exc, requests.ConnectionError)
        and not isinstance(exc, requests.ReadTimeout)
        and "Connection refused" in str(exc)
    ):
        return Outcome("retry", detail=f"could not connect: {exc}")
    return Outcome("unknown", detail=f"no answer after sending: {exc}")
