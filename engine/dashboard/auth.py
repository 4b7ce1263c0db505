"""Who may see the dashboard: users, the session cookie, CSRF tokens and login throttling.

- **Users** come from `RINGBACK_DASHBOARD_PASSWORD` (one user, `owner`) and
  `RINGBACK_DASHBOARD_USERS` (`"alice:secret, bob:other"`). Passwords are compared in
  constant time, on their SHA-256 digests so their lengths do not show either.
- **The session** is Starlette's signed cookie (itsdangerous), scoped to `/dashboard`,
  `HttpOnly`, `SameSite=Lax`, and `Secure` whenever the engine is reached over https
  (PUBLIC_URL, or the request as forwarded by a trusted proxy). It holds the user's name
  and a CSRF token, nothing else.
- **CSRF**: every form carries the session's token; a POST without it, or from another
  origin, is refused.
- **Throttling**: five wrong passwords in a row from one address (or for one user name)
  and further attempts are refused for 30 seconds, doubling with each further failure up
  to 15 minutes. A success clears the count. It is kept in the process's memory.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["SESSION_COOKIE", "Sessions", "Throttle", "Users", "csrf_token", "valid_csrf"]

SESSION_COOKIE = "ringback_session"
SESSION_AGE = 12 * 3600
FREE_TRIES = 5
FIRST_WAIT = 30.0
LONGEST_WAIT = 15 * 60.0


class Users:
    """The people who may log in, and their passwords."""

    def __init__(self, passwords: Mapping[str, str]) -> None:
        self._digests = {name: _digest(password) for name, password in passwords.items()}

    @classmethod
    def from_settings(cls, password: str | None, users: str | None) -> Users:
        """`"alice:secret, bob:other"` (and the single password, as `owner`)."""
        found = {"owner": password} if password else {}
        for entry in (users or "").split(","):
            name, colon, secret = entry.strip().partition(":")
            if colon and name.strip() and secret:
                found[name.strip()] = secret
        return cls(found)

    @property
    def named(self) -> bool:
        """Whether the login form asks for a name (more than the one `owner`)."""
        return set(self._digests) != {"owner"}

    def check(self, name: str, password: str) -> bool:
        """Whether `password` is `name`'s, taking the same time for any name."""
        expected = self._digests.get(name or "owner", _digest(secrets.token_hex(16)))
        matches = hmac.compare_digest(expected, _digest(password))
        return matches and (name or "owner") in self._digests


def _digest(password: str) -> bytes:
    return hashlib.sha256(password.encode("utf-8")).digest()


@dataclass
class _Failures:
    count: int = 0
    until: float = 0.0


@dataclass
class Throttle:
    """Consecutive failed logins per key (an address, a user name) and the wait they earn."""

    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, _Failures] = field(default_factory=dict)

    def wait(self, keys: Iterable[str]) -> float:
        """Seconds before any of `keys` may try again; 0 when they may now."""
        now = self.clock()
        return max([0.0, *(self._keys[k].until - now for k in keys if k in self._keys)])

    def failed(self, keys: Iterable[str]) -> None:
        for key in keys:
            entry = self._keys.setdefault(key, _Failures())
            entry.count += 1
            if entry.count >= FREE_TRIES:
                extra = entry.count - FREE_TRIES
                entry.until = self.clock() + min(FIRST_WAIT * 2**extra, LONGEST_WAIT)

    def succeeded(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._keys.pop(key, None)


def csrf_token(session: dict[str, object]) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def valid_csrf(request: Request, given: object, public_base: str = "") -> bool:
    """The form's token matches the session's, and the browser says it came from here.

    "Here" is the request's own host or the engine's public one (`https://calls.example.com`
    behind a proxy that rewrites Host).
    """
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not isinstance(given, str):
        return False
    origin = request.headers.get("origin")
    hosts = {request.headers.get("host"), public_base.split("//")[-1]}
    if origin and origin != "null" and origin.split("//")[-1] not in hosts:
        return False
    return hmac.compare_digest(expected, given)


class Sessions:
    """Starlette's session cookie, `Secure` when the request came over https."""

    def __init__(self, app: ASGIApp, secret: str, https: Callable[[Request], bool]) -> None:
        options = {
            "secret_key": secret, "session_cookie": SESSION_COOKIE, "max_age": SESSION_AGE,
            "path": "/dashboard", "same_site": "lax",
        }
        self._plain = SessionMiddleware(app, https_only=False, **options)  # type: ignore[arg-type]
        self._secure = SessionMiddleware(app, https_only=True, **options)  # type: ignore[arg-type]
        self._https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secure = scope["type"] == "http" and self._https(Request(scope))
        await (self._secure if secure else self._plain)(scope, receive, send)
