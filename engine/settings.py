"""The engine's settings: environment variables, each overridable by a command-line flag.

| variable | default |
| --- | --- |
| RINGBACK_FLOWS | ./flows |
| RINGBACK_GREETINGS | ./greetings |
| RINGBACK_DB | sqlite:///ringback.db |
| PUBLIC_URL | none |
| TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN | none (unsigned local mode, dry-run texts) |
| TWILIO_API_BASE | https://api.twilio.com |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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
        )
        given = {key: value for key, value in flags.items() if value is not None}
        return replace(settings, **given).checked()

    def checked(self) -> Settings:
        if self.public_url and not self.public_url.startswith(("https://", "http://")):
            raise ConfigError(
                f"PUBLIC_URL must start with https:// (or http://), got {self.public_url!r}"
            )
        return replace(self, public_url=self.public_url.rstrip("/") if self.public_url else None)

    @property
    def signed(self) -> bool:
        """Whether webhooks must carry a valid X-Twilio-Signature."""
        return self.auth_token is not None

    @property
    def sends_texts(self) -> bool:
        """Whether texts go out through Twilio (else they are recorded in dry-run mode)."""
        return self.account_sid is not None and self.auth_token is not None
