"""The notifier rides out a PostgreSQL outage on a private server: no crash, one
warning, its own retries, and delivery as soon as the database answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from arpi.actors import Lifecycle, Ping
from arpi.actors.notifier import NotificationsQueued
from tests.helpers import wait_for
from tests.notify.conftest import (
    Rig,
    build_rig,
    outbox_rows,
    subscriptions,
    write_options,
)
from tests.notify.test_notifier import ALERT

TIMEOUT = 10.0


@pytest.fixture
def outage_rig(pg_server, smtp_server, fake_modem) -> Iterator[Rig]:
    with build_rig(pg_server.create_database(), smtp_server, fake_modem) as rig:
        write_options(
            rig.db,
            notifications__subscriptions=subscriptions(email1=["alert_started"]),
        )
        yield rig


def _ping(rig: Rig, name: str = "notifier") -> int:
    return rig.ctx.directory.address(name).ask(Ping(), timeout=TIMEOUT).incarnation


def _events(logs: list[dict], name: str) -> list[dict]:
    return [e for e in list(logs) if e["event"] == name]


def _step(rig: Rig, seconds: float) -> None:
    """Move time and let the notifier and storage handle their timers."""
    rig.clock.advance(seconds)
    _ping(rig)
    _ping(rig, "storage")


@pytest.mark.parametrize("wake", ["own_retry", "notifications_queued"])
def test_outage_is_handled_trouble_and_delivery_resumes(
    outage_rig: Rig, pg_server, wake: str
) -> None:
    rig = outage_rig
    failures: list[Lifecycle] = []
    rig.ctx.bus.subscribe(
        Lifecycle, lambda e: failures.append(e) if e.kind == "failed" else None
    )
    with capture_logs() as logs:
        rig.start_notifier(db_retry=1.0, db_retry_max=4.0, poll_interval=30.0)
        incarnation = _ping(rig)
        rig.enqueue("alert_started:42", "alert_started", ALERT)  # not told yet

        pg_server.stop()
        notifier = rig.ctx.directory.address("notifier")
        for _ in range(3):
            notifier.tell(NotificationsQueued("alert_started:42"))
        for _ in range(20):  # 100 s: its retries and three polls, all failing
            _step(rig, 5.0)

        assert _ping(rig) == incarnation  # the same incarnation: no crash
        assert [e for e in failures if e.name == "notifier"] == []
        [warning] = _events(logs, "notifier_database_unavailable")
        assert warning["log_level"] == "warning"
        assert rig.smtp.handler.received() == []

        pg_server.start()
        if wake == "notifications_queued":
            notifier.tell(NotificationsQueued("alert_started:42"))
            _ping(rig)  # handled at once, without time moving
        else:
            _step(rig, 4.0)  # db_retry_max: its own next retry
        wait_for(
            lambda: len(rig.smtp.handler.received("anna@example.org")) == 1,
            TIMEOUT,
            "the queued e-mail after the outage",
        )
        assert _ping(rig) == incarnation
        assert len(_events(logs, "notifier_database_available")) == 1
        assert len(_events(logs, "notifier_database_unavailable")) == 1

        # storage reconnects on its own timer; the row is then recorded once.
        for _ in range(40):
            if [r["status"] for r in outbox_rows(rig.db)] == ["sent"]:
                break
            _step(rig, 1.0)
        assert [r["status"] for r in outbox_rows(rig.db)] == ["sent"]
        assert len(rig.smtp.handler.received()) == 1


def test_a_notifier_started_during_an_outage_runs_and_delivers_later(
    outage_rig: Rig, pg_server
) -> None:
    rig = outage_rig
    rig.enqueue("alert_started:42", "alert_started", ALERT)
    pg_server.stop()
    with capture_logs() as logs:
        rig.start_notifier(db_retry=1.0, db_retry_max=2.0)
        incarnation = _ping(rig)
        _step(rig, 2.0)
        assert len(_events(logs, "notifier_database_unavailable")) == 1

        pg_server.start()
        _step(rig, 2.0)
        wait_for(
            lambda: len(rig.smtp.handler.received("anna@example.org")) == 1,
            TIMEOUT,
            "the e-mail once the database is back",
        )
        assert _ping(rig) == incarnation
