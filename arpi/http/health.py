"""`GET /api/health`: the process health probe (no auth; reveals no secrets).

200 with `status` `ok` or `degraded`, 503 with `failing`; the body is the report of
`arpi.ops.health.collect_health` (every actor's state, restarts, last failure and
inbox depth; database and modem status).
"""

from __future__ import annotations

from aiohttp import web

from arpi.http.errors import json_response
from arpi.http.registry import FRONT, Auth, Req, Route, register_route
from arpi.ops.health import DatabaseProbe, collect_health

__all__ = ["HEALTH_ROUTE", "setup_health"]

_PROBE_KEY = web.AppKey("arpi_health_probe", DatabaseProbe)


async def get_health(req: Req) -> web.Response:
    app = req.request.app
    report, status = await collect_health(req.front.ctx, database=app[_PROBE_KEY])
    return json_response(report, status=status, headers={"Cache-Control": "no-store"})


HEALTH_ROUTE = Route(
    "GET",
    "/api/health",
    get_health,
    Auth.NONE,
    summary="Health of the process: actors, database, modem",
    responses={200: "ok or degraded", 503: "failing"},
    tag="operations",
)


def setup_health(app: web.Application, *, db_timeout: float = 2.0) -> None:
    """Add `GET /api/health` to an app made by `build_app` (it needs
    `app[FRONT]`, whose `ctx` has `directory` and `db`). Call before the app
    starts."""
    app[_PROBE_KEY] = DatabaseProbe(app[FRONT].ctx.db, timeout=db_timeout)
    register_route(app, HEALTH_ROUTE)
