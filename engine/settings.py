"""The engine's settings: environment variables, each overridable by a command-line flag.

| variable | default |
| --- | --- |
| RINGBACK_FLOWS | ./flows |
| RINGBACK_GREETINGS | ./greetings |
| RINGBACK_DB | sqlite:///ringback.db |
| PUBLIC_URL | none |
| TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN | none (unsigned local mode, dry-run texts) |
| TWILIO_API_BASE | https://api.twilio.com |
| FORWARDED_ALLOW_IPS | 127.0.0.1 (proxies whose X-Forwarded-* headers are believed) |
| RINGBACK_DASHBOARD_PASSWORD, RINGBACK_DASHBOARD_USERS | none (the dashboard is off) |
| RINGBACK_DASHBOARD_SECRET | none (a random key: sessions end when the engine stops) |
| RINGBACK_RETENTION_DAYS | 365 |
| RINGBACK_OUTBOX_LEASE | 60 (seconds an engine holds a text before another may take it) |
| RINGBACK_DB_POOL | 10 (connections to PostgreSQL per engine, and as many again at a peak) |
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from engine.errors import ConfigError

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    flows: Path = Path("flows")
    greetings: Path = Path("greetings")
    db: str = "sqlite:///ringback.db"
    public_url: str | None = None
    account_sid: str | None = None
    auth_token: str | None = None
    api_base: str = "https://api.twilio.com"
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1",)
    watch: bool = True
    dashboard_password: str | None = None
    dashboard_users: str | None = None  # "name:password, name:password"
    dashboard_secret: str | None = None
    retention_days: int = 365
    outbox_lease: float = 60.0
    db_pool: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """Settings from the environment, then from flags that are not None."""
        env = os.environ if env is None else env
        settings = cls(
            flows=Path(env.get("RINGBACK_FLOWS", "flows")),
            greetings=Path(env.get("RINGBACK_GREETINGS", "greetings")),
            db=env.get("RINGBACK_DB", "sqlite:///ringback.db"),
            public_url=env.get("PUBLIC_URL") or None,
            account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
            auth_token=env.get("TWILIO_AUTH_TOKEN") or None,
            api_base=env.get("TWILIO_API_BASE") or "https://api.twilio.com",
            forwarded_allow_ips=_addresses(env.get("FORWARDED_ALLOW_IPS", "127.0.0.1")),
            dashboard_password=env.get("RINGBACK_DASHBOARD_PASSWORD") or None,
            dashboard_users=env.get("RINGBACK_DASHBOARD_USERS") or None,
            dashboard_secret=env.get("RINGBACK_DASHBOARD_SECRET") or None,
            retention_days=_days(env.get("RINGBACK_RETENTION_DAYS") or "365"),
            outbox_lease=_seconds(env.get("RINGBACK_OUTBOX_LEASE") or "60"),
            db_pool=_pool(env.get("RINGBACK_DB_POOL") or "10"),
        )
        if isinstance(flags.get("forwarded_allow_ips"), str):
            flags["forwarded_allow_ips"] = _addresses(flags["forwarded_allow_ips"])
        given = {key: value for key, value in flags.items() if value is not None}
        return replace(settings, **given).checked()

    def trusts(self, peer: str | None) -> bool:
        """Whether a direct peer is a proxy whose X-Forwarded-* headers count."""
        if peer is None:
            return False
        for allowed in self.forwarded_allow_ips:
            if allowed == "*":
                return True
            try:
                if ipaddress.ip_address(peer) in ipaddress.ip_network(allowed, strict=False):
                    return True
            except ValueError:
                if peer == allowed:
                    return True
        return False

    def checked(self) -> Settings:
        """These settings, or a ConfigError that says in one line which one and the fix."""
        if self.public_url and not self.public_url.startswith(("https://", "http://")):
            raise ConfigError(
                f"PUBLIC_URL must start with https:// (or http://), got {self.public_url!r}"
            )
        try:
            make_url(self.db)
        except ArgumentError:
            raise ConfigError(
                f"RINGBACK_DB must be a SQLAlchemy URL such as sqlite:///ringback.db or "
                f"postgresql+psycopg://user@host/db, got {self.db!r}"
            ) from None
        for allowed in self.forwarded_allow_ips:
            if allowed != "*" and not _network(allowed):
                raise ConfigError(
                    "FORWARDED_ALLOW_IPS must list addresses or networks (127.0.0.1, "
                    f"10.0.0.0/8) or *, got {allowed!r}"
                )
        return replace(self, public_url=self.public_url.rstrip("/") if self.public_url else None)

    @property
    def dashboard(self) -> bool:
        """Whether `/dashboard` is served: only with a password or a list of users."""
        return bool(self.dashboard_password or self.dashboard_users)

    @property
    def signed(self) -> bool:
        """Whether webhooks must carry a valid X-Twilio-Signature."""
        return self.auth_token is not None

    @property
    def sends_texts(self) -> bool:
        """Whether texts go out through Twilio (else they are recorded in dry-run mode)."""
        return self.account_sid is not None and self.auth_token is not None


def _addresses(text: str) -> tuple[str, ...]:
    """`"127.0.0.1, 10.0.0.0/8"` → `("127.0.0.1", "10.0.0.0/8")`."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _days(value: str) -> int:
    """RINGBACK_RETENTION_DAYS as a number of days, at least 1."""
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(
            f"RINGBACK_RETENTION_DAYS must be a whole number of days, 1 or more, got {value!r}"
        )
    return int(value)


def _seconds(value: str) -> float:
    """RINGBACK_OUTBOX_LEASE in seconds: more than a request to Twilio may take."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if seconds < 1:
        raise ConfigError(
            f"RINGBACK_OUTBOX_LEASE must be a number of seconds, 1 or more, got {value!r}"
        )
    return seconds


def _pool(value: str) -> int:
    """RINGBACK_DB_POOL as a number of connections, at least 1."""
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(f"RINGBACK_DB_POOL must be a whole number, 1 or more, got {value!r}")
    return int(value)


def _network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True
