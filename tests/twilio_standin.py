"""Twilio's Messages API, stood in on loopback for the engine's real twilio `Client`.

`MessagesApi` is a plain HTTP server on 127.0.0.1 (a free port) answering
`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` the way Twilio does (reference §4,
§7.2): HTTP basic auth with the account SID and auth token (else 401, error 20003),
the form fields `To`, `From`, `Body` (else 400 with Twilio's 21604, 21603 or 21602),
`To` in E.164 (else 21211), and `StatusCallback`, which the engine must always send
(a missing one is noted in `problems`, and the fixture fails the test). A good request
gets `201` and a message resource shaped as Twilio's, status `queued`.

A test scripts the next answers, in order: an error body and status (`Answer.error(429,
20429)`), a slow answer held until `release()` (`Answer(hold=True)`), or a connection
dropped after the request was read (`Answer(drop=True)`). `report()` then plays
Twilio's status callback to the StatusCallback the engine gave, signed with the token.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
from twilio.request_validator import RequestValidator

__all__ = ["Answer", "MessagesApi", "Received"]

E164 = re.compile(r"\+[1-9]\d{6,14}")
MISSING = {"To": 21604, "From": 21603, "Body": 21602}
TITLES = {
    20003: "Authenticate", 20404: "The requested resource was not found",
    20429: "Too Many Requests", 21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.", 21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS.",
    21614: "'To' number is not a valid mobile number",
    21635: "The 'To' number is a landline.",
}


@dataclass(frozen=True)
class Answer:
    """What the stand-in does with one request."""

    status: int = 201
    code: int | None = None
    hold: bool = False
    drop: bool = False

    @classmethod
    def error(cls, status: int, code: int) -> Answer:
        """Twilio's error body `{"code", "message", "more_info", "status"}` with `status`."""
        return cls(status=status, code=code)


@dataclass
class Received:
    """One request that reached the stand-in, and what it was answered."""

    path: str
    authorized: bool
    form: dict[str, str]
    answer: Answer
    sid: str | None = None

    @property
    def accepted(self) -> bool:
        return self.sid is not None


@dataclass
class MessagesApi:
    account_sid: str
    auth_token: str
    received: list[Received] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _script: deque[Answer] = field(default_factory=deque)
    _released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> MessagesApi:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def script(self, *answers: Answer) -> None:
        """Answer the next requests so, in order; after them, 201 again."""
        with self._lock:
            self._script.extend(answers)

    def release(self) -> None:
        """Let held (slow) answers go."""
        self._released.set()

    def accepted(self) -> list[Received]:
        """The requests answered 201: the messages Twilio would send."""
        with self._lock:
            return [request for request in self.received if request.accepted]

    def report(self, request: Received, status: str, error_code: int | None = None) -> int:
        """Post Twilio's status callback for an accepted message; the engine's HTTP status."""
        url = request.form["StatusCallback"]
        params = {
            "AccountSid": self.account_sid, "ApiVersion": "2010-04-01",
            "From": request.form["From"], "To": request.form["To"],
            "MessageSid": request.sid or "", "SmsSid": request.sid or "",
            "MessageStatus": status, "SmsStatus": status,
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        response = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})
        return response.status_code

    # --- serving ----------------------------------------------------------------------

    def _next(self) -> Answer:
        with self._lock:
            return self._script.popleft() if self._script else Answer()

    def _keep(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)

    def _check(self, path: str, authorized: bool, form: dict[str, str]) -> Answer | None:
        """The error Twilio would answer this request with, if any."""
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            self.problems.append(f"unexpected path {path}")
            return Answer.error(404, 20404)
        if not authorized:
            self.problems.append("basic auth missing or wrong")
            return Answer.error(401, 20003)
        for name, code in MISSING.items():
            if not form.get(name):
                self.problems.append(f"{name} missing")
                return Answer.error(400, code)
        if not form.get("StatusCallback"):
            self.problems.append(f"StatusCallback missing for a text to {form['To']}")
        if not E164.fullmatch(form["To"]):
            return Answer.error(400, 21211)
        return None

    def _authorized(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def resource(self, form: dict[str, str], sid: str) -> dict[str, Any]:
        """A message resource as Twilio's API v2010 answers a create."""
        now = format_datetime(datetime.now(UTC), usegmt=False)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"
        return {
            "sid": sid, "account_sid": self.account_sid, "messaging_service_sid": None,
            "body": form["Body"], "num_segments": "1", "num_media": "0",
            "direction": "outbound-api", "from": form["From"], "to": form["To"],
            "status": "queued", "error_code": None, "error_message": None, "price": None,
            "price_unit": "USD", "api_version": "2010-04-01", "date_created": now,
            "date_sent": None, "date_updated": now, "uri": uri,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        }


def _error_body(answer: Answer) -> dict[str, Any]:
    code = answer.code or answer.status
    return {
        "code": code, "message": TITLES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": answer.status,
    }


def _handler(api: MessagesApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode()
            form = {key: values[0] for key, values in parse_qs(raw).items()}
            authorized = api._authorized(self.headers.get("Authorization"))
            answer = api._check(self.path, authorized, form) or api._next()
            request = Received(self.path, authorized, form, answer)
            api._keep(request)
            if answer.drop:
                self.close_connection = True
                return
            if answer.status == 201:
                # Accepted before a slow answer: Twilio sends it even if the client gave up.
                request.sid = "SM" + secrets.token_hex(16)
            if answer.hold:
                api._released.wait(timeout=30)
            if request.sid is not None:
                self._json(201, api.resource(form, request.sid))
            else:
                self._json(answer.status, _error_body(answer))

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `received`, not stderr."""

    return Handler
