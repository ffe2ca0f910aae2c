"""The supervision tree of the arpi process, as child specifications.

```
root (one_for_one)
├── storage      DatabaseWriter, the only writer
├── core         rest_for_one: alarm, siren, outputs, notifier
├── hardware     one_for_one with backoff: sensor banks, power, clock, gsm, keypad
└── front        aiohttp REST + Socket.IO
```
"""

from __future__ import annotations

import socket
from typing import Any

from arpi.actors import Backoff, ChildSpec, Restart, Strategy, Supervisor
from arpi.config import Settings

__all__ = ["build_tree"]

# Anything touching hardware or the database restarts with a growing delay.
DEVICE_BACKOFF = Backoff(initial=0.5, maximum=30.0, factor=2.0, jitter=0.2,
                         reset_after=60.0)


def build_tree(
    settings: Settings, *, sock: socket.socket | None = None, ssl_context: Any = None
) -> list[ChildSpec]:
    """The root's children in start order."""
    from arpi.actors.front import FrontActor
    from arpi.db.storage import DatabaseWriter

    children = [
        ChildSpec("storage", DatabaseWriter, backoff=DEVICE_BACKOFF, shutdown=10.0),
        ChildSpec(
            "core",
            Supervisor,
            options={
                "strategy": Strategy.REST_FOR_ONE,
                "children": tuple(_core_children(settings)),
                "intensity": 5,
                "period": 30.0,
            },
        ),
        ChildSpec(
            "hardware",
            Supervisor,
            options={
                "strategy": Strategy.ONE_FOR_ONE,
                "children": tuple(_hardware_children(settings)),
                # Devices flap; their backoff keeps the restart rate low, and the
                # alarm must not lose its hardware tree over one bad sensor cable.
                "intensity": 20,
                "period": 60.0,
            },
        ),
    ]
    if sock is not None:
        children.append(
            ChildSpec(
                "front",
                FrontActor,
                options={"sock": sock, "ssl_context": ssl_context},
                restart=Restart.PERMANENT,
                backoff=Backoff(initial=0.2, maximum=5.0),
            )
        )
    return children


def _core_children(settings: Settings) -> list[ChildSpec]:
    return []


def _hardware_children(settings: Settings) -> list[ChildSpec]:
    return []
