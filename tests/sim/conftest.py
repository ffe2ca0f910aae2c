"""Fixtures for the simulator's parts: a real database, fake buses, a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from arpi.actors import Directory
from arpi.bus import Bus
from arpi.clock import ManualClock
from arpi.context import Context
from arpi.drivers.factory import SimulatedHardware
from arpi.http.origins import DEFAULT_ORIGINS
from arpi.sim.control import Simulator
from arpi.sim.demo import load_demo

SECRET = "test-secret-for-the-simulator-0123456789abcdef"


def settings(**extra: Any) -> SimpleNamespace:
    values = dict(
        secret=SECRET,
        cors_origins=DEFAULT_ORIGINS,
        board="sim",
        input_number=15,
        output_number=8,
        version="v0.1.0:test",
        bcrypt_rounds=4,
        tls_cert=None,
        mcp_secret="mcp-test-secret-0123456789abcdef0123",
        clock="manual",
        simulate=True,
    )
    values.update(extra)
    return SimpleNamespace(**values)


@pytest.fixture
def hardware() -> Iterator[SimulatedHardware]:
    hw = SimulatedHardware(3)
    yield hw
    hw.close()


@pytest.fixture
def ctx(db: Any, hardware: SimulatedHardware) -> Context:
    clock = ManualClock(start=1000.0, wall=datetime(2026, 6, 1, 12, tzinfo=UTC))
    return Context(
        settings=settings(),
        clock=clock,
        directory=Directory(),
        bus=Bus(),
        db=db,
        drivers=SimpleNamespace(hardware=hardware),
    )


@pytest.fixture
def demo_db(db: Any) -> Any:
    """The database with the demo house loaded."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            load_demo(cur, "house", bcrypt_rounds=4, smtp_port=2600)
        conn.commit()
    finally:
        conn.close()
    return db


@pytest.fixture
def sim(ctx: Context) -> Iterator[Simulator]:
    simulator = Simulator(ctx, ctx.drivers.hardware)
    yield simulator
    simulator.close()
