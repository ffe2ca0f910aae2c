"""The alarm's timing is unaffected while the modem misbehaves (F15)."""

from __future__ import annotations

import pytest

from arpi.actors.gsm import GsmActor, SendSms
from arpi.actors.sensor_bank import SensorBankActor
from arpi.alarm.lines import LineState
from arpi.drivers import ChannelType, Contact, Wiring
from tests.hw_actors.conftest import add_sensor, wait_samples

PERIOD = 1 / 20


def test_sensor_samples_stay_on_time_while_the_modem_is_silent(rig):
    sensor_id = add_sensor(rig.db, 0)
    wiring = Wiring(ChannelType.NORMAL, Contact.NC, 1)
    rig.hardware.modem.set_mode("silent")
    factory = rig.factory

    gsm = rig.start(
        GsmActor,
        "gsm",
        modem_factory=lambda: factory.modem(command_timeout=0.3, health_timeout=0.2),
    )
    ref = rig.ctx.directory.lookup("gsm")
    sms = ref.ask(SendSms("+36201234567", "Riasztás"), block=False)
    rig.start(SensorBankActor, "sensors0", bank=0)
    rig.settle("sensors0")
    start = wait_samples(rig, 1, "sensors0")[0].at

    for i in range(1, 11):
        if i == 5:
            rig.hardware.set_line(0, wiring, "active")
        rig.step(PERIOD, "sensors0")
    samples = wait_samples(rig, 11, "sensors0")

    assert [s.at for s in samples] == pytest.approx(
        [start + i * PERIOD for i in range(11)]
    )
    assert [dict(s.states)[sensor_id] for s in samples[4:6]] == [
        LineState.IDLE,
        LineState.ACTIVE,
    ]
    report = sms.get(timeout=30)
    assert not report.ok  # the modem really was silent all along
    assert gsm.alive()
