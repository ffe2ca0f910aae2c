"""GET /api/health: actors from the supervision tree, database, modem, status."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import aiohttp
from aiohttp import web

from arpi.actors import Actor, Backoff, ChildSpec, Crash, Lifecycle, Ping, Supervisor
from arpi.db import Database
from arpi.http.health import setup_health
from arpi.http.registry import FRONT
from arpi.ops.health import overall_status
from tests.helpers import wait_for
from tests.ops.conftest import make_ctx


class Quiet(Actor):
    """Answers only the built-in messages."""


SLOW = Backoff(initial=100.0, maximum=100.0, jitter=0.0)


def _tree(ctx):
    children = [
        ChildSpec("alarm", Quiet, backoff=SLOW),
        ChildSpec("gsm", Quiet, backoff=SLOW),
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
    assert body["modem"]["status"] == "responding"


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
