"""Fixtures shared by every test: actor hygiene and the PostgreSQL plugin."""

from __future__ import annotations

import threading

import pykka
import pytest

pytest_plugins = ["tests.pg"]


@pytest.fixture(autouse=True)
def _no_leftover_actors():
    """Stop every actor a test started, and fail the test if one is left running."""
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=5)
    leftovers = [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("arpi-actor") and t.is_alive()
    ]
    assert not leftovers, f"actor threads left running: {leftovers}"
