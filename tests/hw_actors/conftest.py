"""Fixtures for the hardware actors: simulated buses, a manual clock, probe actors.

The actors run with the real drivers over `SimulatedHardware`. What they send to
other actors (`alarm`, `notifier`) is caught by `Probe` actors registered under
those names; `storage` is the real DatabaseWriter on the test's database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from arpi.actors import Actor, Directory, Ping
from arpi.bus import Bus, UiEvent
from arpi.clock import ManualClock
from arpi.context import Context
from arpi.db import sql
from arpi.db.storage import DatabaseWriter
from arpi.db.tables import sensor, zone
from arpi.drivers import DriverFactory, SimulatedHardware
from tests.helpers import wait_for


class Inbox:
    """Thread-safe record of what probe actors received and the bus carried."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[str, object]] = []

    def add(self, name: str, message: object) -> None:
        with self._lock:
            self._items.append((name, message))

    def of(self, kind: type, name: str | None = None) -> list[Any]:
        with self._lock:
            return [
                m
                for n, m in self._items
                if isinstance(m, kind) and (name is None or n == name)
            ]

    def ui(self, event_name: str) -> list[Any]:
        """Payloads of the UiEvents named `event_name`, oldest first."""
        return [e.payload for e in self.of(UiEvent) if e.name == event_name]


@dataclass(frozen=True)
class Reply:
    ok: bool = True
    error: str | None = None


class Probe(Actor):
    """Records every message; answers asks with `options["reply"](message)`."""

    def handle(self, message: object) -> object:
        self.options["inbox"].add(self.name, message)  # type: ignore[attr-defined]
        reply: Callable[[object], object] | None = self.options.get("reply")
        return reply(message) if reply is not None else Reply()


@dataclass
class Rig:
    """One simulated panel with its context and probes."""

    clock: ManualClock
    hardware: SimulatedHardware
    factory: DriverFactory
    ctx: Context
    inbox: Inbox
    db: Any
    started: list[Any] = field(default_factory=list)

    def start(self, cls: type[Actor], name: str, **options: Any) -> Any:
        ref = cls.start(self.ctx, name=name, **options)
        self.started.append(ref)
        return self.ctx.directory.address(name)

    def probe(self, name: str, **options: Any) -> Any:
        return self.start(Probe, name, inbox=self.inbox, **options)

    def settle(self, *names: str) -> None:
        """Wait until each named actor has handled everything queued so far."""
        for name in names:
            self.ctx.directory.address(name).ask(Ping(), timeout=10)

    def step(self, seconds: float, *names: str) -> None:
        """Advance the clock; then let `names` (in order) catch up."""
        self.clock.advance(seconds)
        self.settle(*names)

    def query(self, text: str, params: Any = None) -> list[tuple[Any, ...]]:
        conn = self.db.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(text, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


def make_rig(db: Any, *, board: int = 3, **settings: Any) -> Rig:
    clock = ManualClock()
    hardware = SimulatedHardware(board, wall=clock.wall)
    factory = DriverFactory(
        SimpleNamespace(board="simulated", simulated_board=board), hardware=hardware
    )
    options = {
        "sample_rate": 20,
        "keypad_arm_needs_code": True,
        "board": "sim",
        "simulate": True,
        **settings,
    }
    ctx = Context(
        settings=SimpleNamespace(**options),
        clock=clock,
        directory=Directory(),
        bus=Bus(),
        db=db,
        drivers=factory,
    )
    inbox = Inbox()
    ctx.bus.subscribe(UiEvent, lambda event: inbox.add("bus", event))
    return Rig(clock, hardware, factory, ctx, inbox, db)


@pytest.fixture
def rigs(db: Any) -> Iterator[Callable[..., Rig]]:
    """Build rigs on the test's database; their actors and fakes are stopped after."""
    made: list[Rig] = []

    def build(**kwargs: Any) -> Rig:
        rig = make_rig(db, **kwargs)
        made.append(rig)
        return rig

    yield build
    for rig in made:
        for ref in reversed(rig.started):
            if ref.is_alive():
                ref.stop(block=True, timeout=5)
        rig.factory.close()


@pytest.fixture
def rig(rigs: Callable[..., Rig]) -> Rig:
    """A board-3 rig with `alarm` and `notifier` probes and the real `storage`."""
    rig = rigs()
    rig.probe("alarm")
    rig.probe("notifier")
    rig.start(DatabaseWriter, "storage")
    return rig


def add_zone(db: Any) -> int:
    conn = db.connect()
    try:
        with conn, conn.cursor() as cur:
            query = (
                sql.Q.into(zone)
                .columns(zone.name)
                .insert(sql.param())
                .returning(zone.id)
            )
            return sql.insert_returning(cur, query, ("Zone",))["id"]
    finally:
        conn.close()


def add_sensor(
    db: Any,
    channel: int,
    *,
    channel_type: str = "normal",
    contact: str = "NC",
    eol: str = "single",
    reference: float | None = None,
    enabled: bool = True,
    name: str = "s",
) -> int:
    """Insert a sensor row (zone created on the fly, area 1, type 3) and return its id."""
    zone_id = add_zone(db)
    conn = db.connect()
    try:
        with conn, conn.cursor() as cur:
            t = sensor
            query = (
                sql.Q.into(t)
                .columns(
                    t.name,
                    t.channel,
                    t.channel_type,
                    t.sensor_contact_type,
                    t.sensor_eol_count,
                    t.reference_value,
                    t.enabled,
                    t.zone_id,
                    t.area_id,
                    t.type_id,
                )
                .insert(*[sql.param() for _ in range(10)])
                .returning(t.id)
            )
            params = (
                name,
                channel,
                channel_type,
                contact,
                eol,
                reference,
                enabled,
                zone_id,
                1,
                3,
            )
            return sql.insert_returning(cur, query, params)["id"]
    finally:
        conn.close()


def wait_samples(rig: Rig, count: int, bank: str | None = None) -> list[Any]:
    """Wait until the alarm probe holds `count` SensorsSampled (of `bank`)."""
    from arpi.alarm.messages import SensorsSampled

    def got() -> list[Any] | None:
        samples = [
            s for s in rig.inbox.of(SensorsSampled, "alarm") if bank in (None, s.bank)
        ]
        return samples if len(samples) >= count else None

    return wait_for(got, what=f"{count} samples")
