"""Output events have one publisher (the alarm core): never twice per change."""

from __future__ import annotations

from arpi.db import Database
from tests.alarm_actors.rig import Core, query


def test_arming_publishes_each_output_change_once(seeded: Database) -> None:
    query(
        seeded,
        "INSERT INTO output (id, name, channel, trigger_type, enabled) VALUES"
        " (7, 'Armed', 3, 'system', true)",
    )
    core = Core(seeded).start()
    try:
        mark = core.mark()
        assert core.arm().ok
        core.settle_outputs()
        core.wait_chip(False)  # the siren stays off; channel 3 follows the arm
        assert core.hardware.drv8860.channel_states()[3]

        singular = core.published_since(mark, "output_state_change")
        plural = core.published_since(mark, "outputs_state_change")
        assert singular == [{"id": 7, "state": True}]
        assert plural == [{"id": 7, "state": True}]
    finally:
        core.close()
