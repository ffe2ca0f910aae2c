"""Fixtures for the database tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import temp_root


@pytest.fixture
def scratch() -> Iterator[Path]:
    """An empty directory with a short path, removed after the test."""
    path = temp_root()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
