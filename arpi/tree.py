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
DEVICE_BACKOFF = Backoff(
    initial=0.5, maximum=30.0, factor=2.0, jitter=0.2, reset_after=60.0
)


def build_tree(
    settings: Settings, *, sock: socket.socket | None = None, ssl_context: Any = None
) -> list[ChildSpec]:
    """The root's children in start order."""
    from arpi.actors.front import FrontActor
    from arpi.db.storage import DatabaseWriter

    children = [
        # A reconnect can hold the writer for seconds; it is not hung then.
        ChildSpec(
            "storage",
            DatabaseWriter,
            backoff=DEVICE_BACKOFF,
            shutdown=10.0,
            liveness_timeout=30.0,
        ),
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


# The alarm, its siren and the output chip must come back at once after a crash;
# the short backoff only keeps a broken database from spinning the supervisor.
CORE_BACKOFF = Backoff(
    initial=0.05, maximum=5.0, factor=2.0, jitter=0.2, reset_after=60.0
)


def _core_children(settings: Settings) -> list[ChildSpec]:
    """alarm, siren, outputs, notifier, in this order (core is rest_for_one: a
    crash of the alarm restarts everything after it, which then resyncs from the
    durable state and from the alarm)."""
    from arpi.actors.alarm import AlarmLogic
    from arpi.actors.notifier import Notifier
    from arpi.actors.outputs import OutputsActor
    from arpi.actors.siren import Siren

    return [
        ChildSpec("alarm", AlarmLogic, backoff=CORE_BACKOFF),
        ChildSpec("siren", Siren, backoff=CORE_BACKOFF),
        ChildSpec("outputs", OutputsActor, backoff=CORE_BACKOFF),
        # A read during a database outage may take a connect timeout and a probe.
        ChildSpec("notifier", Notifier, backoff=DEVICE_BACKOFF, liveness_timeout=10.0),
    ]


def _hardware_children(settings: Settings) -> list[ChildSpec]:
    """Sensor banks, power, clock, gsm and keypad, each restarted with backoff.

    (`outputs` lives under `core`: the siren depends on it.)
    """
    from arpi.actors.gsm import GsmActor
    from arpi.actors.keypad import KeypadActor
    from arpi.actors.power import PowerActor
    from arpi.actors.rtc_clock import ClockActor
    from arpi.actors.sensor_bank import SensorBankActor, bank_name
    from arpi.drivers import HardwareConfig

    # The bank layout of DriverFactory.sensor_banks(): board 3 has two ADC chips,
    # board 2 one GPIO bank. Known from the settings alone, so the tree can be
    # built before any bus is opened.
    config = HardwareConfig.from_settings(settings)
    board = config.simulated_board if config.board == "simulated" else int(config.board)
    banks = 2 if board == 3 else 1
    children = [
        ChildSpec(
            bank_name(index),
            SensorBankActor,
            options={"bank": index},
            backoff=DEVICE_BACKOFF,
        )
        for index in range(banks)
    ]
    children += [
        ChildSpec("power", PowerActor, backoff=DEVICE_BACKOFF),
        # Setting the system clock waits (bounded) for timedatectl.
        ChildSpec("clock", ClockActor, backoff=DEVICE_BACKOFF, liveness_timeout=20.0),
        # One SMS may take 75 s and a voice call about 80 s on the modem's thread.
        ChildSpec("gsm", GsmActor, backoff=DEVICE_BACKOFF, liveness_timeout=200.0),
        # A code is checked with bcrypt against every user on the keypad's thread.
        ChildSpec("keypad", KeypadActor, backoff=DEVICE_BACKOFF, liveness_timeout=15.0),
    ]
    return children
