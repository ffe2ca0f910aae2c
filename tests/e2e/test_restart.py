"""A `kill -9` in the middle of an alarm: the next start restores it, quietly (F1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import KITCHEN, SimProcess, Ui, run_ui, simulator


@pytest.fixture(scope="module")
def restartable() -> Iterator[SimProcess]:
    with simulator("--clock", "manual", "--demo", "house") as sim:
        yield sim


def test_alarm_survives_sigkill_without_a_second_alert_started(
    restartable: SimProcess,
) -> None:
    sim = restartable
    sent_ids: set[str] = set()

    async def before_the_kill(ui: Ui) -> None:
        await ui.reset()
        await ui.ok("PUT", "/api/monitoring/arm?type=arm_away")
        await ui.wait_state("monitoring_armed")
        await ui.line(KITCHEN, "active")  # Perimeter zone: instant alert
        await ui.advance(1.0)
        await ui.wait_state("monitoring_alert")
        assert len(await ui.wait_sms("ALARM at")) == 1
        mails = await ui.wait_mail("[arpi] ALARM at")
        assert len(mails) == 1
        sent_ids.update(m["messageId"] for m in mails)
        # Let the notifier record both deliveries before the power cut.
        await ui.advance(1.0)
        await ui.advance(1.0)
        assert (await ui.panel())["siren"]
        alerts = await ui.ok("GET", "/api/alerts")
        assert alerts[0]["endTime"] is None

    run_ui(sim, before_the_kill)
    sim.kill()
    sim.start()

    async def after_the_restart(ui: Ui) -> None:
        # The window is still open on the new panel: the person holds it open.
        await ui.line(KITCHEN, "active")
        await ui.connect()
        await ui.wait_state("monitoring_alert")
        await ui.saw("system_state_change", "monitoring_alert")
        await ui.advance(5.0)
        assert (await ui.panel())["siren"], "the siren resumes its remaining time"
        open_alerts = [
            a for a in await ui.ok("GET", "/api/alerts") if a["endTime"] is None
        ]
        assert len(open_alerts) == 1
        # Nothing says "alert started" a second time, however long we wait. (An
        # e-mail whose delivery was not yet recorded may be sent again after a
        # crash, at least once; it keeps its Message-ID, so it is the same mail.)
        await ui.advance(10.0)
        assert not [m for m in await ui.sms() if m["text"].startswith("ALARM at")]
        again = [
            m for m in await ui.mail() if m["subject"].startswith("[arpi] ALARM at")
        ]
        assert {m["messageId"] for m in again} <= sent_ids

        await ui.ok("PUT", "/api/monitoring/disarm")
        await ui.wait_state("monitoring_ready")
        await ui.line(KITCHEN, "idle")
        closed = (await ui.ok("GET", "/api/alerts"))[0]
        assert closed["endTime"] is not None

    run_ui(sim, after_the_restart)
