"""The Front actor: serves the aiohttp REST API and Socket.IO on the asyncio loop.

The listening socket belongs to the process (`Application` binds it before the tree
starts, so a port in use is one clear start-up error); each incarnation of this
actor serves on a duplicate of it, so a restart never leaves the port unbound.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp import web

from arpi.actors import Actor

__all__ = ["FrontActor"]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class FrontActor(Actor):
    """Owns one aiohttp runner. Options: `sock` (a bound, listening socket)."""

    _runner: web.AppRunner | None = None

    def setup(self) -> None:
        loop = self.ctx.loop
        if loop is None:
            raise RuntimeError("the front needs the process's asyncio loop")
        sock = self.options["sock"]
        assert isinstance(sock, socket.socket)
        future = asyncio.run_coroutine_threadsafe(self._serve(sock.dup()), loop)
        self._runner = future.result(timeout=START_TIMEOUT)

    async def _serve(self, sock: socket.socket) -> web.AppRunner:
        from arpi.http.app import build_app

        app = build_app(self.ctx, simulate=bool(self.ctx.settings.simulate))
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await runner.setup()
        ssl_context = self.options.get("ssl_context")
        site = web.SockSite(runner, sock, ssl_context=ssl_context)  # type: ignore[arg-type]
        await site.start()
        return runner

    def handle(self, message: object) -> object:
        return super().handle(message)

    def teardown(self) -> None:
        self._stop_serving()

    def release(self) -> None:
        try:
            self._stop_serving()
        except Exception as exc:  # noqa: BLE001 - release must not raise
            self.log.error("front_stop_failed", problem=str(exc))

    def _stop_serving(self) -> None:
        runner, self._runner = self._runner, None
        loop: Any = self.ctx.loop
        if runner is None or loop is None or loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)
        future.result(timeout=STOP_TIMEOUT)
