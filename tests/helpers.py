"""Small waiting helpers for tests that watch another thread.

They poll a condition until it holds or a generous deadline passes; the deadline is a
safety net against a hang, never the thing being tested.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0


def wait_for(
    predicate: Callable[[], T], timeout: float = DEFAULT_TIMEOUT, what: str = ""
) -> T:
    """Return the first truthy value of `predicate()`; raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate!r}")
        event.wait(0.005)


async def async_wait_for(
    predicate: Callable[[], T], timeout: float = DEFAULT_TIMEOUT, what: str = ""
) -> T:
    """`wait_for` for coroutines: yields to the loop between polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate!r}")
        await asyncio.sleep(0.005)
