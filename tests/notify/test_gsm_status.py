"""`GetModemStatus` on the real `gsm` actor over the fake modem."""

from __future__ import annotations

from arpi.actors.gsm import GetModemStatus, ModemStatus
from tests.helpers import wait_for


def status(rig) -> ModemStatus:
    reply = rig.ctx.directory.address("gsm").ask(GetModemStatus(), timeout=10)
    assert isinstance(reply, ModemStatus)
    return reply


def test_status_comes_from_the_health_check_without_touching_the_port(rig):
    first = status(rig)
    assert first.state == "ok" and first.error is None
    assert first.registration is None and first.signal is None  # no check yet

    rig.modem.signal = 17
    rig.clock.advance(60.0)  # the periodic health check
    wait_for(lambda: status(rig).registration == "home", what="health check")
    checked = status(rig)
    assert (checked.state, checked.signal, checked.registered) == ("ok", 17, True)
    assert checked.checked_at == rig.clock.wall()
    assert checked.registered_at == rig.clock.wall()

    commands = len(rig.modem.commands)
    for _ in range(3):
        assert status(rig) == checked
    assert len(rig.modem.commands) == commands  # answered from memory

    rig.modem.set_mode("silent")
    rig.clock.advance(60.0)
    wait_for(lambda: status(rig).state == "silent", what="silent modem noticed")
    silent = status(rig)
    assert silent.error
    # Registration and signal are those of the last successful check.
    assert (silent.registration, silent.signal) == ("home", 17)
    assert silent.registered_at == checked.registered_at

    rig.modem.set_mode("ok")
    rig.clock.advance(60.0)
    wait_for(lambda: status(rig).state == "ok", what="modem back")


def test_absent_modem_is_reported_absent(rig):
    rig.modem.set_mode("absent")

    def noticed() -> bool:
        # A check may first see a port that stops answering (silent) before the
        # reopen finds it gone: let the health checks go on until it is noticed.
        if status(rig).state == "absent":
            return True
        rig.clock.advance(60.0)
        return status(rig).state == "absent"

    wait_for(noticed, what="absent modem noticed")
    assert "port" in (status(rig).error or "")
