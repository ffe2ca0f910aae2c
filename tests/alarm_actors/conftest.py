"""Fixtures for the alarm actor tests: a seeded database and a started core."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from arpi.actors import release_hangs
from arpi.db import Database
from tests.alarm_actors.rig import Core, seed


@pytest.fixture
def seeded(db: Database) -> Database:
    seed(db)
    return db


@pytest.fixture
def core(seeded: Database) -> Iterator[Core]:
    handle = Core(seeded).start()
    try:
        yield handle
    finally:
        release_hangs()
        handle.close()
