"""An engine that really texts: two flows, the real twilio Client, the Messages API stand-in.

The flows are written here, not taken from `flows/`, so that what the tests expect
follows from text in front of the reader:

- `shop` answers +44 20 7946 0999, always open; it dials the shop and, when nobody
  answers, says sorry and texts `missed` from the alphanumeric sender "CornerShop"
  (busy: `busy`). Cooldown 12h, mobiles only.
- `bakery` answers +44 20 7946 0998 the same way, texting from its own number, and
  answers replies with its `sms.reply` copy.
- `kiosk` answers +44 20 7946 0997 and texts any line (`send_to: any`), no cooldown.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from engine.server import create_app
from engine.settings import Settings
from engine.sms.transport import Transport
from engine.store import Message, Store
from tests.conftest import ACCOUNT_SID, TOKEN, start_uvicorn, stop_uvicorn
from tests.twilio_standin import MessagesApi

# How long a test waits for the engine: generous, since a loaded CI machine is slow, and
# never spent when all is well.
PATIENCE = 30.0

SHOP_LINE = "+442079460999"
BAKERY_LINE = "+442079460998"
SHOP_MISSED = "Corner Shop: sorry we missed you. Order online: https://shop.example/order"
BAKERY_REPLY = "Bakery: thanks for your message! We will call you back today."

SHOP = f"""\
line: "{SHOP_LINE}"
business: Corner Shop
sms:
  sender: CornerShop
  cooldown: 12h
  send_to: mobile
  copy:
    missed: "{SHOP_MISSED}"
    busy: "Corner Shop: we are on another call. Order online: https://shop.example/order"
on:
  open:
    - dial: {{to: "+442079460111", timeout: 20}}
  busy:
    - say: "We are on another call. We have sent you a text."
    - sms: busy
  missed:
    - say: "Sorry we could not take your call. We have sent you a text."
    - sms: missed
"""

BAKERY = f"""\
line: "{BAKERY_LINE}"
business: Bakery
sms:
  reply: "{BAKERY_REPLY}"
  copy:
    missed: "Bakery: sorry we missed you. Order a cake: https://bakery.example"
on:
  open:
    - dial: {{to: "+442079460112", timeout: 20}}
  missed:
    - sms: missed
"""


KIOSK_LINE = "+442079460997"
KIOSK = f"""\
line: "{KIOSK_LINE}"
business: Kiosk
sms:
  send_to: any
  cooldown: 0
on:
  open:
    - dial: {{to: "+442079460113", timeout: 20}}
  missed:
    - sms: "Kiosk: sorry we missed you."
"""


def write_flows(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.yaml").write_text(SHOP)
    (folder / "bakery.yaml").write_text(BAKERY)
    (folder / "kiosk.yaml").write_text(KIOSK)
    return folder


@dataclass
class Engine:
    """A running engine, played as Twilio plays it."""

    url: str
    app: Any
    store: Store
    api: MessagesApi

    def post(self, path: str, params: dict[str, str]) -> httpx.Response:
        """POST a signed form, as Twilio does; `path` may carry a query."""
        url = self.url + path
        signature = RequestValidator(TOKEN).compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature}
        return httpx.post(url, data=params, headers=headers, timeout=PATIENCE)

    def call(self, sid: str, caller: str, line: str = SHOP_LINE) -> httpx.Response:
        """A call comes in: `POST /voice`."""
        return self.post("/voice", call_params(sid, caller, line))

    def dial_ended(
        self, first: httpx.Response, sid: str, caller: str, status: str = "no-answer",
        line: str = SHOP_LINE,
    ) -> httpx.Response:
        """The `<Dial>` of the first answer reports `status` on its action URL."""
        params = {**call_params(sid, caller, line), "CallStatus": "in-progress",
                  "DialCallStatus": status, "DialCallSid": "CA" + "d" * 32}
        return self.post(dial_action(first.text), params)

    def missed_call(self, sid: str, caller: str, line: str = SHOP_LINE) -> list[Message]:
        """A call nobody answers, then the texts it decided, once the outbox is done."""
        first = self.call(sid, caller, line)
        assert first.status_code == 200, first.text
        assert self.dial_ended(first, sid, caller, line=line).status_code == 200
        self.wait_idle()
        return self.store.messages_for_call(sid)

    def reply(self, caller: str, body: str, line: str = SHOP_LINE, sid: str = "") -> str:
        """A caller texts the line: `POST /sms`; the TwiML answered."""
        params = {"MessageSid": sid or _sid("SM"), "AccountSid": ACCOUNT_SID, "From": caller,
                  "To": line, "Body": body, "NumMedia": "0", "NumSegments": "1",
                  "ApiVersion": "2010-04-01"}
        response = self.post("/sms", params)
        assert response.status_code == 200, response.text
        return response.text

    def wait_idle(self, timeout: float = PATIENCE) -> None:
        """Until the outbox has nothing on its way (no fixed sleep)."""
        outbox = self.app.state.engine.outbox
        wait_until(lambda: outbox.idle, timeout)


def call_params(sid: str, caller: str, line: str) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": ACCOUNT_SID, "From": caller, "To": line,
            "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}


def dial_action(twiml: str) -> str:
    """The `action` of the document's `<Dial>`: where Twilio reports how it ended."""
    dial = ET.fromstring(twiml).find("Dial")
    assert dial is not None, twiml
    return dial.attrib["action"]


def wait_until(predicate: Any, timeout: float = PATIENCE) -> None:
    """Poll `predicate` until true: background work is awaited, never slept through."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the engine did not get there in time"
        time.sleep(0.005)


_counter = iter(range(10**9))


def _sid(prefix: str) -> str:
    return f"{prefix}{next(_counter):032x}"


def new_call_sid() -> str:
    return _sid("CA")


def settings_for(folder: Path, db: str, api: MessagesApi) -> Settings:
    return Settings(
        flows=folder, greetings=folder, db=db, auth_token=TOKEN, account_sid=ACCOUNT_SID,
        api_base=api.url, watch=False,
    )


@contextmanager
def running_engine(
    folder: Path, db: str, api: MessagesApi, transport: Transport | None = None,
    lease: float = 60.0,
) -> Iterator[Engine]:
    """An engine on loopback texting through `api`, with backoffs of milliseconds; it
    holds the texts it works on for `lease` seconds at a time, and sweeps every third."""
    store = Store(db, lease=lease)
    app = create_app(settings_for(folder, db, api), store=store, transport=transport,
                     outbox_delay=0.001)
    server, thread, url = start_uvicorn(app)
    try:
        yield Engine(url, app, store, api)
    finally:
        stop_uvicorn(server, thread)


@pytest.fixture
def engine(
    tmp_path: Path, messages_api: MessagesApi, new_db: Callable[..., str]
) -> Iterator[Engine]:
    """An engine serving the test flows, texting through the Messages API stand-in.

    Loaded for every test module by `-p tests.texting` (pyproject.toml); a module's own
    `engine` fixture takes precedence.
    """
    flows = write_flows(tmp_path / "flows")
    with running_engine(flows, new_db(), messages_api) as running:
        yield running
