"""The `Context` every actor receives: settings, clock, directory, bus, db, drivers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arpi.actors import Directory
    from arpi.bus import Bus
    from arpi.clock import Clock
    from arpi.config import Settings
    from arpi.db.database import Database
    from arpi.drivers.factory import DriverFactory

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    """Process-wide services, built once by `arpi.app` and shared read-only.

    Types are checked only statically (the modules are imported lazily so that the
    actor layer does not pull in the database or the drivers). Tests of the actor
    layer pass None for `settings`, `db` and `drivers`.

    `loop` is the process's asyncio loop (the front and `call_soon_threadsafe`
    bridges need it; None in tests without a loop) and `app` the running
    `arpi.app` object (for stop requests; None in tests).
    """

    settings: Settings
    clock: Clock
    directory: Directory
    bus: Bus
    db: Database | None
    drivers: DriverFactory | None = None
    loop: asyncio.AbstractEventLoop | None = None
    app: Any = None
