"""GET /api/health: actors from the supervision tree, database, modem, status."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import aiohttp
import serial
from aiohttp import web

from arpi.actors import Actor, Backoff, ChildSpec, Crash, Lifecycle, Ping, Supervisor
from arpi.actors.gsm import GetModemStatus, GsmActor, ModemStatus
from arpi.db import Database
from arpi.drivers.fake_modem import FakeModem
from arpi.drivers.gsm import GsmModem
from arpi.http.health import setup_health
from arpi.http.registry import FRONT
from arpi.ops.health import modem_report, overall_status
from tests.helpers import wait_for
from tests.ops.conftest import make_ctx


class Quiet(Actor):
    """Answers only the built-in messages."""


class GoodModem(Actor):
    """A `gsm` stand-in whose modem is fine and registered."""

    def handle(self, message: object) -> object:
        if isinstance(message, GetModemStatus):
            return ModemStatus("ok", registration="home", signal=20)
        return super().handle(message)


SLOW = Backoff(initial=100.0, maximum=100.0, jitter=0.0)


def _tree(ctx, gsm: ChildSpec | None = None):
    children = [
        ChildSpec("alarm", Quiet, backoff=SLOW),
        gsm or ChildSpec("gsm", GoodModem, backoff=SLOW),
        ChildSpec("keypad", Quiet, backoff=SLOW),
    ]
    ref = Supervisor.start(
        ctx, name="root", children=children, intensity=10, period=1.0
    )
    ref.ask(Ping(), timeout=10)  # answered once every child has started
    return ref


def _get_health(ctx) -> tuple[int, dict, str]:
    async def scenario():
        # The route on its own app: build_app still has a placeholder at this path.
        app = web.Application()
        app[FRONT] = SimpleNamespace(ctx=ctx)
        setup_health(app, db_timeout=5.0)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/health"
            async with aiohttp.ClientSession() as session, session.get(url) as resp:
                text = await resp.text()
                return resp.status, json.loads(text), text
        finally:
            await runner.cleanup()

    return asyncio.run(scenario())


def _crash_and_wait(ctx, name):
    failed = []
    ctx.bus.subscribe(
        Lifecycle,
        lambda e: (
            failed.append(e)
            if e.name == name and e.kind == "restart_scheduled"
            else None
        ),
    )
    ctx.directory.address(name).tell(Crash("crash"))
    wait_for(lambda: failed, what=f"{name} restart scheduled")


def test_all_running_is_ok_with_every_actor(db):
    ctx = make_ctx(db)
    _tree(ctx)

    status, body, _ = _get_health(ctx)

    assert status == 200 and body["status"] == "ok"
    names = [a["name"] for a in body["actors"]]
    assert names == ["root", "alarm", "gsm", "keypad"]
    alarm = body["actors"][1]
    assert set(alarm) >= {"state", "restarts", "last_failure", "inbox_depth"}
    assert body["database"]["status"] == "ok"
    assert body["modem"]["status"] == "ok"
    assert body["modem"]["registration"] == "home"


def test_a_silent_modem_is_degraded_not_failing(db):
    modem = FakeModem()
    try:
        modem.set_mode("silent")

        def build() -> GsmModem:
            return GsmModem(
                lambda: serial.serial_for_url(modem.port, 9600, timeout=0.05),
                command_timeout=0.2,
                health_timeout=0.2,
            )

        ctx = make_ctx(db)
        root = _tree(
            ctx, ChildSpec("gsm", GsmActor, {"modem_factory": build}, backoff=SLOW)
        )
        try:
            status, body, _ = _get_health(ctx)
        finally:
            root.stop(block=True, timeout=10)
    finally:
        modem.close()

    assert (status, body["status"]) == (200, "degraded")
    assert body["modem"]["status"] == "degraded"
    assert body["modem"]["state"] == "silent"
    assert "silent" in body["modem"]["reason"]
    gsm = next(a for a in body["actors"] if a["name"] == "gsm")
    assert gsm["state"] == "running"  # the actor is fine: only the modem is not


def test_modem_report_from_status():
    assert modem_report(ModemStatus("ok"))["status"] == "ok"
    searching = modem_report(ModemStatus("ok", registration="searching", signal=3))
    assert searching["status"] == "degraded"
    assert "searching" in searching["reason"]
    absent = modem_report(ModemStatus("absent", "cannot open the modem port: gone"))
    assert absent["status"] == "degraded" and "absent" in absent["reason"]


def test_a_restarting_device_is_degraded_and_its_failure_shown(db):
    ctx = make_ctx(db)
    _tree(ctx)
    _crash_and_wait(ctx, "keypad")

    status, body, _ = _get_health(ctx)

    keypad = next(a for a in body["actors"] if a["name"] == "keypad")
    assert status == 200 and body["status"] == "degraded"
    assert keypad["state"] == "restarting"
    assert "InjectedCrash" in keypad["last_failure"]


def test_a_down_modem_or_alarm(db):
    ctx = make_ctx(db)
    _tree(ctx)
    _crash_and_wait(ctx, "gsm")
    status, body, _ = _get_health(ctx)
    assert (status, body["status"], body["modem"]["status"]) == (
        200,
        "degraded",
        "down",
    )

    _crash_and_wait(ctx, "alarm")
    status, body, _ = _get_health(ctx)
    assert (status, body["status"]) == (503, "failing")


def test_database_down_is_failing_and_leaks_no_password():
    ctx = make_ctx(Database("postgresql://arpi:pw-s3cret@127.0.0.1:1/arpi"))
    _tree(ctx)

    status, body, text = _get_health(ctx)

    assert status == 503 and body["status"] == "failing"
    assert body["database"]["status"] == "down"
    assert "pw-s3cret" not in text


def test_no_tree_is_failing():
    status, body, _ = _get_health(make_ctx(None))

    assert status == 503 and body["actors"][0]["state"] == "down"


def test_overall_status_table():
    running = {"name": "x", "state": "running", "alive": True}
    root = {**running, "name": "root"}
    ok_db, modem = {"status": "ok"}, {"status": "absent"}

    assert overall_status([root, running], ok_db, modem) == "ok"
    assert (
        overall_status([root, {**running, "state": "starting"}], ok_db, modem)
        == "degraded"
    )
    assert (
        overall_status([root, running], ok_db, {"status": "unresponsive"}) == "degraded"
    )
    assert (
        overall_status(
            [
                root,
                {**running, "name": "storage", "state": "restarting", "alive": False},
            ],
            ok_db,
            modem,
        )
        == "failing"
    )
    assert overall_status([root], {"status": "timeout"}, modem) == "failing"
    assert overall_status([], ok_db, modem) == "failing"
