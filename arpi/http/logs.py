"""The live log for admins: `GET /api/logs` and the `log_record` Socket.IO event.

`setup_logs(app)` adds the route and, for the app's lifetime, a `LogStream` that
turns every new record of `arpi.logs.log_buffer` into an admin-only UI event (the
front delivers those only to sockets authenticated as an admin).
"""

from __future__ import annotations

from aiohttp import web

from arpi.http.errors import json_response
from arpi.http.registry import FRONT, Auth, Req, Route, register_route
from arpi.http.schema import Field
from arpi.logs import LEVELS, LogBuffer, log_buffer
from arpi.ops.logstream import LogStream

__all__ = ["BUFFER_KEY", "LOGS_ROUTE", "MAX_LIMIT", "setup_logs"]

MAX_LIMIT = 2000
BUFFER_KEY = web.AppKey("arpi_log_buffer", LogBuffer)

LOGS_QUERY = {
    "since": Field(
        "integer", minimum=0, default=0, description="only records with a larger seq"
    ),
    "level": Field("string", enum=LEVELS, description="lowest level"),
    "component": Field(
        "string",
        min_length=1,
        max_length=100,
        pattern=r"[A-Za-z0-9_.-]+",
        description="logger or actor name (prefix by dots)",
    ),
    "limit": Field(
        "integer",
        minimum=1,
        maximum=MAX_LIMIT,
        default=500,
        description="at most this many, the newest",
    ),
}


async def get_logs(req: Req) -> web.Response:
    buffer: LogBuffer = req.request.app.get(BUFFER_KEY, log_buffer)
    query = req.query
    since = query["since"]
    records = buffer.records(
        since=since,
        level=query.get("level"),
        component=query.get("component"),
        limit=query["limit"],
    )
    last = records[-1]["seq"] if records else since
    return json_response({"records": records, "last_seq": last})


LOGS_ROUTE = Route(
    "GET",
    "/api/logs",
    get_logs,
    Auth.ADMIN,
    query=LOGS_QUERY,
    summary="Recent log records, oldest first (admin)",
    responses={200: "{records: [...], last_seq: n}", 400: "bad query parameter"},
    tag="operations",
)


def setup_logs(
    app: web.Application,
    *,
    buffer: LogBuffer = log_buffer,
    rate: float = 50.0,
    burst: int = 200,
) -> None:
    """Add `GET /api/logs` and the admin log stream to an app made by `build_app`
    (it needs `app[FRONT]`). Call before the app starts. The stream is attached
    on startup and detached on cleanup; `rate`/`burst` bound the records per
    second sent to sockets."""
    app[BUFFER_KEY] = buffer
    register_route(app, LOGS_ROUTE)
    streams: list[LogStream] = []

    async def attach(app: web.Application) -> None:
        stream = LogStream(app[FRONT].ctx.bus, buffer, rate=rate, burst=burst)
        stream.attach()
        streams.append(stream)

    async def detach(app: web.Application) -> None:
        while streams:
            streams.pop().detach()

    app.on_startup.append(attach)
    app.on_shutdown.insert(0, detach)
