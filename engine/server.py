"""The HTTP engine Twilio talks to: Starlette routes around `engine.flows.calls.Calls`.

Each webhook: read the form, check Twilio's signature, hand the parameters to `Calls` in
a worker thread (it blocks on the store), answer TwiML, then let the outbox send what
the call decided. A caller never hears Twilio's "application error": if the flow or the
store fails on `/voice`, the caller still gets valid TwiML (the flow's first number
dialed, else an apology) and the error goes to the log with the call id.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from engine.flows.calls import Calls, Reply
from engine.flows.registry import FlowSet
from engine.flows.twiml import apology, fallback_dial
from engine.settings import Settings
from engine.sms.outbox import Outbox
from engine.sms.transport import DryRun, Transport, TwilioTransport
from engine.store import Store, StoreUnavailable

__all__ = ["SIMULATED_AT", "create_app"]

log = logging.getLogger("ringback.webhook")

# A parameter Twilio never sends: the simulator's clock for this call. It is signed like
# every other parameter, so only a holder of the auth token (or a local, unsigned engine)
# can set it.
SIMULATED_AT = "RingbackSimulatedAt"

MAX_BODY = 64 * 1024
AUDIO_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".aiff": "audio/aiff",
               ".aif": "audio/aiff", ".gsm": "audio/gsm", ".ulaw": "audio/ulaw"}

Handler = Callable[[Request, FormData], Awaitable[Response]]


def twiml(xml: str) -> Response:
    return Response(xml, media_type="text/xml")


def create_app(
    settings: Settings, *, transport: Transport | None = None, store: Store | None = None,
    outbox_delay: float | None = None,
) -> Starlette:
    """The engine as an ASGI app. `transport` and `store` may be given, as tests do."""
    store = store or Store(settings.db)
    transport = transport or _transport(settings)
    state = _State(settings, store, transport, outbox_delay)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(store.create)
        await state.outbox.resume()
        yield
        await state.outbox.drain()

    routes = [
        Route("/voice", state.signed(state.voice), methods=["POST"]),
        Route("/voice/status", state.signed(state.voice_status), methods=["POST"]),
        Route("/voice/dial", state.signed(state.voice_dial), methods=["POST"]),
        Route("/voice/recorded", state.signed(state.voice_recorded), methods=["POST"]),
        Route("/voice/ended", state.signed(state.voice_ended), methods=["POST"]),
        Route("/greetings/{file:path}", state.greeting, methods=["GET", "HEAD"]),
        Route("/healthz", state.healthz, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.engine = state
    return app


def _transport(settings: Settings) -> Transport:
    if settings.sends_texts:
        assert settings.account_sid and settings.auth_token
        return TwilioTransport(settings.account_sid, settings.auth_token, settings.api_base)
    return DryRun()


class _State:
    """The engine's parts, shared by the routes."""

    def __init__(
        self, settings: Settings, store: Store, transport: Transport, delay: float | None
    ) -> None:
        self.settings = settings
        self.store = store
        self.flows = FlowSet.load(settings.flows)
        for path, error in self.flows.refused.items():
            log.error("Flow file %s refused:\n%s", path, error)
        self.calls = Calls(lambda: self.flows, store)
        extra = {} if delay is None else {"base_delay": delay}
        self.outbox = Outbox(store, transport, **extra)
        self.validator = RequestValidator(settings.auth_token) if settings.auth_token else None

    # --- request plumbing -----------------------------------------------------------

    def signed(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Read the form and check Twilio's signature before `handler` runs."""

        async def endpoint(request: Request) -> Response:
            form = await _form(request)
            if form is None:
                return PlainTextResponse("expected a form-encoded body under 64 KiB", 400)
            if self.validator is not None and not self._valid(request, form):
                log.warning("Refused %s: missing or invalid X-Twilio-Signature.", request.url.path)
                return PlainTextResponse("invalid signature", 403)
            return await handler(request, form)

        return endpoint

    def _valid(self, request: Request, form: FormData) -> bool:
        signature = request.headers.get("X-Twilio-Signature", "")
        assert self.validator is not None
        return bool(signature) and self.validator.validate(self.public_url(request), form, signature)

    def public_url(self, request: Request) -> str:
        """The URL Twilio requested: PUBLIC_URL joined to the raw path and query."""
        query = request.scope.get("query_string", b"").decode("latin-1")
        if self.settings.public_url:
            path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
            return self.settings.public_url + path + (f"?{query}" if query else "")
        return str(request.url)

    def base_url(self, request: Request) -> str:
        return self.settings.public_url or str(request.base_url).rstrip("/")

    def _send(self, reply: Reply, request: Request) -> Response:
        if reply.texts:
            self.outbox.submit(reply.texts, f"{self.base_url(request)}/sms/status")
        return twiml(reply.xml)

    # --- routes ---------------------------------------------------------------------

    async def voice(self, request: Request, form: FormData) -> Response:
        params = dict(form)
        sid = params.get("CallSid", "")
        at = _simulated_at(params.get(SIMULATED_AT))
        try:
            reply = await run_in_threadpool(self.calls.incoming, params, self.base_url(request), at)
        except Exception:
            log.exception("Call %s: the flow failed; answering with the fallback.", sid)
            return twiml(self._fallback(params.get("To", "")))
        return self._send(reply, request)

    async def voice_dial(self, request: Request, form: FormData) -> Response:
        params = dict(form)
        flow_id, step = request.query_params.get("flow", ""), request.query_params.get("step", "")
        try:
            reply = await run_in_threadpool(
                self.calls.dial_ended, flow_id, step, params, self.base_url(request)
            )
        except Exception:
            log.exception("Call %s: the dial callback failed; apologising.", params.get("CallSid"))
            return twiml(apology())
        return self._send(reply, request)

    async def voice_recorded(self, request: Request, form: FormData) -> Response:
        params = dict(form)
        flow_id, step = request.query_params.get("flow", ""), request.query_params.get("step", "")
        reply = await self._guarded(self.calls.recorded, flow_id, step, params)
        return self._send(reply, request)

    async def voice_status(self, request: Request, form: FormData) -> Response:
        params = dict(form)
        if not params.get("CallSid") or not params.get("CallStatus"):
            return PlainTextResponse("CallSid and CallStatus are required", 400)
        reply = await self._guarded(self.calls.status, params)
        return self._send(reply, request)

    async def voice_ended(self, request: Request, form: FormData) -> Response:
        """Where the emergency fallback's `<Dial>` reports: keep it, hang up."""
        params = dict(form)
        if params.get("CallSid"):
            await run_in_threadpool(self.store.add_event, params["CallSid"], "fallback", params)
        return twiml(apology("Goodbye."))

    async def _guarded(self, method: Callable[..., Reply], *args: object) -> Reply:
        try:
            return await run_in_threadpool(method, *args)
        except StoreUnavailable:
            log.exception("The store did not answer; the callback was not recorded.")
            raise

    async def greeting(self, request: Request) -> Response:
        """A greeting's audio, only from inside the greetings folder."""
        folder = self.settings.greetings.resolve()
        name = request.path_params["file"]
        target = (folder / name).resolve()
        if folder not in target.parents or not target.is_file():
            return PlainTextResponse("no such greeting", 404)
        media = AUDIO_TYPES.get(target.suffix.lower()) or mimetypes.guess_type(target.name)[0]
        return FileResponse(target, media_type=media or "application/octet-stream")

    async def healthz(self, request: Request) -> Response:
        if not await run_in_threadpool(self.store.ping):
            return JSONResponse({"status": "store unreachable", "flows": len(self.flows.by_id)}, 503)
        return JSONResponse({"status": "ok", "flows": len(self.flows.by_id)})

    def _fallback(self, to: str) -> str:
        flow = self.flows.for_number(to)
        number = flow.first_number() if flow else None
        return fallback_dial(number) if number else apology()


async def _form(request: Request) -> FormData | None:
    """The webhook's form, or None when the body is not a reasonable form."""
    kind = request.headers.get("content-type", "")
    if kind and not kind.startswith("application/x-www-form-urlencoded"):
        return None
    body = await request.body()
    if len(body) > MAX_BODY:
        return None
    try:
        return await request.form()
    except Exception:  # a garbled body is the caller's problem, not a 500
        return None


def _simulated_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None
