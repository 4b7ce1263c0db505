"""The benchmark's server: the engine, plus two baseline webhooks mounted beside it.

Run only by `bench/run.py`, as `python bench/app.py PORT DB`, pinned to one core. The
baselines live here and nowhere in the product:

- `/bench/hand/{path}` is the webhook an integrator writes by hand: Starlette parses the
  form, and a constant TwiML string is the answer;
- `/bench/twiml/{path}` builds the same document per request with twilio's
  `VoiceResponse`, as twilio's own quick-starts do.

`{path}` is `voice`, `dial` or `status`; each baseline answers byte for byte what the
engine answers on that path (`run.py` checks it before measuring), so the three differ
only in the work done, never in what goes over the wire.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.twiml.voice_response import VoiceResponse

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.calls import FLOW, PUBLIC_URL, TOKEN
from engine.server import create_app
from engine.settings import Settings

BUSY_SAY = "We are with a client right now. We have just sent you a text with our booking link."
DIAL_ACTION = f"/voice/dial?flow={FLOW}&amp;step=on.open.1"

# What the engine answers on each measured path, written out by hand.
CONSTANT = {
    "voice": (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Play>{PUBLIC_URL}/greetings/belle-welcome.wav</Play>"
        f'<Dial action="{DIAL_ACTION}" timeout="20"><Number>+48601234567</Number></Dial>'
        "</Response>"
    ),
    "dial": (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Say>{BUSY_SAY}</Say><Hangup /></Response>"
    ),
    "status": '<?xml version="1.0" encoding="UTF-8"?><Response />',
}


def voice_response(path: str) -> str:
    """The document of `path`, built the way twilio's quick-starts build TwiML."""
    response = VoiceResponse()
    if path == "voice":
        response.play(f"{PUBLIC_URL}/greetings/belle-welcome.wav")
        dial = response.dial(action=f"/voice/dial?flow={FLOW}&step=on.open.1", timeout=20)
        dial.number("+48601234567")
    elif path == "dial":
        response.say(BUSY_SAY)
        response.hangup()
    return str(response.to_xml())


async def hand(request: Request) -> Response:
    """A hand-written webhook: parse the form, answer a constant."""
    form = await request.form()
    if not form.get("CallSid"):
        return Response("CallSid is required", 400)
    return Response(CONSTANT[request.path_params["path"]], media_type="text/xml")


async def twiml(request: Request) -> Response:
    """A hand-written webhook that builds its answer with `VoiceResponse`."""
    form = await request.form()
    if not form.get("CallSid"):
        return Response("CallSid is required", 400)
    return Response(voice_response(request.path_params["path"]), media_type="text/xml")


def build(db: str) -> Starlette:
    settings = Settings(
        flows=REPO / "flows",
        greetings=REPO / "greetings",
        db=db,
        public_url=PUBLIC_URL,
        auth_token=TOKEN,
    )
    app = create_app(settings)
    app.router.routes.append(Route("/bench/hand/{path}", hand, methods=["POST"]))
    app.router.routes.append(Route("/bench/twiml/{path}", twiml, methods=["POST"]))
    return app


def main() -> None:
    port, db = int(sys.argv[1]), sys.argv[2]
    logging.basicConfig(level=logging.WARNING)
    uvicorn.run(
        build(db),
        host="127.0.0.1",
        port=port,
        workers=1,
        access_log=False,
        log_level="warning",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
