"""Engines in processes of their own, so that a test can really kill one (SIGKILL).

Each child runs the real app under uvicorn on a socket the test opened (so its address
is known before it starts), texting through a Messages API stand-in. `outbox_delay` is
its first backoff: an hour keeps a text Twilio refused once pending until the kill.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from engine.store import Store
from tests.conftest import ACCOUNT_SID, TOKEN
from tests.texting import PATIENCE, Engine
from tests.twilio_standin import MessagesApi

__all__ = ["EngineProcess", "Process"]

CHILD = textwrap.dedent("""\
    import sys
    from pathlib import Path

    import uvicorn
    from engine.server import create_app
    from engine.settings import Settings

    folder, db, api, sid, token, fd, delay, lease = sys.argv[1:]
    flows = Path(folder)
    settings = Settings(flows=flows, greetings=flows, db=db, auth_token=token,
                        account_sid=sid, api_base=api, watch=False, outbox_lease=float(lease))
    app = create_app(settings, outbox_delay=float(delay))
    uvicorn.run(app, fd=int(fd), log_level="warning", backlog=512)
""")


class Process(Engine):
    """A child engine, played as Twilio plays it."""

    def missed_call_nowait(self, sid: str, caller: str) -> None:
        first = self.call(sid, caller)
        assert self.dial_ended(first, sid, caller).status_code == 200


class EngineProcess:
    """`with`: an engine in a child process on a socket of ours; SIGKILL on the way out."""

    def __init__(
        self, flows: Path, db: str, api: MessagesApi, *, outbox_delay: float = 3600,
        lease: float = 60.0,
    ) -> None:
        self.flows, self.db, self.api = flows, db, api
        self.outbox_delay, self.lease = outbox_delay, lease

    def __enter__(self) -> Process:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(512)
        fd = self.socket.fileno()
        args = [str(self.flows), self.db, self.api.url, ACCOUNT_SID, TOKEN, str(fd),
                str(self.outbox_delay), str(self.lease)]
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, *args], pass_fds=(fd,),
            cwd=Path(__file__).parent.parent, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        httpx.get(url + "/healthz", timeout=PATIENCE).raise_for_status()  # it has started
        return Process(url, None, Store(self.db), self.api)

    def pause(self) -> None:
        """SIGSTOP: the engine stands still, its requests and transactions where they are."""
        self.process.send_signal(signal.SIGSTOP)

    def go_on(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no drain, leases left as they were."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.socket.close()

    def __exit__(self, *exc: object) -> None:
        self.kill()
