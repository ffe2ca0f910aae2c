"""In-process publish/subscribe for events between actors and the front.

Publishers call `publish(event)` from any thread. Each subscriber is a callable run
synchronously on the publisher's thread; it must be quick and must not block: the
usual subscriber is `address.tell` or a loop bridge's `post_threadsafe`. A subscriber
that raises is logged and skipped; it never breaks the publisher.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

__all__ = ["Bus", "ConfigChanged", "UiEvent"]

log = structlog.get_logger("arpi.bus")


@dataclass(frozen=True, slots=True)
class UiEvent:
    """A Socket.IO event for the web UI: `name` as on the wire, JSON `payload`.

    `admin_only` events (the live log) go only to authenticated admin clients.
    `coalesce` events are state snapshots: a slow client may skip to the latest one.
    """

    name: str
    payload: Any
    admin_only: bool = False
    coalesce: bool = True


@dataclass(frozen=True, slots=True)
class ConfigChanged:
    """Configuration rows changed in the database (published by the front after the
    write committed). `kinds` names what changed: "sensors", "zones", "areas",
    "outputs", "keypads", "users", "cards", or an option as "section/name". Actors
    that cache configuration subscribe and reload what concerns them."""

    kinds: frozenset[str]


class Bus:
    """Routes events to subscribers by event class (subclasses included)."""

    def __init__(self) -> None:
        self._subscribers: dict[type, list[Callable[[Any], object]]] = {}
        self._lock = threading.Lock()

    def subscribe(self, event_type: type, callback: Callable[[Any], object]) -> None:
        """Call `callback(event)` for every published instance of `event_type`."""
        with self._lock:
            self._subscribers.setdefault(event_type, []).append(callback)

    def unsubscribe(self, event_type: type, callback: Callable[[Any], object]) -> None:
        with self._lock:
            callbacks = self._subscribers.get(event_type, [])
            if callback in callbacks:
                callbacks.remove(callback)

    def publish(self, event: object) -> None:
        """Deliver `event` to its subscribers; thread-safe, never raises."""
        with self._lock:
            targets = [
                cb
                for event_type, callbacks in self._subscribers.items()
                if isinstance(event, event_type)
                for cb in callbacks
            ]
        for callback in targets:
            try:
                callback(event)
            except Exception:
                log.exception("subscriber_failed", event_type=type(event).__name__)
