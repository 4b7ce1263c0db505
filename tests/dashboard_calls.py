"""Twenty simulated calls over three lines, for the dashboard's tests, and what they mean.

Three businesses in three zones (Warsaw, New York, London) take a mix of calls: answered,
busy, missed with a voicemail, failed, out of hours, at the weekend, from landlines and
from withheld numbers. A few texts are then reported delivered by Twilio, and two
callers text back (a question and a STOP). `NEEDS_CALL_BACK` is worked out by hand from
the script below, not from the engine.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from engine.dsl.compiler import compile_file
from engine.server import create_app
from engine.settings import Settings
from engine.simulator import Script, simulate_remote
from engine.store import Store
from tests.conftest import TOKEN, Running, start_uvicorn, stop_uvicorn

REPO = Path(__file__).resolve().parent.parent
WAV = (REPO / "greetings" / "belle-welcome.wav").read_bytes()

FLOWS = {
    "salon": """
line: "+48 22 307 15 00"
business: Salon Belle
region: PL
timezone: Europe/Warsaw
hours: {mon-fri: "09:00-18:00"}
sms:
  sender: SalonBelle
  copy:
    missed: "Salon Belle: sorry we missed you! Book: https://belle.example/book"
    busy: "Salon Belle: we are with a client. Book: https://belle.example/book"
    closed: "Salon Belle: we open {{ opens_at }}. Book: https://belle.example/book"
on:
  open:
    - dial: {to: "601 234 567", timeout: 20}
  busy:
    - sms: busy
  missed:
    - sms: missed
    - voicemail: {max_length: 60}
  out_of_hours:
    - say: "We are closed."
    - sms: closed
""",
    "plumber": """
line: "+1 212 555 0100"
business: Acme Plumbing
region: US
timezone: America/New_York
hours: {mon-fri: "08:00-17:00"}
sms:
  copy:
    missed: "Acme Plumbing missed your call. Tell us the problem: https://acme.example/form"
    closed: "Acme Plumbing is closed. We open {{ opens_at }}."
on:
  open:
    - dial: {to: "+1 212 555 0199", timeout: 15}
  busy:
    - sms: missed
  missed:
    - sms: missed
    - voicemail: {max_length: 60}
  out_of_hours:
    - sms: closed
""",
    "dentist": """
line: "+44 20 7946 0100"
business: Bright Smile Dental
region: GB
timezone: Europe/London
hours: {mon-fri: "09:00-17:00"}
sms:
  send_to: mobile
  copy:
    missed: "Bright Smile: sorry we missed you. Book: https://smile.example"
on:
  open:
    - dial: {to: "+44 20 7946 0199", timeout: 20}
  busy:
    - sms: missed
  missed:
    - sms: missed
  out_of_hours:
    - sms: missed
""",
}


@dataclass(frozen=True)
class Planned:
    flow: str
    caller: str
    days_ago: int
    when: str  # open | evening | saturday
    outcome: str = "no-answer"


CALLS = [
    Planned("salon", "+48601000001", 16, "open", "answer"),
    Planned("salon", "+48601000002", 15, "open", "busy"),
    Planned("salon", "+48601000003", 14, "open", "no-answer"),
    Planned("salon", "+48221234567", 13, "open", "busy"),  # a Warsaw landline
    Planned("salon", "Anonymous", 12, "open", "no-answer"),
    Planned("salon", "+48601000006", 11, "evening"),
    Planned("salon", "+48601000003", 5, "open", "answer"),  # called again, reached
    Planned("salon", "+48601000002", 4, "open", "busy"),  # texted again: cooldown
    Planned("plumber", "+12125550123", 16, "open", "answer"),
    Planned("plumber", "+16465550142", 15, "open", "no-answer"),
    Planned("plumber", "+13125550199", 14, "open", "busy"),
    Planned("plumber", "+266696687", 13, "open", "busy"),  # ANONYMOUS, keypad-spelled
    Planned("plumber", "+12127365000", 9, "saturday"),
    Planned("plumber", "+12125550124", 8, "evening"),
    Planned("plumber", "+12125550125", 7, "open", "failed"),
    Planned("dentist", "+447400123456", 16, "open", "answer"),
    Planned("dentist", "+442079460000", 10, "open", "no-answer"),  # a London landline
    Planned("dentist", "+447400123457", 9, "open", "no-answer"),
    Planned("dentist", "+447400123458", 3, "evening"),
    Planned("dentist", "+447400123459", 2, "open", "busy"),
]

# The lines' numbers in E.164, as the flows above write them.
NUMBERS = {"salon": "+48223071500", "plumber": "+12125550100", "dentist": "+442079460100"}

# Replies texted after the calls: (flow, caller, body).
REPLIES = [
    ("salon", "+48601000002", "Can you call me after 5?"),
    ("dentist", "+447400123457", "STOP"),
]

# Missed callers whose latest call was missed, with a number to call, who did not text
# back: worked out from CALLS and REPLIES above.
NEEDS_CALL_BACK = {
    ("salon", "+48221234567"), ("salon", "+48601000006"),
    ("plumber", "+16465550142"), ("plumber", "+13125550199"), ("plumber", "+12127365000"),
    ("plumber", "+12125550124"), ("plumber", "+12125550125"),
    ("dentist", "+442079460000"), ("dentist", "+447400123458"),
    ("dentist", "+447400123459"),
}


def write_flows(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in FLOWS.items():
        (folder / f"{name}.yaml").write_text(source.lstrip(), encoding="utf-8")
    return folder


def moment(planned: Planned, zone: ZoneInfo, today: date) -> datetime:
    """A weekday (or a Saturday) about `days_ago` days back, at a time that fits `when`."""
    day = today - timedelta(days=planned.days_ago)
    wanted = {5} if planned.when == "saturday" else {0, 1, 2, 3, 4}
    while day.weekday() not in wanted:
        day -= timedelta(days=1)
    hour = {"open": 10, "evening": 21, "saturday": 12}[planned.when]
    return datetime.combine(day, time(hour), zone)


def fill(url: str, token: str, flows: Path) -> None:
    """Play every planned call against the engine at `url`, then the texts that follow."""
    compiled = {name: compile_file(flows / f"{name}.yaml") for name in FLOWS}
    # A thread of its own: Playwright's sync API keeps an event loop on the test's thread.
    with ThreadPoolExecutor(max_workers=1) as player:
        player.submit(asyncio.run, _play_all(url, token, compiled)).result()


async def _play_all(url: str, token: str, compiled: dict[str, Any]) -> None:
    for planned in CALLS:
        flow = compiled[planned.flow]
        at = moment(planned, flow.tz, datetime.now(flow.tz).date())
        script = Script(caller=planned.caller, line=flow.lines[0], at=at,
                        outcome=planned.outcome)
        await simulate_remote(url, flow, script, token)


def report_and_reply(engine: Any, flows: Path) -> None:
    """Twilio reports two texts delivered and one undelivered; two callers text back."""
    with engine.store.engine.connect() as connection:
        sent = connection.execute(text(
            "SELECT provider_sid FROM messages WHERE status = 'sent' ORDER BY id"
        )).scalars().all()
    for sid, status in zip(sent, ("delivered", "delivered", "undelivered"), strict=False):
        response = engine.post("/sms/status", {"MessageSid": sid, "MessageStatus": status,
                                               "AccountSid": "AC" + "0" * 32})
        assert response.status_code < 300, response.text
    lines = {name: compile_file(flows / f"{name}.yaml").lines[0] for name in FLOWS}
    for number, (flow, caller, body) in enumerate(REPLIES):
        response = engine.post("/sms", {
            "MessageSid": f"SM{number:032d}", "From": caller, "To": lines[flow], "Body": body,
            "AccountSid": "AC" + "0" * 32,
        })
        assert response.status_code == 200, response.text


class AudioApi:
    """Twilio's recordings, stood in on loopback: any `….wav` is a short greeting."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _AudioHandler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> AudioApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _AudioHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if not self.path.endswith(".wav"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(WAV)))
        self.end_headers()
        self.wfile.write(WAV)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Filled:
    """A running engine filled with the calls above, and SQL straight into its store."""

    engine: Running
    flows: Path

    def sql(self, query: str, **params: Any) -> list[Any]:
        with self.engine.store.engine.connect() as connection:
            return list(connection.execute(text(query), params))

    def one(self, query: str, **params: Any) -> Any:
        return self.sql(query, **params)[0][0]


@contextmanager
def filled_engine(password: str) -> Iterator[Filled]:
    """An engine on loopback with its dashboard on, after every planned call and reply."""
    with tempfile.TemporaryDirectory(prefix="ringback-dashboard-") as folder:
        root = Path(folder)
        flows = write_flows(root / "flows")
        audio = AudioApi().start()
        settings = Settings(
            flows=flows, greetings=REPO / "greetings", db=f"sqlite:///{root / 'engine.db'}",
            auth_token=TOKEN, watch=False, dashboard_password=password, api_base=audio.url,
        )
        store = Store(settings.db)
        server, thread, url = start_uvicorn(create_app(settings, store=store))
        try:
            engine = Running(url, server.config.app, store, TOKEN)
            fill(url, TOKEN, flows)
            report_and_reply(engine, flows)
            yield Filled(engine, flows)
        finally:
            stop_uvicorn(server, thread)
            audio.stop()
            store.close()
