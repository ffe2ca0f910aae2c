"""SensorBank: sampling, line states per wiring, faults, crash and recovery, calibration."""

from __future__ import annotations

import pytest

from arpi.actors import ActorUnavailable, ChildSpec, Crash, Strategy, Supervisor
from arpi.actors.sensor_bank import ReferencesReset, ResetReferences, SensorBankActor
from arpi.actors.testing import LifecycleProbe
from arpi.alarm.lines import LineState
from arpi.alarm.messages import SensorsSampled
from arpi.bus import ConfigChanged
from arpi.drivers import ChannelType, Contact, Wiring
from arpi.drivers.wiring import CUT_LEVEL
from tests.helpers import wait_for
from tests.hw_actors.conftest import add_sensor, wait_samples

PERIOD = 1 / 20

IDLE, ACTIVE, CUT, SHORT, FAULT = (
    LineState.IDLE,
    LineState.ACTIVE,
    LineState.CUT,
    LineState.SHORT,
    LineState.FAULT,
)

# (row fields, wiring for the simulator, states to apply -> expected LineState)
WIRINGS = [
    (
        {"channel_type": "normal", "contact": "NC", "eol": "single"},
        Wiring(ChannelType.NORMAL, Contact.NC, 1),
        {"idle": IDLE, "active": ACTIVE, "cut": ACTIVE, "short": SHORT},
    ),
    (
        {"channel_type": "normal", "contact": "NO", "eol": "single"},
        Wiring(ChannelType.NORMAL, Contact.NO, 1),
        {"idle": IDLE, "active": ACTIVE, "cut": CUT, "short": ACTIVE},
    ),
    (
        {"channel_type": "normal", "contact": "NC", "eol": "double"},
        Wiring(ChannelType.NORMAL, Contact.NC, 2),
        {"idle": IDLE, "active": ACTIVE, "cut": CUT, "short": SHORT},
    ),
    (
        {"channel_type": "normal", "contact": "NO", "eol": "double"},
        Wiring(ChannelType.NORMAL, Contact.NO, 2),
        {"idle": IDLE, "active": ACTIVE, "cut": CUT, "short": SHORT},
    ),
]


def start_bank(rig, bank: int = 0, **options):
    address = rig.start(SensorBankActor, f"sensors{bank}", bank=bank, **options)
    rig.settle(f"sensors{bank}")
    return address


def scan(rig, bank: int = 0) -> dict[int, LineState]:
    """One more scan of the bank; the states it reported."""
    # The alarm probe must have recorded every sample sent so far before counting:
    # otherwise a sample still in its inbox (e.g. the start scan) would be taken
    # for the new one.
    rig.settle(f"sensors{bank}", "alarm")
    before = len(
        [s for s in rig.inbox.of(SensorsSampled) if s.bank == f"sensors{bank}"]
    )
    rig.step(PERIOD, f"sensors{bank}", "alarm")
    return dict(wait_samples(rig, before + 1, f"sensors{bank}")[-1].states)


@pytest.mark.parametrize(("row", "wiring", "expected"), WIRINGS)
def test_single_sensor_states_per_wiring(rig, row, wiring, expected):
    sensor_id = add_sensor(rig.db, 2, **row)
    rig.hardware.set_line(2, wiring, "idle")
    start_bank(rig)

    for state, line_state in expected.items():
        rig.hardware.set_line(2, wiring, state)
        assert scan(rig)[sensor_id] is line_state, state


@pytest.mark.parametrize("contact", ["NC", "NO"])
def test_dual_sensors_share_one_channel(rig, contact):
    a = add_sensor(rig.db, 4, channel_type="channel_a", contact=contact)
    b = add_sensor(rig.db, 4, channel_type="channel_b", contact=contact)
    wiring = Wiring(ChannelType.CHANNEL_A, Contact(contact.lower()), 1)
    rig.hardware.set_line(4, wiring, "idle")
    start_bank(rig)

    table = {
        "idle": (IDLE, IDLE),
        "a": (ACTIVE, IDLE),
        "b": (IDLE, ACTIVE),
        "both": (ACTIVE, ACTIVE),
    }
    fault_level = "cut" if contact == "NC" else "short"
    other = "short" if contact == "NC" else "cut"
    table[fault_level] = (ACTIVE, ACTIVE)  # reads as both active (reference 2.6)
    table[other] = (SHORT, SHORT) if other == "short" else (CUT, CUT)
    for state, (want_a, want_b) in table.items():
        rig.hardware.set_line(4, wiring, state)
        states = scan(rig)
        assert (states[a], states[b]) == (want_a, want_b), state


def test_bank_samples_on_drift_free_deadlines(rig):
    add_sensor(rig.db, 0)
    start_bank(rig)
    for _ in range(5):
        scan(rig)

    samples = wait_samples(rig, 6, "sensors0")
    times = [s.at for s in samples]
    assert times == pytest.approx([times[0] + i * PERIOD for i in range(6)])


def test_only_this_banks_enabled_sensors_are_reported(rig):
    mine = add_sensor(rig.db, 7)
    add_sensor(rig.db, 8)  # on AD2: bank 1
    add_sensor(rig.db, 1, enabled=False)
    start_bank(rig)

    assert set(scan(rig)) == {mine}


def test_adc_read_error_is_a_fault_for_that_scan_only(rig):
    sensor_id = add_sensor(rig.db, 0)
    start_bank(rig)
    assert scan(rig)[sensor_id] is IDLE

    rig.hardware.adc[0].fail_next(1)
    assert scan(rig)[sensor_id] is FAULT
    assert scan(rig)[sensor_id] is IDLE


def test_unknown_level_is_a_fault_never_idle(rig):
    sensor_id = add_sensor(rig.db, 0)
    start_bank(rig)

    rig.hardware.set_level(0, 0.3)
    assert scan(rig)[sensor_id] is FAULT


def test_crash_faults_the_sensors_then_restart_recovers(rig):
    ids = [add_sensor(rig.db, 0), add_sensor(rig.db, 3)]
    lifecycle = LifecycleProbe(rig.ctx.bus)
    rig.start(
        Supervisor,
        "hardware",
        strategy=Strategy.ONE_FOR_ONE,
        children=(ChildSpec("sensors0", SensorBankActor, options={"bank": 0}),),
    )
    lifecycle.wait("sensors0", "started")
    rig.settle("sensors0")
    assert dict(wait_samples(rig, 1, "sensors0")[-1].states) == dict.fromkeys(ids, IDLE)

    rig.ctx.directory.address("sensors0").tell(Crash())
    lifecycle.wait("sensors0", "started", count=2)
    rig.settle("alarm")  # the probe has handled what the ended incarnation sent

    samples = rig.inbox.of(SensorsSampled)
    faulted = [s for s in samples if all(st is FAULT for _, st in s.states)]
    assert faulted, "the crash must report every sensor in FAULT"
    assert {sid for sid, _ in faulted[0].states} == set(ids)
    rig.settle("sensors0")
    assert scan(rig) == {ids[0]: IDLE, ids[1]: IDLE}
    lifecycle.close()


def test_unreadable_bank_ends_its_incarnation_with_faults(rig):
    sensor_id = add_sensor(rig.db, 0)
    lifecycle = LifecycleProbe(rig.ctx.bus)
    start_bank(rig, fail_after=0.2)

    rig.hardware.adc[0].broken = True
    for _ in range(10):
        rig.clock.advance(PERIOD)
        try:
            rig.settle("sensors0")
        except ActorUnavailable:
            break
    lifecycle.wait("sensors0", "failed")
    rig.settle("alarm")

    last = rig.inbox.of(SensorsSampled)[-1]
    assert dict(last.states) == {sensor_id: FAULT}
    lifecycle.close()


def test_failed_start_reports_faults(rigs):
    from arpi.db.storage import DatabaseWriter
    from arpi.drivers.inputs import BOARD2_INPUT_PINS

    rig = rigs(board=2)
    rig.probe("alarm")
    rig.start(DatabaseWriter, "storage")
    sensor_id = add_sensor(rig.db, 5)
    lifecycle = LifecycleProbe(rig.ctx.bus)
    rig.hardware.gpio.fail_setup(BOARD2_INPUT_PINS[9])

    rig.start(SensorBankActor, "sensors0", bank=0)
    lifecycle.wait("sensors0", "failed")

    sample = wait_samples(rig, 1, "sensors0")[-1]
    assert dict(sample.states) == {sensor_id: FAULT}
    lifecycle.close()


def test_board2_inputs_compare_with_their_reference(rigs):
    from arpi.db.storage import DatabaseWriter

    rig = rigs(board=2)
    rig.probe("alarm")
    rig.start(DatabaseWriter, "storage")
    sensor_id = add_sensor(rig.db, 5, reference=0.0)
    start_bank(rig)

    assert scan(rig)[sensor_id] is IDLE
    rig.hardware.set_level(5, 1.0)
    assert scan(rig)[sensor_id] is ACTIVE


def test_reload_on_config_change(rig):
    first = add_sensor(rig.db, 0)
    start_bank(rig)
    assert set(scan(rig)) == {first}

    second = add_sensor(rig.db, 1)
    rig.ctx.bus.publish(ConfigChanged(frozenset({"sensors"})))
    rig.settle("sensors0")
    assert set(scan(rig)) == {first, second}


# -- calibration ------------------------------------------------------------------------


def calibrate(rig, sensor_ids, *, during=None) -> ReferencesReset:
    bank = rig.ctx.directory.address("sensors0")
    reply = bank.ask(ResetReferences(sensor_ids), timeout=10)
    for i in range(6):  # calibration_time 0.25 s at 20 scans/s
        if during is not None:
            during(i)
        scan(rig)
    return reply.result(timeout=10)


def test_calibration_stores_a_stable_reference(rig):
    sensor_id = add_sensor(rig.db, 1, channel_type="basic", reference=0.2)
    rig.hardware.set_level(1, 0.6)
    start_bank(rig, calibration_time=0.25)
    assert scan(rig)[sensor_id] is ACTIVE  # off its old reference

    result = calibrate(rig, (sensor_id,))

    assert result.ok and result.calibrated[sensor_id] == pytest.approx(0.6, abs=0.002)
    stored = rig.query("SELECT reference_value FROM sensor WHERE id = %s", (sensor_id,))
    assert stored[0][0] == pytest.approx(0.6, abs=0.002)
    assert scan(rig)[sensor_id] is IDLE


def test_calibration_refuses_a_moving_line_and_keeps_the_old_reference(rig):
    sensor_id = add_sensor(rig.db, 1, channel_type="basic", reference=0.6)
    rig.hardware.set_level(1, 0.6)
    start_bank(rig, calibration_time=0.25)

    def door_opens(i: int) -> None:
        if i == 2:
            rig.hardware.set_level(1, 0.8)

    result = calibrate(rig, (sensor_id,), during=door_opens)

    assert not result.ok and sensor_id in result.refused
    stored = rig.query("SELECT reference_value FROM sensor WHERE id = %s", (sensor_id,))
    assert stored[0][0] == pytest.approx(0.6)


def test_calibration_refuses_a_cut_line(rig):
    sensor_id = add_sensor(rig.db, 1, channel_type="basic", reference=0.6)
    rig.hardware.set_level(1, CUT_LEVEL)
    start_bank(rig, calibration_time=0.25)

    result = calibrate(rig, None)

    assert result.refused == {sensor_id: "the line reads the cut or short level"}


def test_uncalibrated_line_is_a_fault_until_calibrated(rig):
    sensor_id = add_sensor(rig.db, 1, channel_type="basic")
    rig.hardware.set_level(1, 0.4)
    start_bank(rig, calibration_time=0.25)
    assert scan(rig)[sensor_id] is FAULT

    for _ in range(6):
        scan(rig)
    wait_for(
        lambda: (
            rig.query("SELECT reference_value FROM sensor WHERE id = %s", (sensor_id,))[
                0
            ][0]
            is not None
        )
    )
    rig.settle("sensors0")
    assert scan(rig)[sensor_id] is IDLE
