"""Child process for the SIGKILL test: a core that reaches a state, then waits.

`python -m tests.alarm_actors.child_core DATABASE_URL alert|entry` starts storage,
alarm, siren and outputs (ManualClock at 1000 s, wall `WALL0`), arms the system,
trips a sensor, waits until the state is durable, prints `READY` and then blocks
until it is killed. Logs go to stderr.
"""

from __future__ import annotations

import sys
import threading

from arpi.db import Database
from arpi.logs import configure_logging
from tests.alarm_actors.rig import DOOR, WINDOW, A, Core


def main() -> None:
    url, scenario = sys.argv[1], sys.argv[2]
    configure_logging("json", "warning", stream=sys.stderr)
    core = Core(Database(url)).start()
    assert core.arm().ok
    if scenario == "alert":
        core.sample((WINDOW, A))
        core.wait_chip(True)
        core.advance(10)  # ten seconds into the alert
    else:
        core.sample((DOOR, A))
        core.advance(4)  # four seconds into the ten-second entry delay
    core.settle_outputs()
    print("READY", core.status().monitoring_state, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
