"""Fixtures for the web front: a real server on 127.0.0.1, real PostgreSQL, clients.

Each test runs its own event loop (`asyncio.run`): the front listens on a free port,
aiohttp and python-socketio clients talk to it over TCP, and everything is stopped
before the test returns.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import socketio

from arpi.actors import Actor, Directory
from arpi.bus import Bus
from arpi.clock import ManualClock
from arpi.context import Context
from arpi.db.storage import DatabaseWriter
from arpi.http.alarm_api import Arm, Disarm, GetAlarmStatus, ReloadConfig
from arpi.http.app import FRONT, start_front, stop_front
from arpi.http.origins import DEFAULT_ORIGINS

SECRET = "test-secret-for-the-front-0123456789abcdef"
ORIGIN = "http://localhost:4200"
ADMIN_ID = 1


@pytest.fixture
def ctx(db: Any) -> Any:
    settings = SimpleNamespace(
        secret=SECRET,
        cors_origins=DEFAULT_ORIGINS,
        board="3",
        input_number=15,
        output_number=8,
        version="v1.2.3:abc1234",
        bcrypt_rounds=4,
        tls_cert=None,
        mcp_secret="mcp-test-secret-0123456789abcdef0123",
    )
    clock = ManualClock(start=1000.0, wall=datetime.now(UTC))
    context = Context(
        settings=settings, clock=clock, directory=Directory(), bus=Bus(), db=db
    )
    storage = DatabaseWriter.start(context, name="storage")
    yield context
    storage.stop()


class Api:
    """A thin JSON client: `await api.call("GET", "/api/x", token=...)`."""

    def __init__(
        self, session: aiohttp.ClientSession, base: str, front: Any, ctx: Context
    ) -> None:
        self.session = session
        self.base = base
        self.front = front
        self.ctx = ctx

    def token(
        self, role: str = "admin", user_id: int = ADMIN_ID, name: str = "Administrator"
    ) -> str:
        return self.front.tokens.user_token(user_id, name, role, ORIGIN)

    def device(self, user_id: int = ADMIN_ID, origin: str = ORIGIN) -> str:
        return self.front.tokens.device_token(user_id, "127.0.0.1", origin)

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = ...,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, Any]:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": hdrs, "allow_redirects": False}
        if json is not ...:
            kwargs["json"] = json
        elif data is not None:
            kwargs["data"] = data
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            text = await resp.text()
            body: Any = text
            if resp.content_type == "application/json" and text:
                body = __import__("json").loads(text)
            return resp.status, body, resp.headers

    async def admin(self, method: str, path: str, **kw: Any) -> tuple[int, Any, Any]:
        return await self.call(method, path, token=self.token(), **kw)

    async def socket(
        self,
        token: str | None = None,
        origin: str = ORIGIN,
        events: list[tuple[str, Any]] | None = None,
        transports: list[str] | None = None,
    ) -> socketio.AsyncClient:
        """A connected python-socketio client recording every event into `events`."""
        client = socketio.AsyncClient(reconnection=False)
        record = events if events is not None else []

        @client.on("*")
        async def any_event(name: str, data: Any = None) -> None:
            record.append((name, data))

        client.recorded = record  # type: ignore[attr-defined]
        token = token if token is not None else self.device()
        await client.connect(
            f"{self.base}?token={token}",
            headers={"Origin": origin},
            transports=transports or ["websocket"],
            socketio_path="socket.io",
            wait_timeout=5,
        )
        return client


def serve(ctx: Context, scenario: Callable[[Api], Awaitable[None]]) -> None:
    """Run `scenario(api)` against a front started for this test, then stop it."""

    async def main() -> None:
        runner = await start_front(ctx, "127.0.0.1", 0)
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                await scenario(
                    Api(session, f"http://127.0.0.1:{port}", runner.app[FRONT], ctx)
                )
        finally:
            await stop_front(runner)

    asyncio.run(main())


class StandInAlarm(Actor):
    """TEMPORARY stand-in for the AlarmLogic actor, until the real one is wired.

    Answers Arm/Disarm/GetAlarmStatus like the real actor's contract says and
    records what it received; `refuse` makes Arm fail with blocking sensors.
    """

    def __init__(
        self, ctx: Context, *, record: list[Any], refuse: bool = False, **kw: Any
    ) -> None:
        super().__init__(ctx, **kw)
        self.record = record
        self.refuse = refuse
        self.arm_state = "disarm"

    def handle(self, message: object) -> object:
        self.record.append(message)
        if isinstance(message, Arm):
            if self.refuse and not message.force:
                return SimpleNamespace(
                    ok=False,
                    error="sensors are active",
                    sensors=(SimpleNamespace(id=7, name="Front door"),),
                )
            self.arm_state = message.mode
            return SimpleNamespace(ok=True, error=None, sensors=())
        if isinstance(message, Disarm):
            self.arm_state = "disarm"
            return SimpleNamespace(ok=True, error=None)
        if isinstance(message, GetAlarmStatus):
            return SimpleNamespace(
                monitoring_state="monitoring_ready",
                arm_state=self.arm_state,
                areas=((1, self.arm_state),),
                alert=None,
                syren=None,
                sensors_alert=False,
                sensors_error=False,
            )
        if isinstance(message, ReloadConfig):
            return None
        return super().handle(message)


@pytest.fixture
def alarm(ctx: Context) -> Any:
    """The stand-in alarm registered as `alarm`; its received messages in `.record`."""
    record: list[Any] = []
    ref = StandInAlarm.start(ctx, name="alarm", record=record)
    yield SimpleNamespace(ref=ref, record=record)
    ref.stop()


def wait_loop_free() -> None:
    assert threading.current_thread() is threading.main_thread()
