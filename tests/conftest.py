"""Fixtures shared by every test: actor hygiene and the PostgreSQL plugin."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.pg"]


@pytest.fixture(autouse=True)
def _no_leftover_actors():
    """Stop every actor a test started, and fail the test if one is left running."""
    yield
    from arpi.actors.testing import stop_all_actors

    # Supervisors first (pykka's stop_all would stop children first and let their
    # supervisors restart them), hangs released, threads joined.
    leftovers = stop_all_actors(timeout=5)
    assert not leftovers, f"actor threads left running: {leftovers}"
