"""Outputs (restore without clearing the siren, events, faults) and power transitions."""

from __future__ import annotations

import json
from datetime import timedelta

from arpi.actors.notifier import NotificationsQueued
from arpi.actors.outputs import GetOutputs, OutputsActor, SetOutput
from arpi.actors.power import PowerActor, PowerChanged
from arpi.actors.testing import LifecycleProbe
from arpi.db.storage import DatabaseWriter
from arpi.drivers.outputs import BOARD3_OUTPUT_PINS
from tests.helpers import wait_for


def add_output(rig, channel, *, state=False, default=False, enabled=True) -> int:
    rows = rig.query(
        "INSERT INTO output (name, channel, state, default_state, enabled, trigger_type)"
        " VALUES ('o', %s, %s, %s, %s, 'button') RETURNING id",
        (channel, state, default, enabled),
    )
    return rows[0][0]


def record_registers(rig) -> list[int]:
    """Every value the chip's output register is loaded with, from now on."""
    seen: list[int] = []
    latch = BOARD3_OUTPUT_PINS.latch

    def watch(pin: int, value: int) -> None:
        if pin == latch and value == 1:
            seen.append(rig.hardware.drv8860.register)

    rig.hardware.gpio.watch_outputs(watch)
    return seen


def test_outputs_restore_after_restart_without_clearing_the_siren(rig):
    wall = rig.clock.wall()
    rig.query(
        "UPDATE runtime_state SET siren_started_at = %s, siren_until = %s",
        (wall - timedelta(seconds=10), wall + timedelta(seconds=60)),
    )
    add_output(rig, 3, state=True)
    add_output(rig, 5, default=True)
    lifecycle = LifecycleProbe(rig.ctx.bus)

    outputs = rig.start(OutputsActor, "outputs")
    states = outputs.ask(GetOutputs(), timeout=10).states
    assert [c for c in range(8) if states[c]] == [0, 3, 5]
    assert rig.hardware.drv8860.channel_states() == states
    # The alarm core is the one publisher of output events (never twice).
    assert rig.inbox.ui("output_state_change") == []
    assert rig.inbox.ui("outputs_state_change") == []

    registers = record_registers(rig)
    rig.ctx.directory.lookup("outputs").stop(block=True)
    lifecycle.wait("outputs", "stopped")
    assert rig.hardware.drv8860.channel_states()[0], "release must keep the siren on"

    outputs = rig.start(OutputsActor, "outputs")
    assert outputs.ask(GetOutputs(), timeout=10).states[0]
    assert registers and all(value & 0x01 for value in registers), registers
    lifecycle.close()


def test_siren_off_when_its_run_ended_or_has_not_begun(rig):
    wall = rig.clock.wall()
    rig.query(
        "UPDATE runtime_state SET siren_started_at = %s, siren_until = %s",
        (wall - timedelta(seconds=100), wall - timedelta(seconds=10)),
    )
    outputs = rig.start(OutputsActor, "outputs")
    assert not outputs.ask(GetOutputs(), timeout=10).states[0]


def test_set_output_switches_and_leaves_output_events_to_the_alarm(rig):
    add_output(rig, 2)
    outputs = rig.start(OutputsActor, "outputs")

    outputs.tell(SetOutput(2, True))
    outputs.tell(SetOutput(0, True))
    states = outputs.ask(GetOutputs(), timeout=10).states

    assert states[:3] == (True, False, True)
    assert rig.hardware.drv8860.channel_states()[:3] == (True, False, True)
    assert rig.inbox.ui("output_state_change") == []
    assert rig.inbox.ui("outputs_state_change") == []


def test_fault_read_back_is_logged_and_published(rig):
    outputs = rig.start(OutputsActor, "outputs")
    rig.settle("outputs")  # the driver resets faults present at start
    rig.hardware.drv8860.set_fault(4, open_load=True)

    outputs.tell(SetOutput(4, True))
    reply = outputs.ask(GetOutputs(), timeout=10)

    assert reply.faults is not None and reply.faults.open_load[4]
    assert rig.inbox.ui("output_faults")[-1] == {"openLoad": [4], "overCurrent": []}


# -- power ------------------------------------------------------------------------------

POLL = 0.25
HOLD = 1.0


def poll(rig, times: int = 1) -> None:
    for _ in range(times):
        rig.step(POLL, "power")


def stored_source(rig):
    return rig.query("SELECT power_source FROM runtime_state")[0][0]


def start_power(rig, **options):
    address = rig.start(PowerActor, "power", poll_interval=POLL, hold=HOLD, **options)
    rig.settle("power")
    return address


def subscribe_power_texts(rig) -> None:
    """SMS 1 subscribed to both power kinds (GSM on, a number set)."""
    events = ("power_outage_started", "power_outage_stopped")
    subscriptions = {
        t: {e: t == "sms1" and e in events for e in (*events, "alert_started")}
        for t in ("call1", "call2", "sms1", "sms2", "email1", "email2")
    }
    gsm = {"enabled": True, "pin_code": None, "phone_number_1": "+36301111111"}
    for section, value in (("subscriptions", subscriptions), ("gsm", gsm)):
        rig.query(
            "INSERT INTO option (name, section, value) VALUES ('notifications', %s, %s)"
            " ON CONFLICT (name, section) DO UPDATE SET value = EXCLUDED.value",
            (section, json.dumps(value)),
        )


def outbox_keys(rig) -> list[str]:
    return [r[0] for r in rig.query("SELECT event_key FROM notification_outbox")]


def test_first_reading_is_stored_without_notification(rig):
    start_power(rig)
    poll(rig, 5)

    wait_for(lambda: stored_source(rig) == "network")
    assert rig.inbox.ui("power_state_change") == ["network"]
    rig.settle("alarm", "notifier")
    assert not rig.inbox.of(PowerChanged)


def test_outage_is_debounced_told_and_not_repeated_after_restart(rig):
    rig.query("UPDATE runtime_state SET power_source = 'network'")
    subscribe_power_texts(rig)
    lifecycle = LifecycleProbe(rig.ctx.bus)
    start_power(rig)

    rig.hardware.set_power("battery")
    poll(rig, 2)
    rig.hardware.set_power("network")  # a blip shorter than the hold time
    poll(rig, 6)
    rig.settle("alarm")
    assert not rig.inbox.of(PowerChanged)

    rig.hardware.set_power("battery")
    poll(rig, 6)
    wait_for(lambda: rig.inbox.of(NotificationsQueued, "notifier"))
    assert [m.source for m in rig.inbox.of(PowerChanged, "alarm")] == ["battery"]
    [queued] = rig.inbox.of(NotificationsQueued, "notifier")
    assert queued.event_key.startswith("power_outage_started:")
    assert outbox_keys(rig) == [queued.event_key]
    assert rig.inbox.ui("power_state_change") == ["battery"]
    assert stored_source(rig) == "battery"

    # A restart during the outage is no new outage.
    rig.ctx.directory.lookup("power").stop(block=True)
    lifecycle.wait("power", "stopped")
    start_power(rig)
    poll(rig, 8)
    rig.settle("alarm", "notifier")
    assert len(rig.inbox.of(PowerChanged)) == 1  # the one outage
    assert len(rig.inbox.of(NotificationsQueued)) == 1
    assert len(outbox_keys(rig)) == 1  # nothing new queued

    rig.hardware.set_power("network")
    poll(rig, 6)
    wait_for(lambda: len(rig.inbox.of(NotificationsQueued, "notifier")) == 2)
    assert outbox_keys(rig)[1].startswith("power_outage_stopped:")
    assert [m.source for m in rig.inbox.of(PowerChanged, "alarm")] == [
        "battery",
        "network",
    ]
    assert stored_source(rig) == "network"
    lifecycle.close()


def test_power_change_while_down_is_reported(rig):
    rig.query("UPDATE runtime_state SET power_source = 'network'")
    rig.hardware.set_power("battery")
    subscribe_power_texts(rig)
    start_power(rig)
    poll(rig, 6)

    wait_for(lambda: rig.inbox.of(NotificationsQueued, "notifier"))
    assert [m.source for m in rig.inbox.of(PowerChanged, "alarm")] == ["battery"]
    assert len(outbox_keys(rig)) == 1


def test_power_source_and_its_notification_commit_together(rig):
    """Nothing is queued before the source commits; a storage outage is retried."""
    rig.query("UPDATE runtime_state SET power_source = 'network'")
    subscribe_power_texts(rig)
    start_power(rig, retry_interval=5.0)
    rig.ctx.directory.lookup("storage").stop(block=True)

    rig.hardware.set_power("battery")
    poll(rig, 6)
    assert [m.source for m in rig.inbox.of(PowerChanged, "alarm")] == ["battery"]
    assert stored_source(rig) == "network" and outbox_keys(rig) == []

    rig.start(DatabaseWriter, "storage")
    rig.settle("storage")
    rig.step(5.0, "power")  # the retry
    wait_for(lambda: rig.inbox.of(NotificationsQueued, "notifier"))
    assert stored_source(rig) == "battery"
    assert len(outbox_keys(rig)) == 1


def test_failed_power_read_is_never_a_source(rig):
    rig.query("UPDATE runtime_state SET power_source = 'network'")
    start_power(rig)
    rig.hardware.adc[1].broken = True
    poll(rig, 8)
    rig.settle("alarm")

    assert not rig.inbox.of(PowerChanged)
    assert stored_source(rig) == "network"
