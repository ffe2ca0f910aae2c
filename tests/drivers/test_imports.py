"""Importing arpi.drivers and using the simulated factory never loads Pi libraries."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from types import SimpleNamespace
import arpi.drivers
from arpi.drivers import DriverFactory
f = DriverFactory(SimpleNamespace(board="simulated"))
banks = [f.sensor_inputs(i).read_levels() for i in range(2)]
f.outputs().set(1, True); f.power_sense().read(); f.rtc().read(); f.wiegand().poll()
f.close()
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("RPi", "spidev", "smbus2"))
print(",".join(loaded))
"""


def test_simulated_drivers_never_import_pi_libraries():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
