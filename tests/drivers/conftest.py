"""Fixtures for driver tests: simulated hardware that is always closed afterwards."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from arpi.drivers import DriverFactory


@pytest.fixture
def make_factory():
    """Build simulated DriverFactory objects; every one is closed after the test."""
    made: list[DriverFactory] = []

    def make(board: int = 3, **settings) -> DriverFactory:
        factory = DriverFactory(
            SimpleNamespace(board="simulated", simulated_board=board, **settings)
        )
        made.append(factory)
        return factory

    yield make
    for factory in made:
        factory.close()
    leftovers = [t.name for t in threading.enumerate() if t.name == "fake-modem"]
    assert not leftovers, f"fake modem threads left: {leftovers}"
