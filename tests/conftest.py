"""Shared fixtures: a real engine under uvicorn on loopback, and a signer playing Twilio."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from twilio.request_validator import RequestValidator

from engine.server import create_app
from engine.settings import Settings
from engine.store import Store
from tests.databases import fresh_databases
from tests.twilio_standin import MessagesApi

REPO = Path(__file__).resolve().parent.parent
TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2


@dataclass
class Running:
    """An engine listening on loopback, and how to talk to it as Twilio would."""

    url: str
    app: object
    store: Store
    token: str | None

    def post(
        self, path: str, params: dict[str, str], *, signature: str | None = None
    ) -> httpx.Response:
        """POST a form as Twilio does, signed with the token unless a signature is given."""
        url = self.url + path
        if signature is None and self.token:
            signature = RequestValidator(self.token).compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        return httpx.post(url, data=params, headers=headers, timeout=10)

    def wait_for(self, predicate: object, timeout: float = 5.0) -> None:
        """Wait until the engine's background work makes `predicate()` true."""
        deadline = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise AssertionError("the engine did not get there in time")
            time.sleep(0.02)


def start_uvicorn(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Run an ASGI app under uvicorn on a free loopback port, in a thread."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped while starting"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


def stop_uvicorn(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def new_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """`new_db()`: the URL of a fresh, empty store on the database under test
    (tests/databases.py: SQLite, or PostgreSQL with RINGBACK_TEST_DB)."""
    yield from fresh_databases(tmp_path, monkeypatch)


@pytest.fixture
def serve(new_db: Callable[..., str]) -> Iterator[object]:
    """Start engines on loopback with the given settings; stop them after the test."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(token: str | None = TOKEN, flows: Path | None = None, **more: Any) -> Running:
        values: dict[str, Any] = {
            "flows": flows or REPO / "flows",
            "greetings": REPO / "greetings",
            "db": new_db(f"engine{len(servers)}"),
            "auth_token": token,
            "watch": flows is not None,
            **more,
        }
        settings = Settings(**values)
        store = Store(settings.db)
        app = create_app(settings, store=store)
        server, thread, url = start_uvicorn(app)
        servers.append((server, thread))
        return Running(url, app, store, token)

    yield start
    for server, thread in servers:
        stop_uvicorn(server, thread)


@pytest.fixture
def messages_api() -> Iterator[MessagesApi]:
    """Twilio's Messages API on loopback (tests/twilio_standin.py), for the account below.

    Fails the test if the engine sent a request Twilio would find wrong.
    """
    api = MessagesApi(ACCOUNT_SID, TOKEN).start()
    yield api
    api.stop()
    assert not api.problems, api.problems
