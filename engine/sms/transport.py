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

import logging
import secrets
from dataclasses import dataclass
from typing import Final, Literal, Protocol

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError

__all__ = ["DryRun", "Outcome", "Transport", "TwilioTransport"]

# twilio's HTTP client logs every request in eight INFO lines; the outbox logs one line
# per text itself, with the number masked, so the client only speaks up on warnings.
_CLIENT_LOG: Final = logging.getLogger("ringback.sms.twilio")
_CLIENT_LOG.setLevel(logging.WARNING)

# Twilio's own error codes have five digits; twilio-python puts the HTTP status in
# `code` when the body carried none (a proxy's HTML 502, say).
_LOWEST_TWILIO_CODE: Final = 10000


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

    def __init__(
        self, account_sid: str, auth_token: str, api_base: str, timeout: float = 10
    ) -> None:
        http = TwilioHttpClient(timeout=timeout, logger=_CLIENT_LOG)
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
    """Sort an error answer: 429 and 5xx are worth another try, the rest is final.

    HTTP 429 (Twilio's 20429) and server errors mean nothing was accepted; a 4xx with a
    code (21211 invalid number, 21610 unsubscribed, 21612, 21614, 21635 …) will be the
    same answer every time.
    """
    code = exc.code if isinstance(exc.code, int) and exc.code >= _LOWEST_TWILIO_CODE else None
    detail = f"HTTP {exc.status}" + (f" error {code}" if code else "") + f": {exc.msg}"
    if exc.status == 429 or exc.status >= 500:
        return Outcome("retry", error_code=code, detail=detail)
    return Outcome("failed", error_code=code, detail=detail)


def _network(exc: Exception) -> Outcome:
    """A connection that never opened sent nothing; one that broke after sending may have.

    requests wraps urllib3's failure to connect (refused, no such host, connect timeout)
    as a ConnectTimeoutError reason; a dropped connection or a read timeout comes after
    Twilio may have read the whole request.
    """
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(exc, requests.ConnectTimeout) or isinstance(reason, ConnectTimeoutError):
        return Outcome("retry", detail=f"could not connect: {exc}")
    return Outcome("unknown", detail=f"no answer after sending: {type(exc).__name__}")
