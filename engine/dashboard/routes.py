"""The dashboard's pages under `/dashboard`, and the login that guards them.

`routes(engine)` gives the engine two routes: `/dashboard`, which redirects into the
mount, and the mount itself, a small Starlette app behind the session cookie. Every page
but the login form answers `303 See Other` to `/dashboard/login` without a session.
Pages are Jinja templates with autoescaping on; the only style is one inline stylesheet
allowed by its hash in the Content-Security-Policy, and no script runs at all.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Mount, Route

from engine.dashboard import queries as q
from engine.dashboard.auth import Sessions, Throttle, Users, csrf_token, valid_csrf
from engine.dashboard.chart import svg_chart
from engine.dashboard.trace import trace
from engine.privacy import twilio_resource
from engine.store import calls, metadata

__all__ = ["Dashboard", "routes"]

log = logging.getLogger("ringback.dashboard")

PREFIX = "/dashboard"
PERIODS = (1, 7, 30, 90, 365)
TRIGGERS = ("busy", "missed", "out_of_hours", "weekend", "holiday", "failed")
REASONS = ("no-caller-id", "invalid-number", "landline", "opted-out", "cooldown", "duplicate")
CSS = files("engine.dashboard").joinpath("templates/dashboard.css").read_text("utf-8")
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{CSS_HASH}'; img-src 'self'; "
        "media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

Endpoint = Callable[[Request], Awaitable[Response]]


def routes(engine: Any) -> list[BaseRoute]:
    """`/dashboard` and everything under it, for the engine's route list."""
    dashboard = Dashboard(engine)
    return [
        Route(PREFIX, lambda request: _redirect(PREFIX + "/"), methods=["GET"]),
        Mount(PREFIX, app=dashboard.app()),
    ]


def _redirect(to: str) -> Response:
    return RedirectResponse(to, status_code=303, headers=HEADERS)


class Dashboard:
    """The pages, the engine they read from and the login state they share."""

    def __init__(self, engine: Any, throttle: Throttle | None = None) -> None:
        settings = engine.settings
        self.engine = engine
        self.users = Users.from_settings(settings.dashboard_password, settings.dashboard_users)
        self.throttle = throttle or Throttle()
        self.secret = settings.dashboard_secret or secrets.token_urlsafe(32)
        if settings.dashboard_secret is None:
            log.info("RINGBACK_DASHBOARD_SECRET is not set: dashboard sessions last as long "
                     "as this engine process.")
        self.templates = Environment(
            loader=PackageLoader("engine.dashboard", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True, lstrip_blocks=True,
        )
        self._indexed = False

    def app(self) -> Sessions:
        inner = Starlette(routes=[
            Route("/", self.member(self.overview)),
            Route("/calls", self.member(self.calls)),
            Route("/callers/{flow}/{caller:path}", self.member(self.caller)),
            Route("/voicemail/{sid}", self.member(self.voicemail)),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
        ])
        return Sessions(inner, self.secret, self._https)

    def _https(self, request: Request) -> bool:
        return str(self.engine.base_url(request)).startswith("https://")

    # --- plumbing -------------------------------------------------------------------

    def member(self, endpoint: Endpoint) -> Endpoint:
        """Only for a logged-in user; anyone else is sent to the login form."""

        async def guarded(request: Request) -> Response:
            if not request.session.get("user"):
                wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return _redirect(f"{PREFIX}/login?{urlencode({'next': wanted})}")
            if not self._indexed:
                await run_in_threadpool(self._ensure_indexes)
            return await endpoint(request)

        return guarded

    def _ensure_indexes(self) -> None:
        """Indexes added since a store was created are created once, on first use."""
        for table in metadata.sorted_tables:
            for index in table.indexes:
                index.create(self.engine.store.engine, checkfirst=True)
        self._indexed = True

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        page = self.templates.get_template(name).render(
            css=CSS, prefix=PREFIX, user=request.session.get("user"),
            csrf=csrf_token(request.session), **context,
        )
        return HTMLResponse(page, status_code=status, headers=HEADERS)

    def lines(self) -> dict[str, q.Line]:
        """The lines served now, and lines the store still has calls of."""
        served = {
            flow.id: q.Line(flow.id, flow.business, tuple(flow.lines), flow.tz)
            for flow in self.engine.flows.by_id.values()
        }
        with self.engine.store.engine.connect() as connection:
            seen = connection.execute(select(calls.c.flow_id).distinct()).scalars().all()
        gone = {flow_id: q.Line(flow_id, flow_id, (), UTC) for flow_id in seen}
        return {**gone, **served}

    def flow_sms(self, flow_id: str) -> Any:
        flow = self.engine.flows.by_id.get(flow_id)
        return flow.sms if flow is not None else None

    # --- pages ----------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        data = await run_in_threadpool(self._overview, request.query_params)
        return self.render(request, "overview.html", **data)

    def _overview(self, params: Any) -> dict[str, Any]:
        lines = self.lines()
        chosen = lines.get(params.get("line", ""))
        days = _int(params.get("days"), 30)
        since = q_since(days)
        zone = chosen.zone if chosen else _first_zone(lines)
        with self.engine.store.engine.connect() as connection:
            rows = [("all", "All lines", q.overview(connection, None, since))]
            rows += [(line.id, line.business, q.overview(connection, line, since))
                     for line in sorted(lines.values(), key=lambda line: line.business)]
            series = q.chart_days(connection, lines, chosen, datetime.now(zone).date())
        return {
            "rows": rows, "lines": lines, "chosen": chosen, "days": days, "periods": PERIODS,
            "triggers": _columns(TRIGGERS, (o.missed for _, _, o in rows)),
            "reasons": _columns(REASONS, (o.skipped for _, _, o in rows)),
            "chart": svg_chart(series), "series": series,
        }

    async def calls(self, request: Request) -> Response:
        data = await run_in_threadpool(self._calls, request.query_params)
        return self.render(request, "calls.html", **data)

    def _calls(self, params: Any) -> dict[str, Any]:
        lines = self.lines()
        filters = q.Filters.parse(params, lines)
        with self.engine.store.engine.connect() as connection:
            page = q.page_of_calls(connection, lines, filters, params.get("after"))
        more = {**filters.params(), "after": page.next_cursor} if page.next_cursor else None
        return {
            "page": page, "lines": lines, "filters": filters, "triggers": ("answered", *TRIGGERS),
            "reasons": REASONS, "next_query": urlencode(more) if more else None,
            "first_query": urlencode(filters.params()), "local": _local_time(lines),
            "caller_url": _caller_url,
        }

    async def caller(self, request: Request) -> Response:
        params = request.path_params
        data = await run_in_threadpool(self._caller, params["flow"], params["caller"])
        if data is None:
            return PlainTextResponse("no such line", 404, headers=HEADERS)
        return self.render(request, "caller.html", **data)

    def _caller(self, flow_id: str, caller: str) -> dict[str, Any] | None:
        lines = self.lines()
        line = lines.get(flow_id)
        if line is None:
            return None
        with self.engine.store.engine.connect() as connection:
            history = q.caller_history(connection, line, caller)
        sms = self.flow_sms(line.id)
        return {
            "line": line, "caller": caller, "timeline": history.timeline(),
            "trace": lambda text: trace(text, sms), "local": _local_time(lines),
        }

    async def voicemail(self, request: Request) -> Response:
        """A call's voicemail, fetched from Twilio with the account's credentials."""
        url = await run_in_threadpool(self._recording_url, request.path_params["sid"])
        settings = self.engine.settings
        source = twilio_resource(url, settings.api_base) if url else None
        if source is None:
            return PlainTextResponse("no voicemail", 404, headers=HEADERS)
        return await _relay(f"{source}.wav", settings)

    def _recording_url(self, sid: str) -> str | None:
        with self.engine.store.engine.connect() as connection:
            query = select(calls.c.recording_url).where(calls.c.call_sid == sid)
            value = connection.execute(query).scalar()
        return str(value) if value else None

    # --- login ----------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        if request.session.get("user"):
            return _redirect(_next(request.query_params.get("next")))
        return self._login_page(request, request.query_params.get("next"))

    def _login_page(
        self, request: Request, wanted: str | None, error: str | None = None, status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        response = self.render(
            request, "login.html", status, named=self.users.named, next=_next(wanted),
            error=error,
        )
        response.headers.update(headers or {})
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        wanted = str(form.get("next") or "")
        if not valid_csrf(request, form.get("csrf"), self.engine.base_url(request)):
            return self._login_page(request, wanted, "The form expired; please try again.", 403)
        name = str(form.get("name") or "") if self.users.named else ""
        keys = [f"address:{request.client.host if request.client else ''}", f"user:{name}"]
        wait = self.throttle.wait(keys)
        if wait > 0:
            seconds = str(int(wait) + 1)
            message = f"Too many wrong passwords. Try again in {seconds} seconds."
            return self._login_page(request, wanted, message, 429, {"Retry-After": seconds})
        if not self.users.check(name, str(form.get("password") or "")):
            self.throttle.failed(keys)
            log.warning("A dashboard login failed for %r.", name or "owner")
            return self._login_page(request, wanted, "Wrong name or password.", 401)
        self.throttle.succeeded(keys)
        request.session.clear()
        request.session["user"] = name or "owner"
        csrf_token(request.session)
        log.info("%s logged in to the dashboard.", name or "owner")
        return _redirect(_next(wanted))

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if valid_csrf(request, form.get("csrf"), self.engine.base_url(request)):
            request.session.clear()
        return _redirect(f"{PREFIX}/login")


async def _relay(url: str, settings: Any) -> Response:
    """Stream a Twilio media URL to the browser, so the page fetches nothing from outside."""
    auth = (settings.account_sid, settings.auth_token) if settings.sends_texts else None
    client = httpx.AsyncClient(timeout=30)
    try:
        upstream = await client.send(client.build_request("GET", url), auth=auth, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        log.warning("Twilio did not give the voicemail %s: %s.", url, exc)
        return PlainTextResponse("Twilio did not answer", 502, headers=HEADERS)
    if upstream.status_code != 200:
        await upstream.aclose()
        await client.aclose()
        return PlainTextResponse(f"Twilio answered {upstream.status_code}", 502, headers=HEADERS)

    async def body() -> Any:
        try:
            async for chunk in upstream.aiter_bytes():
                yield chunk
        finally:
            await upstream.aclose()
            await client.aclose()

    headers = {**HEADERS, "Cache-Control": "private, no-store"}
    return StreamingResponse(body(), media_type="audio/wav", headers=headers)


def q_since(days: int) -> datetime | None:
    """The start of the overview's period; None for all time (0 days)."""
    return datetime.now(UTC) - timedelta(days=days) if days > 0 else None


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else default


def _first_zone(lines: dict[str, q.Line]) -> Any:
    """The zone of "all lines": the first line's, by name (most businesses have one zone)."""
    ordered = sorted(lines.values(), key=lambda line: line.business)
    return ordered[0].zone if ordered else UTC


def _columns(known: tuple[str, ...], seen: Any) -> list[str]:
    """The known keys, then any other key some row has, so no count is hidden."""
    extra = sorted({key for counts in seen for key in counts} - set(known))
    return [*known, *extra]


def _next(wanted: str | None) -> str:
    """Where to go after login: a dashboard path only, never another site."""
    if wanted and wanted.startswith(PREFIX + "/") and "//" not in wanted and "\\" not in wanted:
        return wanted
    return PREFIX + "/"


def _local_time(lines: dict[str, q.Line]) -> Callable[[str, datetime], str]:
    def local(flow_id: str, moment: datetime) -> str:
        line = lines.get(flow_id)
        return q.aware(moment).astimezone(line.zone if line else UTC).strftime("%Y-%m-%d %H:%M %Z")

    return local


def _caller_url(flow_id: str, caller: str) -> str:
    return f"{PREFIX}/callers/{quote(flow_id, safe='')}/{quote(caller, safe='+')}"
