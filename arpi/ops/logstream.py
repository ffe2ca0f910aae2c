"""The live log stream: records from `arpi.logs.log_buffer` to admin sockets.

`LogStream` is a `log_buffer` listener. Each new record becomes
`UiEvent("log_record", record, admin_only=True, coalesce=False)` on the bus, which
the front delivers only to sockets authenticated as an admin. A token bucket
bounds the rate, so a log storm cannot flood the clients (or the front's backlog,
which other events share): records over the limit are counted, not sent, and the
next record that is sent carries `stream_dropped: <count>`; clients fetch the gap
with `GET /api/logs?since=<seq>`.

The listener runs on whatever thread logged. It never logs (a record made while
handling a record would come straight back to it) and never raises.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from arpi.bus import UiEvent
from arpi.logs import LogBuffer, log_buffer

__all__ = ["LOG_EVENT", "LogStream"]

LOG_EVENT = "log_record"


class LogStream:
    """Publishes buffered log records for admin sockets, at most `rate` a second
    on average with bursts of `burst`.

    `attach()` / `detach()` add and remove the listener; both thread-safe.
    """

    def __init__(
        self,
        bus: Any,
        buffer: LogBuffer = log_buffer,
        *,
        rate: float = 50.0,
        burst: int = 200,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Raises ValueError for a rate or burst that is not positive."""
        if not rate > 0:
            raise ValueError(f"rate: must be positive, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst: must be at least 1, got {burst!r}")
        self.bus = bus
        self.buffer = buffer
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._tokens = float(burst)
        self._stamp = monotonic()
        self._lock = threading.Lock()
        self._busy = threading.local()
        self.dropped = 0  # records not streamed since the last one that was
        self.dropped_total = 0
        self.published = 0

    def attach(self) -> None:
        self.buffer.add_listener(self)

    def detach(self) -> None:
        self.buffer.remove_listener(self)

    def __call__(self, record: dict[str, Any]) -> None:
        """The listener: publish `record` if the bucket allows. Never raises."""
        if getattr(self._busy, "active", False):
            return  # a record made while publishing (e.g. by a bus subscriber)
        self._busy.active = True
        try:
            with self._lock:
                now = self._monotonic()
                elapsed = max(0.0, now - self._stamp)
                self._stamp = now
                self._tokens = min(
                    float(self.burst), self._tokens + elapsed * self.rate
                )
                if self._tokens < 1.0:
                    self.dropped += 1
                    self.dropped_total += 1
                    return
                self._tokens -= 1.0
                dropped, self.dropped = self.dropped, 0
                self.published += 1
            payload = record if not dropped else {**record, "stream_dropped": dropped}
            self.bus.publish(
                UiEvent(LOG_EVENT, payload, admin_only=True, coalesce=False)
            )
        except Exception:  # noqa: BLE001, S110 - logging here would recurse
            pass
        finally:
            self._busy.active = False
