"""A real core for tests: storage, alarm, siren and outputs over simulated hardware.

Configuration rows are written straight into the test database; sensor samples are
told to `alarm` directly; time moves only with `ManualClock.advance`.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from arpi.actors import Actor, Lifecycle, Ping, make_test_context
from arpi.actors.alarm import AlarmLogic, Flush, resolve_reply
from arpi.actors.outputs import OutputsActor
from arpi.actors.siren import GetSirenState, Siren, SirenState
from arpi.alarm.lines import LineState
from arpi.alarm.messages import (
    AlarmStatus,
    Arm,
    ArmResult,
    Disarm,
    DisarmResult,
    GetAlarmStatus,
    SensorsSampled,
)
from arpi.bus import UiEvent
from arpi.clock import ManualClock
from arpi.db import Database
from arpi.db.storage import DatabaseWriter
from arpi.drivers.factory import DriverFactory, HardwareConfig, SimulatedHardware
from tests.helpers import wait_for

TIMEOUT = 10.0
WALL0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SIREN_DURATION = 60

I, A, C = LineState.IDLE, LineState.ACTIVE, LineState.CUT

HOUSE, GARAGE = 1, 2
# sensor ids (inserted in this order, so ids 1..5)
DOOR, WINDOW, LID, GARAGE_DOOR, WINDOW2 = 1, 2, 3, 4, 5
ENTRY_DELAY = 10
EXIT_DELAY = 20


def seed(db: Database, *, siren: dict[str, Any] | None = None) -> None:
    """Zones, a second area, five sensors, siren timing and an e-mail subscription."""
    siren = siren or {"silent": False, "delay": 0, "duration": SIREN_DURATION}
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO area (id, name) VALUES (2, 'Garage')")
            cur.execute(
                "INSERT INTO zone (id, name, disarmed_delay, away_alert_delay,"
                " stay_alert_delay, away_arm_delay, stay_arm_delay) VALUES"
                " (1, 'instant', NULL, 0, 0, 0, 0),"
                " (2, 'entry', NULL, %s, %s, %s, %s),"
                " (3, 'tamper', 0, 0, 0, 0, 0)",
                (ENTRY_DELAY, ENTRY_DELAY, EXIT_DELAY, EXIT_DELAY),
            )
            cur.execute(
                "INSERT INTO sensor (id, name, channel, zone_id, area_id, type_id,"
                " silent_alert) VALUES"
                " (1, 'door', 0, 2, 1, 3, NULL), (2, 'window', 1, 1, 1, 3, NULL),"
                " (3, 'lid', 2, 3, 1, 2, NULL), (4, 'garage', 3, 1, 2, 3, NULL),"
                " (5, 'window2', 4, 1, 1, 3, NULL)"
            )
            for (name, section), value in {
                ("syren", "timing"): siren,
                ("notifications", "smtp"): {
                    "enabled": True,
                    "smtp_hostname": "127.0.0.1",
                    "smtp_port": 2525,
                    "email_address_1": "owner@example.com",
                },
                ("notifications", "subscriptions"): {
                    "email1": {"alert_started": True, "alert_stopped": True},
                },
            }.items():
                cur.execute(
                    "INSERT INTO option (name, section, value) VALUES (%s, %s, %s)",
                    (name, section, json.dumps(value)),
                )
        conn.commit()
    finally:
        conn.close()


def query(db: Database, text: str, params: Iterable[Any] = ()) -> list[tuple]:
    conn = db.connect()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(text, tuple(params))
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def count(db: Database, table: str, where: str = "true") -> int:
    return query(db, f"SELECT count(*) FROM {table} WHERE {where}")[0][0]


class Core:
    """storage + alarm + siren + outputs on one ManualClock and simulated chip."""

    def __init__(
        self,
        db: Database,
        *,
        clock: ManualClock | None = None,
        hardware: SimulatedHardware | None = None,
    ) -> None:
        self.db = db
        self.clock = clock or ManualClock(start=1000.0, wall=WALL0)
        self.hardware = hardware or SimulatedHardware(3)
        drivers = DriverFactory(
            HardwareConfig(board="simulated"), hardware=self.hardware
        )
        self.ctx = dataclasses.replace(
            make_test_context(self.clock), db=db, drivers=drivers
        )
        self.events: list[UiEvent] = []
        self.lifecycle: list[Lifecycle] = []
        self._lock = threading.Lock()
        self.ctx.bus.subscribe(UiEvent, self._record)
        self.ctx.bus.subscribe(Lifecycle, self._record_lifecycle)
        self.refs: dict[str, Any] = {}
        self.alarm = self.ctx.directory.address("alarm")
        self.siren = self.ctx.directory.address("siren")
        self.outputs = self.ctx.directory.address("outputs")

    # -- life cycle -------------------------------------------------------------------

    def start(self, *names: str) -> Core:
        """Start the named actors (default: storage, alarm, siren, outputs) in order."""
        classes: dict[str, type[Actor]] = {
            "storage": DatabaseWriter,
            "alarm": AlarmLogic,
            "siren": Siren,
            "outputs": OutputsActor,
        }
        for name in names or ("storage", "alarm", "siren", "outputs"):
            ref = classes[name].start(self.ctx, name=name)
            self.refs[name] = ref
            self.ctx.directory.address(name).ask(Ping(), timeout=TIMEOUT)
        self._settle_resync()
        return self

    def _settle_resync(self) -> None:
        """Let the alarm's answer to `Lifecycle(started)` land before a test drives
        anything: it re-sends its siren command (`StopSiren` when idle, which also
        ends a siren test) and the output levels. Under load that resync could
        otherwise reach the siren after a test's own `TestSiren`."""
        if not self.alarm.alive():
            return
        self.alarm.ask(Ping(), timeout=TIMEOUT)  # told siren/outputs what it had
        for address in (self.siren, self.outputs):
            if address.alive():
                address.ask(Ping(), timeout=TIMEOUT)

    def stop(self, *names: str) -> None:
        """Stop actors in reverse start order (default: all started)."""
        for name in reversed(names or tuple(self.refs)):
            ref = self.refs.pop(name, None)
            if ref is not None and ref.is_alive():
                ref.stop(timeout=TIMEOUT)

    def _record(self, event: UiEvent) -> None:
        with self._lock:
            self.events.append(event)

    def _record_lifecycle(self, event: Lifecycle) -> None:
        with self._lock:
            self.lifecycle.append(event)

    # -- driving ---------------------------------------------------------------

    def sample(self, *states: tuple[int, LineState]) -> None:
        self.alarm.tell(SensorsSampled("test", self.clock.monotonic(), tuple(states)))

    def arm(self, mode: str = "arm_away", **kwargs: Any) -> ArmResult:
        return resolve_reply(self.alarm.ask(Arm(mode, **kwargs), TIMEOUT), TIMEOUT)

    def disarm(self, **kwargs: Any) -> DisarmResult:
        return resolve_reply(self.alarm.ask(Disarm(**kwargs), TIMEOUT), TIMEOUT)

    def flush(self) -> None:
        """Wait until the alarm handled everything sent so far and it is durable."""
        resolve_reply(self.alarm.ask(Flush(), TIMEOUT), TIMEOUT)

    def advance(self, seconds: float) -> None:
        """Let the alarm handle what it was sent, move time, let it handle the ticks."""
        self.flush()
        self.clock.advance(seconds)
        self.flush()

    def status(self) -> AlarmStatus:
        return self.alarm.ask(GetAlarmStatus(), TIMEOUT)

    def siren_state(self) -> SirenState:
        self.flush()
        return self.siren.ask(GetSirenState(), TIMEOUT)

    # -- observing -------------------------------------------------------------

    def chip(self) -> bool:
        """Whether channel 0 (the siren) is on on the simulated output chip."""
        return bool(self.hardware.drv8860.channel_states()[0])

    def settle_outputs(self) -> None:
        """Wait until siren and outputs handled what they were told."""
        self.flush()
        self.siren.ask(Ping(), timeout=TIMEOUT)
        self.outputs.ask(Ping(), timeout=TIMEOUT)

    def wait_chip(self, on: bool) -> None:
        wait_for(lambda: self.chip() is on, TIMEOUT, f"siren output {on}")

    def published(self, name: str) -> list[Any]:
        with self._lock:
            return [e.payload for e in self.events if e.name == name]

    def mark(self) -> int:
        with self._lock:
            return len(self.events)

    def published_since(self, mark: int, name: str) -> list[Any]:
        with self._lock:
            return [e.payload for e in self.events[mark:] if e.name == name]

    def close(self) -> None:
        self.stop()
        self.hardware.close()
