"""`arpi-bench`: in-process latency measurements, printed as one JSON object.

Sections (subcommands); `all` runs every one of them:

- `alarm`: from a sensor sample crossing into alarm (instant zone, system armed) to
  the siren's channel being written on the output chip. Real actors (`storage`,
  `alarm`, `siren`, `outputs` over the simulated board), real PostgreSQL. Each trial
  disarms and re-arms (both acknowledged after their commit) before the next trip.

- `rest`, `events`, `process`: against an `arpi-simulate` child process (demo house
  plus 7 sensors = 15, real clock); see `arpi.cli.bench_process`. One simulator
  serves every such section of a run.

`all` runs every section and adds `summary`: each target, the figure and whether it
was met, with the load average of the machine (other work skews the figures). The
figures are printed, never judged in tests: `met` only says whether the targets
were reached on this run.

PostgreSQL: with `--database-url` / DATABASE_URL a scratch database is created on
that server and dropped afterwards (the named database itself is never written);
otherwise an embedded server runs in a temporary directory that is removed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["SECTIONS", "main", "summarize"]

ALARM_TARGETS = {"median_ms": 0.5, "p99_ms": 2.0}
WAIT = 10.0


def summarize(samples_ns: Sequence[int]) -> dict[str, float | int]:
    """min, median, p90, p99 and max in milliseconds (nearest-rank percentiles)."""
    if not samples_ns:
        raise ValueError("samples: at least one is needed")
    ordered = sorted(samples_ns)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] / 1e6

    return {
        "trials": len(ordered),
        "min_ms": round(ordered[0] / 1e6, 4),
        "median_ms": round(statistics.median(ordered) / 1e6, 4),
        "p90_ms": round(rank(0.90), 4),
        "p99_ms": round(rank(0.99), 4),
        "max_ms": round(ordered[-1] / 1e6, 4),
    }


# -- PostgreSQL for a run ------------------------------------------------------------


@contextmanager
def scratch_database(url: str | None) -> Iterator[Any]:
    """A fresh migrated database, removed afterwards (see the module docstring)."""
    from arpi.db import Database, EmbeddedPostgres, migrate

    name = f"arpi_bench_{uuid.uuid4().hex[:12]}"
    if url:
        db = Database(url).with_name(name)
        db.create()
        try:
            migrate(db)
            yield db
        finally:
            db.drop()
        return
    base = (
        Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    )
    root = Path(tempfile.mkdtemp(prefix="arpi-bench-", dir=base))
    root.chmod(0o711)
    server = EmbeddedPostgres(root / "pgdata")
    try:
        server.start()
        db = Database(server.url(name))
        db.create()
        migrate(db)
        yield db
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


# -- section: alarm ----------------------------------------------------------------


class _Probe:
    """Set by the output chip wrapper when channel 0 is written."""

    def __init__(self) -> None:
        self.on = threading.Event()
        self.off = threading.Event()
        self.stamp = 0  # channel 0 written (the write returned)
        self.entered = 0  # the write to the chip began


class _TimedChip:
    """The simulated DRV8860 driver, noting when the siren channel is written."""

    def __init__(self, inner: Any, probe: _Probe) -> None:
        self._inner = inner
        self._probe = probe

    def write(self, states: Sequence[bool]) -> Any:
        entered = time.perf_counter_ns()
        result = self._inner.write(states)
        if states[0]:
            self._probe.stamp = time.perf_counter_ns()
            self._probe.entered = entered
            self._probe.on.set()
        else:
            self._probe.off.set()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _seed_alarm(db: Any) -> int:
    """One instant zone and one sensor in the seeded area; returns the sensor id."""
    from arpi.db import sql, tables

    conn = db.connect(application_name="arpi-bench")
    try:
        with conn.cursor() as cur:
            z, s, a = tables.zone, tables.sensor, tables.area
            zone = sql.insert_returning(
                cur,
                sql.Q.into(z).columns(z.name).insert(sql.param()).returning(z.id),
                ("instant",),
            )["id"]
            area = sql.fetch_value(
                cur, sql.Q.from_(a).select(a.id).orderby(a.id).limit(1)
            )
            sensor = sql.insert_returning(
                cur,
                sql.Q.into(s)
                .columns(s.name, s.channel, s.zone_id, s.area_id, s.type_id)
                .insert(*[sql.param() for _ in range(5)])
                .returning(s.id),
                ("bench", 0, zone, area, 1),
            )["id"]
        conn.commit()
        return int(sensor)
    finally:
        conn.close()


def bench_alarm(db: Any, trials: int, warmup: int) -> dict[str, Any]:
    """Run the `alarm` section against a migrated database; returns its figures."""
    from arpi.actors import Ping, make_test_context
    from arpi.actors.alarm import AlarmLogic, ask_alarm
    from arpi.actors.outputs import OutputsActor
    from arpi.actors.siren import Siren
    from arpi.alarm.lines import LineState
    from arpi.alarm.messages import Arm, Disarm, SensorsSampled
    from arpi.clock import RealClock
    from arpi.db.storage import DatabaseWriter
    from arpi.drivers.factory import DriverFactory, HardwareConfig

    sensor = _seed_alarm(db)
    probe = _Probe()

    class Drivers(DriverFactory):
        def outputs(self) -> Any:
            return _TimedChip(super().outputs(), probe)

    drivers = Drivers(HardwareConfig(board="simulated"))
    clock = RealClock()
    ctx = dataclasses.replace(make_test_context(clock), db=db, drivers=drivers)
    refs = []
    try:
        for name, cls in (
            ("storage", DatabaseWriter),
            ("alarm", AlarmLogic),
            ("siren", Siren),
            ("outputs", OutputsActor),
        ):
            refs.append(cls.start(ctx, name=name))
            ctx.directory.address(name).ask(Ping(), timeout=WAIT)
        alarm = ctx.directory.address("alarm")
        if not ask_alarm(alarm, Arm("arm_away"), WAIT).ok:
            raise RuntimeError("the bench system could not be armed")
        active = ((sensor, LineState.ACTIVE),)
        idle = ((sensor, LineState.IDLE),)
        samples: list[int] = []
        to_driver: list[int] = []
        for trial in range(warmup + trials):
            probe.on.clear()
            probe.off.clear()
            started = time.perf_counter_ns()
            alarm.tell(SensorsSampled("bench", clock.monotonic(), active))
            if not probe.on.wait(WAIT):
                raise RuntimeError(f"trial {trial}: the siren output was never set")
            if trial >= warmup:
                samples.append(probe.stamp - started)
                to_driver.append(probe.entered - started)
            if not ask_alarm(alarm, Disarm(), WAIT).ok:
                raise RuntimeError(f"trial {trial}: disarm refused")
            if not probe.off.wait(WAIT):
                raise RuntimeError(f"trial {trial}: the siren output stayed on")
            alarm.tell(SensorsSampled("bench", clock.monotonic(), idle))
            if not ask_alarm(alarm, Arm("arm_away"), WAIT).ok:
                raise RuntimeError(f"trial {trial}: re-arming refused")
    finally:
        for ref in reversed(refs):
            if ref.is_alive():
                ref.stop(timeout=WAIT)
        clock.close()
        drivers.close()
    figures = summarize(samples)
    return {
        "what": "sensor sample into alarm -> siren channel written on the chip",
        **figures,
        # The same trials up to the moment the chip driver was called: the rest is
        # the (simulated) chip's own serial write.
        "to_driver": summarize(to_driver),
        "targets": ALARM_TARGETS,
        "met": figures["median_ms"] < ALARM_TARGETS["median_ms"]
        and figures["p99_ms"] < ALARM_TARGETS["p99_ms"],
    }


def _run_alarm(args: argparse.Namespace) -> dict[str, Any]:
    with scratch_database(args.database_url) as db:
        result = bench_alarm(db, args.trials, args.warmup)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return result


def _process_runner(name: str) -> Callable[[argparse.Namespace], dict[str, Any]]:
    def run(args: argparse.Namespace) -> dict[str, Any]:
        from arpi.cli import bench_process

        return bench_process.RUNNERS[name](args)

    return run


# Section name -> runner(args) -> figures. Later parts register theirs here.
SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "alarm": _run_alarm,
    "rest": _process_runner("rest"),
    "events": _process_runner("events"),
    "process": _process_runner("process"),
}


def _summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: section, figure, value, target, met."""
    rows: list[dict[str, Any]] = []

    def add(section: str, figure: str, value: Any, target: float, below: bool) -> None:
        met = value is not None and (value < target if below else value >= target)
        rows.append(
            {
                "section": section,
                "figure": figure,
                "value": value,
                "target": target,
                "met": met,
            }
        )

    alarm = results.get("alarm")
    if alarm:
        add("alarm", "median_ms", alarm["median_ms"], ALARM_TARGETS["median_ms"], True)
        add("alarm", "p99_ms", alarm["p99_ms"], ALARM_TARGETS["p99_ms"], True)
    rest = results.get("rest")
    if rest:
        t = rest["targets"]
        add(
            "rest", "requests_per_s", rest["requests_per_s"], t["requests_per_s"], False
        )
        add("rest", "p99_ms", rest.get("p99_ms"), t["p99_ms"], True)
    events = results.get("events")
    if events:
        t = events["targets"]
        add(
            "events",
            "sensor.p99_ms",
            events["sensor"]["p99_ms"],
            t["sensor_p99_ms"],
            True,
        )
        add(
            "events",
            "arm.median_ms",
            events["arm"]["median_ms"],
            t["arm_median_ms"],
            True,
        )
    process = results.get("process")
    if process:
        for figure, target in process["targets"].items():
            add("process", figure, process[figure], target, True)
    return rows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arpi-bench", description="In-process latency figures as one JSON object."
    )
    parser.add_argument(
        "section",
        nargs="?",
        default="all",
        choices=[*SECTIONS, "all"],
        help="what to measure (default: all)",
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=1000,
        help="measured trials per section (default 1000)",
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="unmeasured trials first (default 20)"
    )
    parser.add_argument(
        "--rest-seconds",
        type=float,
        default=10.0,
        help="how long the REST load runs (default 10 s)",
    )
    parser.add_argument(
        "--event-trials",
        type=int,
        default=200,
        help="measured Socket.IO round trips of each kind, at most --trials "
        "(default 200)",
    )
    parser.add_argument(
        "--cpu-seconds",
        type=float,
        default=10.0,
        help="window of each CPU measurement (default 10 s)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="PostgreSQL server for a scratch database "
        "(default: DATABASE_URL, else an embedded server)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen sections; print `{section: figures}` as JSON on stdout."""
    args = _parser().parse_args(argv)
    if args.trials < 1:
        print("arpi-bench: --trials must be at least 1", file=sys.stderr)
        return 2
    if args.warmup < 0:
        print("arpi-bench: --warmup must not be negative", file=sys.stderr)
        return 2
    for flag, value, low, high in (
        ("--rest-seconds", args.rest_seconds, 0.1, 600.0),
        ("--cpu-seconds", args.cpu_seconds, 0.5, 600.0),
        ("--event-trials", args.event_trials, 2, 100_000),
    ):
        if not low <= value <= high:
            print(f"arpi-bench: {flag} must be within {low}..{high}", file=sys.stderr)
            return 2
    from arpi.logs import configure_logging

    configure_logging("json", "error", stream=sys.stderr)
    names = list(SECTIONS) if args.section == "all" else [args.section]
    results: dict[str, Any] = {}
    try:
        for name in names:
            results[name] = SECTIONS[name](args)
    finally:
        from arpi.cli.bench_process import close_fixture

        close_fixture(args)
    if args.section == "all":
        rows = _summary(results)
        results["summary"] = {
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
            "targets": rows,
            "all_met": all(row["met"] for row in rows),
        }
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
