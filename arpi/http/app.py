"""The aiohttp application of the web front: routes, middlewares, Socket.IO, serving.

`build_app(ctx)` makes the application with the python-socketio server attached at
`/socket.io/`; `start_front(ctx, host, port)` serves it and returns the runner;
`stop_front(runner)` stops it. All three run on the asyncio loop of the main thread.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from arpi.http import routes  # noqa: F401 - importing fills the route table
from arpi.http.errors import ApiError, error_response
from arpi.http.front import Front
from arpi.http.health import setup_health
from arpi.http.logs import setup_logs
from arpi.http.registry import FRONT, ROUTES, make_handler
from arpi.http.settings import FrontSettings
from arpi.http.webui import setup_webui

__all__ = ["FRONT", "FrontStartError", "build_app", "start_front", "stop_front"]


log = structlog.get_logger("arpi.http")

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ALLOW_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
_SOCKET_PREFIX = "/socket.io/"


class FrontStartError(Exception):
    """The front could not start serving (e.g. the port is in use)."""


@web.middleware
async def _errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Every failure becomes JSON `{"error": ...}`; never a bare 500 for input."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if request.path.startswith(_SOCKET_PREFIX):
            raise
        message = {
            404: "not found",
            405: "method not allowed",
            413: "body: too large",
        }.get(exc.status, exc.reason.lower())
        response = error_response(exc.status, message)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("request_failed", method=request.method, path=request.path)
        return error_response(500, "internal error")


def _cors(front: Front) -> Callable[[web.Request, _Handler], Awaitable[Any]]:
    @web.middleware
    async def cors(request: web.Request, handler: _Handler) -> web.StreamResponse:
        # Engine.IO answers CORS for its own path with the same origin policy.
        if request.path.startswith(_SOCKET_PREFIX):
            return await handler(request)
        origin = request.headers.get("Origin")
        allowed = origin is not None and front.origins.allows(origin)
        if request.method == "OPTIONS":
            # Every OPTIONS is answered here: preflights and the UI's reachability
            # probe of /api/version (reference section 0).
            response: web.StreamResponse = web.Response(status=204)
            if allowed:
                response.headers["Access-Control-Allow-Methods"] = _ALLOW_METHODS
                asked = request.headers.get("Access-Control-Request-Headers")
                response.headers["Access-Control-Allow-Headers"] = (
                    asked or "Authorization, Content-Type"
                )
                response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if allowed:
            assert origin is not None
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Expose-Headers"] = "User-Token"
            response.headers["Vary"] = "Origin"
        return response

    return cors


def build_app(
    ctx: Any, *, simulate: bool = False, log_options: dict[str, Any] | None = None
) -> web.Application:
    """The application for `ctx`; `app["front"]` is its `Front`.

    The front starts (bus subscription, emitter task) when the app starts and stops
    with it. Raises ValueError if the settings lack a token secret.
    """
    settings = FrontSettings.from_settings(getattr(ctx, "settings", None))
    front = Front(ctx, settings, simulate=simulate)
    app = web.Application(
        client_max_size=settings.max_body,
        middlewares=[_cors(front), _errors],
    )
    app[FRONT] = front
    for spec in ROUTES:
        app.router.add_route(spec.method, spec.path, make_handler(spec))
    front.sio.attach(app, socketio_path="socket.io")
    setup_logs(app, **(log_options or {}))
    setup_health(app)
    if simulate:
        from arpi.sim.api import setup_simulator

        setup_simulator(app)
    webui_dir = getattr(getattr(ctx, "settings", None), "webui_dir", None)
    if webui_dir is not None:
        # Last: its catch-all must come after every other route.
        setup_webui(app, webui_dir)

    async def on_startup(app: web.Application) -> None:
        await front.start()

    async def on_shutdown(app: web.Application) -> None:
        await front.stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app


async def start_front(
    ctx: Any, host: str, port: int, *, simulate: bool = False
) -> web.AppRunner:
    """Serve the front on `host:port` (0 = any free port). Runs on the loop.

    Returns the runner (`runner.app[FRONT]` is the Front); its bound port is
    `runner.addresses[0][1]`. Raises FrontStartError naming the address when it
    cannot listen (port in use).
    """
    app = build_app(ctx, simulate=simulate)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=2.0
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise FrontStartError(
                f"cannot listen on {host}:{port}: the address is already in use"
            ) from None
        raise FrontStartError(
            f"cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    log.info("front_listening", host=host, port=runner.addresses[0][1])
    return runner


async def stop_front(runner: web.AppRunner) -> None:
    """Stop serving, disconnect sockets, close the front's DB threads. On the loop."""
    await runner.cleanup()
    log.info("front_stopped")
