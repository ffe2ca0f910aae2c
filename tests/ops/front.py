"""A front served for one test: `build_app` plus the operations routes, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from arpi.http.app import build_app
from arpi.http.registry import FRONT
from arpi.http.webui import setup_webui
from tests.ops.conftest import ORIGIN

ADMIN_ID = 1


@dataclass
class Served:
    app: web.Application
    base: str
    front: Any
    session: aiohttp.ClientSession

    def device(self, user_id: int = ADMIN_ID) -> str:
        return self.front.tokens.device_token(user_id, "127.0.0.1", ORIGIN)

    def user(
        self, user_id: int = ADMIN_ID, role: str = "admin", name: str = "Administrator"
    ) -> str:
        return self.front.tokens.user_token(user_id, name, role, ORIGIN)

    async def get(
        self, path: str, token: str | None = None, **kw: Any
    ) -> tuple[int, Any, Any]:
        headers = dict(kw.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.session.get(
            self.base + path, headers=headers, allow_redirects=False, **kw
        ) as resp:
            text = await resp.text()
            return resp.status, text, resp.headers

    async def socket(
        self, device: str, user_token: str | None = None
    ) -> tuple[socketio.AsyncClient, list[tuple[str, Any]], Any]:
        client = socketio.AsyncClient(reconnection=False)
        events: list[tuple[str, Any]] = []

        @client.on("*")
        async def record(name: str, data: Any = None) -> None:
            events.append((name, data))

        await client.connect(
            f"{self.base}?token={device}",
            headers={"Origin": ORIGIN},
            transports=["websocket"],
            socketio_path="socket.io",
            wait_timeout=5,
        )
        ack = None
        if user_token is not None:
            ack = await client.call(
                "authenticate", {"user_token": user_token}, timeout=5
            )
        return client, events, ack


@asynccontextmanager
async def served(
    ctx: Any, *, webui: Any = None, ssl_context: Any = None, **log_options: Any
) -> AsyncIterator[Served]:
    app = build_app(ctx, log_options=log_options)
    if webui is not None:
        setup_webui(app, webui)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=2.0
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        scheme = "https" if ssl_context is not None else "http"
        base = f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession() as session:
            yield Served(app, base, app[FRONT], session)
    finally:
        await runner.cleanup()


def add_user(
    db: Any, name: str = "Bob", role: str = "user", access_code_hash: str = "x"
) -> int:
    conn = db.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                'INSERT INTO "user" (name, role, access_code, fourkey_code) '
                "VALUES (%s, %s, %s, 'x') RETURNING id",
                (name, role, access_code_hash),
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def set_access_code(db: Any, user_id: int, code: str) -> None:
    import bcrypt

    hashed = bcrypt.hashpw(code.encode(), bcrypt.gensalt(4)).decode()
    conn = db.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                'UPDATE "user" SET access_code = %s WHERE id = %s', (hashed, user_id)
            )
    finally:
        conn.close()
