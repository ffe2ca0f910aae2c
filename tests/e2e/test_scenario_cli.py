"""`arpi-simulate --scenario FILE` plays the steps and exits 1 on a mismatch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.e2e.conftest import LAUNCHER, free_port
from tests.pg import temp_root

SCENARIO = """\
# board 3 test set: a dual line, a double-EOL line
at 0    line 0 a_active
        expect line 0 a_active
        line 4 active                   # Double EOL
        expect line 4 active
at 1    close 4
        line 0 idle
at 2    expect state monitoring_ready
        keys 12#                        # not a comment: the # is typed
        expect power battery within 0   # deliberately wrong: mains is on
"""


def test_scenario_reports_each_step_and_fails_on_a_mismatch() -> None:
    root = temp_root("arpi-e2e-")
    root.chmod(0o711)
    try:
        path = root / "steps.txt"
        path.write_text(SCENARIO)
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["ARPI_LOG_FORMAT"] = "json"
        env["ARPI_LOG_LEVEL"] = "error"
        done = subprocess.run(
            [
                sys.executable,
                str(LAUNCHER),
                "--data-dir",
                str(root / "data"),
                "--port",
                str(free_port()),
                "--clock",
                "manual",
                "--demo",
                "board3",
                "--scenario",
                str(path),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        out = done.stdout
        assert done.returncode == 1, done.stdout + done.stderr
        assert "PASS line 3: expect line 0 a_active" in out
        assert "PASS line 5: expect line 4 active" in out
        assert "PASS line 8: expect state monitoring_ready" in out
        assert "ok   line 9: keys 12#" in out
        assert "FAIL line 10: expect power battery (saw network)" in out
        assert "scenario finished: 9 steps, 1 failed" in out
    finally:
        shutil.rmtree(root, ignore_errors=True)
