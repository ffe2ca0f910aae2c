"""Health report: an actor that misses its liveness ping is `hung`, not running."""

from __future__ import annotations

import asyncio
from typing import Any

from arpi.actors import Actor, ChildSpec, Crash, Lifecycle, Ping, Supervisor
from arpi.actors._messages import _CheckLiveness
from arpi.ops.health import collect_health, overall_status
from tests.helpers import wait_for
from tests.ops.conftest import make_ctx


class Quiet(Actor):
    """Answers only the built-in messages."""


def _tree(ctx):
    ref = Supervisor.start(
        ctx,
        name="root",
        children=[ChildSpec("alarm", Quiet), ChildSpec("keypad", Quiet)],
        liveness_interval=None,  # the test tells the checks itself
        liveness_timeout=0.05,
    )
    ref.ask(Ping(), timeout=10)
    return ref


def _health(ctx) -> tuple[dict[str, Any], int]:
    return asyncio.run(collect_health(ctx, actor_timeout=5.0))


def _state(report: dict[str, Any], name: str) -> str:
    return next(a["state"] for a in report["actors"] if a["name"] == name)


def _hang(ctx, root, name: str) -> tuple[dict[str, Any], int]:
    ctx.directory.address(name).tell(Crash("hang"))
    root.tell(_CheckLiveness())  # its liveness Ping now waits behind the hang
    return wait_for(
        lambda: (
            (r := _health(ctx))[0]["status"] != "ok"
            and _state(r[0], name) == "hung"
            and r
        ),
        what=f"{name} reported hung",
    )


def test_hung_device_is_degraded_and_a_hung_alarm_is_failing():
    ctx = make_ctx(None)
    root = _tree(ctx)
    report, status = _health(ctx)
    assert (status, report["status"]) == (200, "ok")

    report, status = _hang(ctx, root, "keypad")
    assert (status, report["status"], _state(report, "alarm")) == (
        200,
        "degraded",
        "running",
    )

    report, status = _hang(ctx, root, "alarm")
    assert (status, report["status"]) == (503, "failing")
    assert "hung" in report["error"]


def test_hung_actor_is_replaced_at_the_next_check():
    ctx = make_ctx(None)
    restarted: list[Lifecycle] = []
    ctx.bus.subscribe(
        Lifecycle, lambda e: restarted.append(e) if e.kind == "restarted" else None
    )
    root = _tree(ctx)
    _hang(ctx, root, "alarm")

    root.tell(_CheckLiveness())
    wait_for(lambda: restarted, what="alarm restarted")

    report, status = _health(ctx)
    alarm = next(a for a in report["actors"] if a["name"] == "alarm")
    assert (status, report["status"]) == (200, "ok")
    assert (alarm["state"], alarm["incarnation"], alarm["restarts"]) == (
        "running",
        1,
        1,
    )
    assert alarm["last_failure"].startswith("hung: no answer")


def test_overall_status_counts_hung_as_not_running():
    root = {"name": "root", "state": "running", "alive": True}
    ok_db, modem = {"status": "ok"}, {"status": "absent"}
    hung = {"state": "hung", "alive": True}

    assert overall_status([root, {**hung, "name": "keypad"}], ok_db, modem) == (
        "degraded"
    )
    for name in ("storage", "core", "alarm", "siren", "outputs"):
        assert overall_status([root, {**hung, "name": name}], ok_db, modem) == (
            "failing"
        )
