"""The dashboard: every missed call, every text and every reply, at a glance.

Served by the engine under `/dashboard`, and only when `RINGBACK_DASHBOARD_PASSWORD` (or
`RINGBACK_DASHBOARD_USERS`) is set: it holds personal data. Without either, nothing is
mounted and `/dashboard` answers 404 like any unknown URL.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

__all__ = ["dashboard_routes"]


def dashboard_routes(engine: Any) -> list[BaseRoute]:
    """The routes to add to the engine's app: none unless the dashboard is configured."""
    if not engine.settings.dashboard:
        return []
    from engine.dashboard.routes import routes

    return routes(engine)
