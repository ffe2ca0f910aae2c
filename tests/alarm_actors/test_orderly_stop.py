"""An orderly stop of the tree raises no false sabotage (the banks stop quietly)."""

from __future__ import annotations

import threading

from arpi.actors import ChildSpec, Ping, Strategy, Supervisor, release_hangs
from arpi.actors.alarm import AlarmLogic
from arpi.actors.sensor_bank import SensorBankActor
from arpi.actors.testing import FaultPlan, FaultyChild, LifecycleProbe, Recorder
from arpi.db import Database
from arpi.db.storage import DatabaseWriter
from tests.alarm_actors.rig import TIMEOUT, Core, count
from tests.helpers import wait_for


def test_stopping_a_tree_with_a_slow_core_records_no_alert(seeded: Database) -> None:
    core = Core(seeded)
    plan = FaultPlan(hang_teardown=True)
    recorder = Recorder()
    lifecycle = LifecycleProbe(core.ctx.bus)
    children = (
        ChildSpec("storage", DatabaseWriter),
        ChildSpec(
            "core",
            Supervisor,
            options={
                "strategy": Strategy.REST_FOR_ONE,
                "children": (
                    ChildSpec("alarm", AlarmLogic),
                    # Stopped first (reverse order) and slow to stop: the alarm
                    # keeps running while the hardware is already down.
                    ChildSpec(
                        "slow", FaultyChild, {"plan": plan, "recorder": recorder}
                    ),
                ),
            },
        ),
        ChildSpec(
            "hardware",
            Supervisor,
            options={
                "strategy": Strategy.ONE_FOR_ONE,
                "children": (ChildSpec("sensors0", SensorBankActor, {"bank": 0}),),
            },
        ),
    )
    root = Supervisor.start(
        core.ctx, name="root", strategy=Strategy.ONE_FOR_ONE, children=children
    )
    stopper: threading.Thread | None = None
    try:
        root.ask(Ping(), timeout=TIMEOUT)
        core.ctx.directory.address("sensors0").ask(Ping(), timeout=TIMEOUT)
        core.advance(0.1)  # a few scans: every line idle
        assert core.status().monitoring_state == "monitoring_ready"

        mark = core.mark()
        stopper = threading.Thread(
            target=lambda: root.stop(block=True, timeout=3 * TIMEOUT)
        )
        stopper.start()
        lifecycle.wait("sensors0", "stopped")
        wait_for(lambda: "slow" in recorder.names("teardown"), TIMEOUT, "slow teardown")

        # The core takes far longer than the line-fault grace time to stop.
        core.advance(10)
        assert core.status().monitoring_state == "monitoring_ready"
        assert count(seeded, "alert") == 0
        assert core.published_since(mark, "alert_state_change") == []
    finally:
        release_hangs()
        if stopper is not None:
            stopper.join(3 * TIMEOUT)
        if root.is_alive():
            root.stop(block=True, timeout=TIMEOUT)
        lifecycle.close()
        core.close()
