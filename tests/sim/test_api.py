"""The control API on a real front (127.0.0.1), with fake buses and a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from arpi.clock import RealClock
from arpi.context import Context
from arpi.drivers.wiring import CUT_LEVEL
from arpi.http.app import build_app
from arpi.sim.api import SIMULATOR, _is_loopback, _loopback_only, setup_simulator

Scenario = Callable[[aiohttp.ClientSession, str], Awaitable[None]]


def serve(ctx: Context, scenario: Scenario) -> None:
    async def main() -> None:
        app = build_app(ctx, simulate=True)
        setup_simulator(app)
        setup_simulator(app)  # idempotent (build_app may already have done it)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                await scenario(session, f"http://127.0.0.1:{port}/api/simulator")
        finally:
            await runner.cleanup()
            app[SIMULATOR].close()

    asyncio.run(main())


async def call(
    session: aiohttp.ClientSession, method: str, url: str, body: Any = ...
) -> tuple[int, Any]:
    kwargs = {} if body is ... else {"json": body}
    async with session.request(method, url, **kwargs) as response:
        return response.status, await response.json()


def test_lines_follow_the_configured_wiring(demo_db: Any, ctx: Context) -> None:
    ctx = Context(**{**ctx.__dict__, "db": demo_db, "app": SimpleNamespace()})

    async def scenario(session: aiohttp.ClientSession, base: str) -> None:
        status, state = await call(session, "GET", f"{base}/state")
        assert status == 200
        door = state["channels"][0]
        assert door["sensors"][0]["name"] == "Front door"
        status, view = await call(
            session, "PUT", f"{base}/channel/0", {"state": "active"}
        )
        assert (status, view["state"], view["level"]) == (
            200,
            "active",
            round(CUT_LEVEL, 4),
        )
        assert view["sensors"][0]["state"] == "active"
        status, view = await call(
            session, "PUT", f"{base}/channel/2", {"state": "idle"}
        )
        assert view["wiring"]["eol"] == "double"
        assert view["state"] == "idle"
        status, view = await call(session, "PUT", f"{base}/channel/3", {"level": 0.3})
        assert (status, view["state"]) == (200, "fault")
        status, answer = await call(
            session, "PUT", f"{base}/power", {"source": "battery"}
        )
        assert status == 200
        status, state = await call(session, "GET", f"{base}/state")
        assert state["power"] == "battery"
        assert state["clock"]["mode"] == "manual"
        assert len(state["outputs"]) == 8 and state["siren"] is False

    serve(ctx, scenario)
    assert ctx.drivers.hardware.adc[1].raw(0) > 512  # battery on the power input


def test_every_body_is_checked_and_names_the_field(ctx: Context) -> None:
    async def scenario(session: aiohttp.ClientSession, base: str) -> None:
        cases = [
            ("PUT", "/channel/1", {"state": "open"}, 400, "state"),
            ("PUT", "/channel/1", {}, 400, "state or level"),
            ("PUT", "/channel/1", {"level": -0.1}, 400, "level"),
            ("PUT", "/channel/15", {"state": "idle"}, 404, "channel"),
            ("PUT", "/power", {"source": 1}, 400, "source"),
            ("PUT", "/gsm", {}, 400, "mode"),
            ("POST", "/keypad", {"keys": ""}, 400, "keys"),
            ("POST", "/keypad", {"card": "12a"}, 400, "card"),
            ("POST", "/clock", {"advance": "soon"}, 400, "advance"),
            ("POST", "/fault", {"actor": "front", "kind": "explode"}, 400, "kind"),
            ("POST", "/fault", {"actor": "alarm", "kind": "crash"}, 404, "actor"),
            (
                "POST",
                "/fault",
                {"actor": "x", "kind": "crash", "extra": 1},
                400,
                "extra",
            ),
        ]
        for method, path, body, status, word in cases:
            got, answer = await call(session, method, base + path, body)
            assert (got, word in answer["error"]) == (status, True), (path, answer)
        async with session.put(f"{base}/power", data=b"{not json") as response:
            assert response.status == 400
            assert "body" in (await response.json())["error"]

        # Valid bodies reach the fake buses.
        assert (await call(session, "PUT", f"{base}/gsm", {"mode": "silent"}))[0] == 200
        for body in ({"keys": "12#"}, {"card": 123456}):
            assert (await call(session, "POST", f"{base}/keypad", body))[0] == 200
        status, clock = await call(session, "POST", f"{base}/clock", {"advance": 30})
        assert status == 200 and clock["monotonic"] == 1030.0
        status, messages = await call(session, "GET", f"{base}/gsm/messages")
        assert status == 200 and messages["mode"] == "silent"
        assert messages["sms"] == [] and messages["calls"] == []
        status, spec = await call(
            session, "GET", base.replace("/simulator", "") + "/openapi.json"
        )
        assert "/api/simulator/channel/{channel}" in spec["paths"]
        put = spec["paths"]["/api/simulator/channel/{channel}"]["put"]
        schema = put["requestBody"]["content"]["application/json"]["schema"]
        assert "both_active" in schema["properties"]["state"]["enum"]

    serve(ctx, scenario)
    assert ctx.drivers.hardware.modem.mode == "silent"


def test_time_moves_by_hand_only_with_a_manual_clock(ctx: Context) -> None:
    clock = RealClock()
    ctx = Context(**{**ctx.__dict__, "clock": clock})

    async def scenario(session: aiohttp.ClientSession, base: str) -> None:
        status, answer = await call(session, "POST", f"{base}/clock", {"advance": 1})
        assert status == 409
        assert "--clock manual" in answer["error"]

    try:
        serve(ctx, scenario)
    finally:
        clock.close()


def test_only_loopback_peers_are_served() -> None:
    assert _is_loopback("127.0.0.1") and _is_loopback("::1")
    assert _is_loopback("::ffff:127.0.0.1")
    assert not _is_loopback("192.168.1.20") and not _is_loopback(None)
    assert not _is_loopback("not an address")

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"served": True})

    guarded = _loopback_only(handler)

    async def main() -> tuple[int, int]:
        statuses = []
        for peer in ("192.0.2.7", "127.0.0.1"):
            transport = SimpleNamespace(
                get_extra_info=lambda name, default=None, p=peer: (
                    (p, 5555) if name == "peername" else default
                )
            )
            request = make_mocked_request(
                "GET", "/api/simulator/state", transport=transport
            )
            statuses.append((await guarded(request)).status)
        return statuses[0], statuses[1]

    assert asyncio.run(main()) == (403, 200)
