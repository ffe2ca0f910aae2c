"""`arpi-bench alarm` runs end to end and prints one JSON object (figures unjudged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from arpi.cli.bench import summarize
from arpi.db import Database

ROOT = Path(__file__).resolve().parents[2]


def test_bench_alarm_prints_its_figures_as_json(db: Database) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "bin/arpi-bench",
            "alarm",
            "--trials",
            "20",
            "--warmup",
            "2",
            "--database-url",
            db.url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    figures = result["alarm"]
    assert figures["trials"] == 20
    for key in ("min_ms", "median_ms", "p90_ms", "p99_ms", "max_ms"):
        assert isinstance(figures[key], float)
    assert figures["min_ms"] <= figures["median_ms"] <= figures["max_ms"]
    assert isinstance(figures["met"], bool)


def test_bench_refuses_a_bad_trial_count() -> None:
    done = subprocess.run(
        [sys.executable, "bin/arpi-bench", "alarm", "--trials", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--trials" in done.stderr


def test_summarize_uses_nearest_rank_percentiles() -> None:
    figures = summarize([i * 1_000_000 for i in range(1, 101)])
    assert figures["p90_ms"] == 90.0 and figures["p99_ms"] == 99.0
    assert figures["median_ms"] == 50.5 and figures["max_ms"] == 100.0
