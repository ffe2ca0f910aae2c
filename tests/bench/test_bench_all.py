"""`arpi-bench all` runs every section briefly and prints one JSON summary.

Only the shape is checked: figures are never asserted (they depend on the machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from arpi.db import Database

ROOT = Path(__file__).resolve().parents[2]
PERCENTILES = ("trials", "min_ms", "median_ms", "p90_ms", "p99_ms", "max_ms")


def _bench(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "bin/arpi-bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _percentiles(figures: dict[str, object]) -> None:
    for key in PERCENTILES:
        assert key in figures, key
    assert isinstance(figures["trials"], int) and figures["trials"] >= 1
    assert figures["min_ms"] <= figures["median_ms"] <= figures["max_ms"]  # type: ignore[operator]


def test_all_sections_print_one_json_summary(db: Database) -> None:
    done = _bench(
        "all",
        "--trials",
        "5",
        "--warmup",
        "1",
        "--rest-seconds",
        "0.5",
        "--event-trials",
        "2",
        "--cpu-seconds",
        "0.5",
        "--database-url",
        db.url,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert set(result) == {"alarm", "rest", "events", "process", "summary"}

    alarm = result["alarm"]
    _percentiles(alarm)
    _percentiles(alarm["to_driver"])
    assert isinstance(alarm["met"], bool)

    rest = result["rest"]
    _percentiles(rest)
    assert rest["sensors"] == 15 and rest["clients"] == 8
    assert rest["errors"] == 0 and rest["requests_per_s"] > 0
    assert isinstance(rest["met"], bool)

    events = result["events"]
    _percentiles(events["sensor"])
    _percentiles(events["arm"])
    assert events["sensor"]["trials"] == 2 and events["arm"]["trials"] == 2

    process = result["process"]
    for key in ("rss_mb", "cpu_idle_pct", "cpu_armed_pct", "startup_s"):
        assert isinstance(process[key], float), key
        assert isinstance(process["met_each"][key], bool)

    summary = result["summary"]
    assert len(summary["load_average"]) == 3
    figures = {(row["section"], row["figure"]) for row in summary["targets"]}
    assert figures == {
        ("alarm", "median_ms"),
        ("alarm", "p99_ms"),
        ("rest", "requests_per_s"),
        ("rest", "p99_ms"),
        ("events", "sensor.p99_ms"),
        ("events", "arm.median_ms"),
        ("process", "rss_mb"),
        ("process", "cpu_idle_pct"),
        ("process", "cpu_armed_pct"),
        ("process", "startup_s"),
    }
    assert all(isinstance(row["met"], bool) for row in summary["targets"])
    assert summary["all_met"] == all(row["met"] for row in summary["targets"])


def test_bench_refuses_out_of_range_options() -> None:
    for flag, value in (
        ("--rest-seconds", "0"),
        ("--cpu-seconds", "0"),
        ("--event-trials", "1"),
    ):
        done = _bench("rest", flag, value, timeout=60)
        assert done.returncode == 2, (flag, done.stderr)
        assert flag in done.stderr
