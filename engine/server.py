"""The HTTP engine Twilio talks to: Starlette routes around `engine.flows.calls.Calls`.

Each webhook: read the form, check Twilio's signature, hand the parameters to `Calls` in
a worker thread (it blocks on the store), answer TwiML, then let the outbox send what
the call decided. A caller never hears Twilio's "application error": if the flow or the
store fails on `/voice`, the caller still gets valid TwiML (the flow's first number
dialed, else an apology) and the error goes to the log with the call id.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator, compare
from watchfiles import awatch

from engine._handoff import Handoff
from engine._request import read_form, signed_params
from engine._request import signature as twilio_signature
from engine.dashboard import dashboard_routes
from engine.flows.calls import Calls, Reply
from engine.flows.registry import FlowSet
from engine.flows.twiml import apology, fallback_dial, hangup
from engine.metrics import Metrics
from engine.privacy import Retention
from engine.settings import Settings
from engine.sms.outbox import Outbox
from engine.sms.receipts import record_receipt
from engine.sms.replies import Replies
from engine.sms.transport import DryRun, Transport, TwilioTransport
from engine.store import Message, Store, StoreUnavailable

__all__ = ["SIMULATED_AT", "call_report", "create_app"]

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
    outbox_delay: float | None = None, flows: FlowSet | None = None,
) -> Starlette:
    """The engine as an ASGI app. `transport`, `store` and `flows` may be given, as tests
    and the simulator do; `flows` replaces loading the flows folder."""
    store = store or Store(settings.db, lease=settings.outbox_lease, pool=settings.db_pool)
    transport = transport or _transport(settings)
    state = _State(settings, store, transport, outbox_delay, flows)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            # SQLite is migrated here; PostgreSQL must be at the newest revision already
            # (`ringback migrate`), else SchemaBehind stops the start.
            await run_in_threadpool(store.ready)
        except StoreUnavailable as exc:
            log.error("The store %s did not answer at start: %s.", settings.db, exc)
        await state.outbox.start()
        watcher = asyncio.create_task(state.watch()) if settings.watch else None
        retention = Retention(store, settings)
        await retention.start()
        yield
        await retention.stop()
        if watcher is not None:
            state.stop_watching.set()
            await watcher
        await state.outbox.stop()
        await state.outbox.drain()

    routes = [
        Route("/voice", state.signed(state.voice), methods=["POST"]),
        Route("/voice/status", state.signed(state.voice_status), methods=["POST"]),
        Route("/voice/dial", state.signed(state.voice_dial), methods=["POST"]),
        Route("/voice/recorded", state.signed(state.voice_recorded), methods=["POST"]),
        Route("/voice/menu", state.signed(state.voice_menu), methods=["POST"]),
        Route("/voice/screen", state.signed(state.voice_screen), methods=["POST"]),
        Route("/voice/screened", state.signed(state.voice_screened), methods=["POST"]),
        Route("/voice/ended", state.signed(state.voice_ended), methods=["POST"]),
        Route("/voice/report", state.signed(state.voice_report), methods=["POST"]),
        Route("/sms", state.signed(state.sms), methods=["POST"]),
        Route("/sms/status", state.signed(state.sms_status), methods=["POST"]),
        Route("/greetings/{file:path}", state.greeting, methods=["GET", "HEAD"]),
        Route("/healthz", state.healthz, methods=["GET"]),
        Route("/metrics", state.metrics_page, methods=["GET"]),
        *dashboard_routes(state),
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
        self, settings: Settings, store: Store, transport: Transport, delay: float | None,
        flows: FlowSet | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.flows = flows if flows is not None else FlowSet.load(settings.flows)
        _report(self.flows)
        self.calls = Calls(lambda: self.flows, store)
        self.metrics = Metrics(store)
        self.stop_watching = asyncio.Event()
        extra = {} if delay is None else {"base_delay": delay}
        # Texts resumed at start have no request to take a URL from: each keeps the
        # StatusCallback it was first sent with, and PUBLIC_URL serves the rest.
        callback = f"{settings.public_url}/sms/status" if settings.public_url else None
        self.outbox = Outbox(store, transport, status_callback=callback, **extra)
        self.replies = Replies(lambda: self.flows, store)
        self.validator = RequestValidator(settings.auth_token) if settings.auth_token else None
        # the call webhooks' store work: one thread takes SQLite's one writer's turns
        self.handoff = Handoff(threads=1 if store.dialect == "sqlite" else 8)

    # --- request plumbing -----------------------------------------------------------

    def signed(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Read the form and check Twilio's signature before `handler` runs."""

        async def endpoint(request: Request) -> Response:
            with self.metrics.latency.labels(request.url.path).time():
                form = await _form(request)
                if form is None:
                    return PlainTextResponse("expected a form-encoded body under 64 KiB", 400)
                if self.validator is not None and not self._valid(request, form):
                    log.warning(
                        "Refused %s from %s: missing or invalid X-Twilio-Signature.",
                        request.url.path, _peer(request),
                    )
                    return PlainTextResponse("invalid signature", 403)
                return await handler(request, form)

        return endpoint

    def _valid(self, request: Request, form: FormData) -> bool:
        """Twilio's HMAC over the public URL and the form, as twilio's validator computes it.

        Twilio is inconsistent about writing a default port, so `:443` (or `:80`) is
        accepted written or not; any other port must be exactly as signed.
        """
        signature = request.headers.get("X-Twilio-Signature", "")
        assert self.validator is not None
        if not signature:
            return False
        params = signed_params(form)
        return any(
            compare(twilio_signature(self.validator.token, url, params), signature)
            for url in _port_forms(self.public_url(request))
        )

    def public_url(self, request: Request) -> str:
        """The URL Twilio requested, byte for byte: the public base, raw path and raw query."""
        query = request.scope.get("query_string", b"").decode("latin-1")
        path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        return self.base_url(request) + path + (f"?{query}" if query else "")

    def base_url(self, request: Request) -> str:
        """`https://calls.example.com`: PUBLIC_URL, else the request's own scheme and host.

        X-Forwarded-Proto and X-Forwarded-Host count only when the direct peer is a proxy
        the operator trusts (FORWARDED_ALLOW_IPS); anyone else could forge them.
        """
        if self.settings.public_url:
            return self.settings.public_url
        scheme = request.url.scheme
        host = request.headers.get("host", "")
        if self.settings.trusts(_peer(request)):
            scheme = _first(request.headers.get("x-forwarded-proto")) or scheme
            host = _first(request.headers.get("x-forwarded-host")) or host
        return f"{scheme}://{host}"

    def _send(self, reply: Reply, request: Request) -> Response:
        if reply.texts:
            self.outbox.submit(reply.texts, f"{self.base_url(request)}/sms/status")
        return twiml(reply.xml)

    # --- routes ---------------------------------------------------------------------

    async def voice(self, request: Request, form: FormData) -> Response:
        params = _params(form)
        sid = params.get("CallSid", "")
        if not sid or not params.get("To"):
            return PlainTextResponse("CallSid and To are required", 400)
        at = _simulated_at(params.get(SIMULATED_AT))
        try:
            reply = await self.handoff.run(
                self.store.atomic, self.calls.incoming, params, self.base_url(request), at
            )
        except Exception:
            log.exception("Call %s: the flow failed; answering with the fallback.", sid)
            await self._keep(sid, "fallback", params)
            return twiml(self._fallback(params.get("To", "")))
        return self._send(reply, request)

    async def _keep(self, sid: str, kind: str, params: dict[str, str]) -> None:
        """Keep a webhook in the call's history if the store can; never fail because of it."""
        try:
            await run_in_threadpool(self.store.add_event, sid, kind, params)
        except Exception:  # noqa: BLE001 - the caller must hear valid TwiML, whatever broke
            log.warning("Call %s: the store could not keep this %s event.", sid, kind)

    async def voice_dial(self, request: Request, form: FormData) -> Response:
        params = _params(form)
        flow_id, step = request.query_params.get("flow", ""), request.query_params.get("step", "")
        try:
            reply = await self.handoff.run(
                self.store.atomic, self.calls.dial_ended, flow_id, step, params,
                self.base_url(request),
            )
        except Exception:
            log.exception("Call %s: the dial callback failed; apologising.", params.get("CallSid"))
            return twiml(apology())
        return self._send(reply, request)

    async def voice_menu(self, request: Request, form: FormData) -> Response:
        """A menu's `<Gather>` (a key) or its `<Redirect>` (no key): the chosen steps."""
        params = _params(form)
        flow_id, step = request.query_params.get("flow", ""), request.query_params.get("step", "")
        try:
            reply = await run_in_threadpool(
                self.calls.menu, flow_id, step, params, self.base_url(request)
            )
        except Exception:
            log.exception("Call %s: the menu callback failed; apologising.", params.get("CallSid"))
            return twiml(apology())
        return self._send(reply, request)

    async def voice_screen(self, request: Request, form: FormData) -> Response:
        """The business's own leg, on pick-up (`<Number url>`): the screening prompt."""
        return await self._business_leg(self.calls.screen, request, form)

    async def voice_screened(self, request: Request, form: FormData) -> Response:
        """The key the business pressed at the screening prompt."""
        return await self._business_leg(self.calls.screened, request, form)

    async def _business_leg(
        self, method: Callable[..., Reply], request: Request, form: FormData
    ) -> Response:
        """On the business's leg a failure hangs that leg up: the caller's dial reports back."""
        params = _params(form)
        flow_id, step = request.query_params.get("flow", ""), request.query_params.get("step", "")
        try:
            reply = await run_in_threadpool(method, flow_id, step, params)
        except Exception:
            log.exception("Call %s: screening failed; hanging up the business leg.",
                          params.get("ParentCallSid") or params.get("CallSid"))
            return twiml(hangup())
        return twiml(reply.xml)

    async def voice_recorded(self, request: Request, form: FormData) -> Response:
        params = _params(form)
        flow_id, step = request.query_params.get("flow", ""), request.query_params.get("step", "")
        reply = await self._guarded(self.calls.recorded, flow_id, step, params)
        return self._send(reply, request) if reply else twiml(hangup())

    async def voice_status(self, request: Request, form: FormData) -> Response:
        params = _params(form)
        if not params.get("CallSid") or not params.get("CallStatus"):
            return PlainTextResponse("CallSid and CallStatus are required", 400)
        reply = await self._guarded(self.calls.status, params)
        if reply is None:
            return PlainTextResponse("the store is unavailable; retry later", 503)
        return self._send(reply, request)

    async def voice_ended(self, request: Request, form: FormData) -> Response:
        """Where the emergency fallback's `<Dial>` reports: keep it, hang up."""
        params = _params(form)
        if params.get("CallSid"):
            await self._keep(params["CallSid"], "fallback-ended", params)
        return twiml(apology("Goodbye."))

    async def sms(self, request: Request, form: FormData) -> Response:
        """A caller texted a line: keep it, apply STOP/START, answer `<Response/>` or the copy."""
        params = _params(form)
        try:
            xml = await run_in_threadpool(self.replies.receive, params)
        except Exception:
            log.exception("A text from a caller could not be kept.")
            return PlainTextResponse("the store is unavailable; the text was not kept", 503)
        return twiml(xml)

    async def sms_status(self, request: Request, form: FormData) -> Response:
        """Twilio reports on a text the engine sent; kept, applied, answered with no body."""
        params = _params(form)
        if not params.get("MessageSid") and not params.get("SmsSid"):
            return PlainTextResponse("MessageSid is required", 400)
        message = request.query_params.get("message")
        try:
            await run_in_threadpool(record_receipt, self.store, params, message)
        except Exception:
            log.exception("A status report on text %s could not be kept.", message)
            return PlainTextResponse("the store is unavailable; retry later", 503)
        return Response(status_code=204)

    async def voice_report(self, request: Request, form: FormData) -> Response:
        """For `ringback simulate --url`: one call's trigger and text decisions, read-only.

        Signed like every webhook, so only a holder of the auth token (or anyone on the
        loopback of an unsigned local engine) can read it.
        """
        sid = str(form.get("CallSid", ""))
        report = await run_in_threadpool(call_report, self.store, sid)
        if report is None:
            return JSONResponse({"error": f"no call {sid!r} in the store"}, 404)
        return JSONResponse(report)

    async def _guarded(self, method: Callable[..., Reply], *args: object) -> Reply | None:
        """Run a callback that Twilio does not wait on; None when it could not be recorded.

        Twilio retries a callback that failed, so the answer is a plain 503, never a
        stack trace.
        """
        try:
            return await self.handoff.run(self.store.atomic, method, *args)
        except StoreUnavailable:
            log.exception("The store did not answer; the callback was not recorded.")
        except Exception:
            log.exception("A callback failed and was not recorded.")
        return None

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
            unhealthy = {"status": "store unreachable", "flows": len(self.flows.by_id)}
            return JSONResponse(unhealthy, 503)
        return JSONResponse({"status": "ok", "flows": len(self.flows.by_id)})

    async def metrics_page(self, request: Request) -> Response:
        body = await run_in_threadpool(self.metrics.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def watch(self) -> None:
        """Reload flows when their files change; a refused file keeps its last good version."""
        folder = self.settings.flows
        if not folder.is_dir():
            return
        async for _ in awatch(folder, stop_event=self.stop_watching, debounce=200, step=50):
            try:
                flows = await run_in_threadpool(FlowSet.load, folder, self.flows)
            except Exception:  # the watcher must outlive any file: keep serving what we have
                log.exception("Reloading flows from %s failed; the flows served are kept.", folder)
                continue
            _report(flows)
            self.flows = flows
            log.info("Flows reloaded from %s: %d served.", folder, len(flows.by_id))

    def _fallback(self, to: str) -> str:
        flow = self.flows.for_number(to)
        number = flow.first_number() if flow else None
        return fallback_dial(number) if number else apology()


def call_report(store: Store, call_sid: str) -> dict[str, Any] | None:
    """`POST /voice/report`'s answer: the call's trigger and its texts' decisions."""
    call = store.call(call_sid)
    if call is None:
        return None
    texts = store.messages_for_call(call_sid)
    return {
        "call_sid": call_sid, "flow": call.flow_id, "trigger": call.trigger,
        "answered": call.answered, "ended": call.ended,
        "sms": [_text_report(message) for message in texts],
    }


def _text_report(message: Message) -> dict[str, object]:
    """A text's decision as `ringback simulate --json` shows it, with the step behind it."""
    if message.status == "skipped":
        return {"to": message.to_number, "status": "skipped", "reason": message.reason,
                "step": message.step}
    report: dict[str, object] = {
        "to": message.to_number, "from": message.from_number, "body": message.body,
        "encoding": message.encoding, "segments": message.segments, "status": message.status,
        "step": message.step,
    }
    if message.reason:  # a text that failed says why (copy-error), as a skipped one does
        report["reason"] = message.reason
    return report


def _report(flows: FlowSet) -> None:
    """One log line per refused file, its problems joined, each with its position."""
    for path, error in flows.refused.items():
        kept = "; its last good version is still served" if path in flows.by_path else ""
        problems = "; ".join(str(problem) for problem in error.problems)
        log.error("Flow file %s refused%s: %s", path, kept, problems)


def _params(form: FormData) -> dict[str, str]:
    """A webhook's parameters as text (the last value of a repeated name wins)."""
    return {name: value for name, value in form.multi_items() if isinstance(value, str)}


def _port_forms(url: str) -> list[str]:
    """`https://h/voice` → itself and `https://h:443/voice`; a non-default port stays alone."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is None and default is not None:
        return [url, urlunsplit(parts._replace(netloc=f"{host}:{default}"))]
    if parts.port == default:
        return [url, urlunsplit(parts._replace(netloc=host))]
    return [url]


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None


def _first(value: str | None) -> str | None:
    """The first entry of a comma-separated forwarded header: the client-facing proxy's."""
    return value.split(",")[0].strip() or None if value else None


async def _form(request: Request) -> FormData | None:
    """The webhook's form, or None when the body is not a reasonable form."""
    kind = request.headers.get("content-type", "")
    if kind and not kind.startswith("application/x-www-form-urlencoded"):
        return None
    body = await request.body()
    if len(body) > MAX_BODY:
        return None
    try:
        return read_form(body)
    except Exception:  # noqa: BLE001 - a garbled body is the caller's problem, not a 500
        return None


def _simulated_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None
