"""`arpi-bench` sections measured against a running `arpi-simulate` process.

The simulator is started as a child process (`--demo house --clock real`, a
temporary data directory, a free port on 127.0.0.1) and driven only over HTTP and
Socket.IO, as the web UI and a person would. The demo house has 8 sensors; the
bench adds 7 more (channels 8..14) so every figure is taken with 15.

Sections (each returns a dict of figures, `targets` and `met`):

- `rest`: authenticated `GET /api/sensors/` from 8 concurrent keep-alive clients
  for a fixed time: throughput and latency percentiles.
- `events`: a sensor line changed through the simulator control API -> the
  `sensors_state_change` event at a connected Socket.IO client (includes the wait
  for the next scan, so the target is 20 ms plus the sampling period); and an arm
  request -> `arm_state_change` at the client.
- `process`: resident memory of the arpi process (its own PID only: PostgreSQL is
  excluded), CPU used over a fixed window while disarmed and idle and while armed,
  and the time from start to `/api/version` answering with an existing data
  directory.

All traffic goes to 127.0.0.1, and every loop is bounded in count and in time.
Figures are printed, never judged in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "EVENT_TARGETS",
    "PROCESS_TARGETS",
    "REST_TARGETS",
    "SimProcess",
    "bench_events",
    "bench_process",
    "bench_rest",
]

REPO = Path(__file__).resolve().parents[2]
ORIGIN = "http://localhost:4200"
HOST = "127.0.0.1"
START_TIMEOUT = 90.0
SAMPLE_RATE = 20  # the simulator's default scans per second (arpi.config)

REST_TARGETS = {"requests_per_s": 1500.0, "p99_ms": 20.0}
EVENT_TARGETS = {
    "sensor_p99_ms": 20.0 + 1000.0 / SAMPLE_RATE,
    "arm_median_ms": 3.0,
}
PROCESS_TARGETS = {
    "rss_mb": 80.0,
    "cpu_idle_pct": 3.0,
    "cpu_armed_pct": 3.0,
    "startup_s": 3.0,
}

# Extra sensors: demo channels 0..7 are taken; 8..14 make 15 in all.
EXTRA_CHANNELS = range(8, 15)
WAIT = 10.0


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (other work on the machine)."""
    return [round(x, 2) for x in os.getloadavg()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _launcher() -> list[str]:
    script = REPO / "bin" / "arpi-simulate"
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "arpi.cli.simulate"]


class SimProcess:
    """One `arpi-simulate` child on a data directory; restartable on it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.device_token: str | None = None
        self._log: Any = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> float:
        """Start the child; returns seconds until `/api/version` answered 200.

        Raises RuntimeError if it exits or is not ready within START_TIMEOUT.
        """
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["ARPI_LOG_FORMAT"] = "json"
        # closed in stop()
        self._log = open(self.root / f"arpi-simulate-{self.starts}.log", "wb")
        began = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                *_launcher(),
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                "--host",
                HOST,
                "--demo",
                "house",
                "--clock",
                "real",
                "--no-console",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(self.root),
        )
        deadline = began + START_TIMEOUT
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"arpi-simulate exited with {self.proc.returncode}: {self.tail()}"
                )
            if self._answers():
                return time.perf_counter() - began
            time.sleep(0.01)
        raise RuntimeError(f"arpi-simulate not ready in {START_TIMEOUT} s")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/api/version", timeout=1) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def tail(self) -> str:
        try:
            path = self.root / f"arpi-simulate-{self.starts}.log"
            return path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> int:
        """SIGINT, wait (then SIGKILL after 60 s); returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        if self._log is not None:
            self._log.close()
            self._log = None
        return int(self.proc.returncode)

    def cleanup(self) -> None:
        """Stop the child and any server left on its data directory (by PID)."""
        import psutil

        self.stop()
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if any(str(self.data_dir) in part for part in cmdline):
                try:
                    proc.kill()
                except psutil.Error:
                    pass


class Client:
    """The web UI's side: REST with tokens, one aiohttp session (keep-alive)."""

    def __init__(self, sim: SimProcess, session: Any) -> None:
        self.sim = sim
        self.session = session
        self.user_token: str | None = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        token: str | None = None,
        expect: int = 200,
    ) -> Any:
        headers = {"Origin": ORIGIN}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.session.request(
            method, self.sim.base + path, headers=headers, json=json_body
        ) as response:
            body = await response.json(content_type=None)
            if response.status != expect and not (
                expect == 200 and 200 <= response.status < 300
            ):
                raise RuntimeError(f"{method} {path}: {response.status} {body}")
            return body

    async def login(self) -> str:
        if self.sim.device_token is None:
            body = await self.call(
                "POST",
                "/api/user/register_device",
                json_body={"registration_code": "ABCD1234"},
            )
            self.sim.device_token = body["device_token"]
        body = await self.call(
            "POST",
            "/api/user/authenticate",
            json_body={"device_token": self.sim.device_token, "access_code": "1234"},
            token=self.sim.device_token,
        )
        self.user_token = body["user_token"]
        return self.user_token

    async def line(self, channel: int, state: str) -> None:
        await self.call(
            "PUT", f"/api/simulator/channel/{channel}", json_body={"state": state}
        )


async def _add_sensors(client: Client) -> None:
    """Give the demo house 15 sensors (idempotent: channels already used are kept)."""
    token = client.user_token
    sensors = await client.call("GET", "/api/sensors/", token=token)
    used = {s.get("channel") for s in sensors}
    zones = await client.call("GET", "/api/zones/", token=token)
    areas = await client.call("GET", "/api/areas/", token=token)
    zone = next((z["id"] for z in zones if z["name"] == "Perimeter"), zones[0]["id"])
    area = next((a["id"] for a in areas if a["name"] == "House"), areas[0]["id"])
    for channel in EXTRA_CHANNELS:
        if channel in used:
            continue
        await client.call(
            "POST",
            "/api/sensors/",
            token=token,
            expect=201,
            json_body={
                "name": f"Bench {channel}",
                "channel": channel,
                "zoneId": zone,
                "areaId": area,
                "typeId": 1,
            },
        )
    for channel in EXTRA_CHANNELS:
        await client.line(channel, "idle")


async def _session(sim: SimProcess, connections: int = 8) -> Any:
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, force_close=False),
        timeout=aiohttp.ClientTimeout(total=WAIT),
    )


class Fixture:
    """One simulator process shared by the sections of one run.

    `prepare()` starts it once on a fresh data directory (demo house plus 7
    sensors), stops it, and starts it again: that second start is the start-up
    time with an existing data directory.
    """

    def __init__(self) -> None:
        base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
        self.root = Path(tempfile.mkdtemp(prefix="arpi-bench-", dir=base))
        self.root.chmod(0o711)  # the embedded server may run as another user
        self.sim = SimProcess(self.root)
        self.startup_s: float | None = None
        self.first_start_s: float | None = None

    def prepare(self) -> None:
        self.first_start_s = self.sim.start()
        asyncio.run(self._first())
        self.sim.stop()
        self.startup_s = self.sim.start()

    async def _first(self) -> None:
        async with await _session(self.sim) as session:
            client = Client(self.sim, session)
            await client.login()
            await _add_sensors(client)

    def close(self) -> None:
        self.sim.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)


def fixture_for(args: argparse.Namespace) -> Fixture:
    """The run's shared simulator (started on first use; closed by `close_all`)."""
    fixture = getattr(args, "_fixture", None)
    if fixture is None:
        fixture = Fixture()
        args._fixture = fixture
        try:
            fixture.prepare()
        except BaseException:
            fixture.close()
            args._fixture = None
            raise
    return fixture


def close_fixture(args: argparse.Namespace) -> None:
    fixture = getattr(args, "_fixture", None)
    if fixture is not None:
        args._fixture = None
        fixture.close()


# -- rest --------------------------------------------------------------------------


async def _rest(
    sim: SimProcess, clients: int, seconds: float, max_requests: int
) -> dict[str, Any]:
    from arpi.cli.bench import summarize

    async with await _session(sim, clients) as session:
        client = Client(sim, session)
        token = await client.login()
        sensors = await client.call("GET", "/api/sensors/", token=token)
        url = sim.base + "/api/sensors/"
        headers = {"Origin": ORIGIN, "Authorization": f"Bearer {token}"}
        samples: list[int] = []
        errors = 0
        stop_at = time.perf_counter() + seconds
        budget = [max_requests]

        async def worker() -> None:
            nonlocal errors
            clock = time.perf_counter_ns
            while budget[0] > 0 and time.perf_counter() < stop_at:
                budget[0] -= 1
                began = clock()
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    status = response.status
                if status != 200:
                    errors += 1
                    continue
                samples.append(clock() - began)

        # Warm every connection first (not measured).
        warm = [session.get(url, headers=headers) for _ in range(clients)]
        for response in await asyncio.gather(*warm):
            await response.read()
            response.release()
        import psutil

        server, me = psutil.Process(sim.pid), psutil.Process()
        cpu0 = (_cpu(server), _cpu(me))
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - began
        cpu1 = (_cpu(server), _cpu(me))
    figures = summarize(samples) if samples else {"trials": 0}
    rate = len(samples) / elapsed if elapsed > 0 else 0.0
    return {
        "what": f"authenticated GET /api/sensors/ ({len(sensors)} sensors), "
        f"{clients} concurrent keep-alive clients",
        "sensors": len(sensors),
        "clients": clients,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(rate, 1),
        "errors": errors,
        # Which side was busy: the server (arpi, own PID) and this load generator,
        # in % of one core over the run.
        "server_cpu_pct": round(100 * (cpu1[0] - cpu0[0]) / elapsed, 1),
        "client_cpu_pct": round(100 * (cpu1[1] - cpu0[1]) / elapsed, 1),
        **figures,
        "targets": REST_TARGETS,
        "met": bool(samples)
        and errors == 0
        and rate >= REST_TARGETS["requests_per_s"]
        and figures["p99_ms"] < REST_TARGETS["p99_ms"],
    }


def bench_rest(args: argparse.Namespace) -> dict[str, Any]:
    """The `rest` section against the run's simulator."""
    fixture = fixture_for(args)
    seconds = args.rest_seconds
    result = asyncio.run(
        _rest(
            fixture.sim,
            clients=8,
            seconds=seconds,
            max_requests=max(1, int(seconds * 20_000)),
        )
    )
    result["load_average"] = load_average()
    return result


# -- events ------------------------------------------------------------------------


class _Watcher:
    """A Socket.IO client that stamps each event of interest as it arrives."""

    def __init__(self) -> None:
        self.waiting: dict[str, tuple[Any, asyncio.Future[int]]] = {}

    def expect(self, name: str, payload: Any) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiting[name] = (payload, future)
        return future

    def seen(self, name: str, data: Any) -> None:
        stamp = time.perf_counter_ns()
        entry = self.waiting.get(name)
        if entry is not None and entry[0] == data and not entry[1].done():
            del self.waiting[name]
            entry[1].set_result(stamp)


async def _events(sim: SimProcess, trials: int) -> dict[str, Any]:
    import socketio

    from arpi.cli.bench import summarize

    async with await _session(sim, 2) as session:
        client = Client(sim, session)
        token = await client.login()
        watcher = _Watcher()
        sio = socketio.AsyncClient(reconnection=False)

        @sio.on("*")
        async def any_event(name: str, data: Any = None) -> None:
            watcher.seen(name, data)

        await sio.connect(
            f"{sim.base}?token={sim.device_token}",
            headers={"Origin": ORIGIN},
            transports=["websocket"],
            socketio_path="socket.io",
            wait_timeout=10,
        )
        try:
            channel = EXTRA_CHANNELS[0]
            sensor_ns: list[int] = []
            # Warm-up: one full cycle, not measured.
            for state, value in (("active", True), ("idle", False)):
                done = watcher.expect("sensors_state_change", value)
                await client.line(channel, state)
                await asyncio.wait_for(done, WAIT)
            phase = random.Random(trials)
            for trial in range(trials):
                state, value = ("active", True) if trial % 2 == 0 else ("idle", False)
                # A change right after an event would always land just after a scan
                # and wait a whole period: start at a random point of the period.
                await asyncio.sleep(phase.uniform(0.0, 1.0 / SAMPLE_RATE))
                done = watcher.expect("sensors_state_change", value)
                began = time.perf_counter_ns()
                await client.line(channel, state)
                sensor_ns.append(await asyncio.wait_for(done, WAIT) - began)
            if trials % 2:
                done = watcher.expect("sensors_state_change", False)
                await client.line(channel, "idle")
                await asyncio.wait_for(done, WAIT)

            arm_ns: list[int] = []
            disarm = "/api/monitoring/disarm"
            arm = "/api/monitoring/arm?type=arm_away"
            for trial in range(trials + 2):
                done = watcher.expect("arm_state_change", "arm_away")
                began = time.perf_counter_ns()
                await client.call("PUT", arm, token=token)
                stamp = await asyncio.wait_for(done, WAIT)
                if trial >= 2:
                    arm_ns.append(stamp - began)
                done = watcher.expect("arm_state_change", "disarm")
                await client.call("PUT", disarm, token=token)
                await asyncio.wait_for(done, WAIT)
        finally:
            await sio.disconnect()
    sensor = summarize(sensor_ns)
    armed = summarize(arm_ns)
    return {
        "sensor": {
            "what": "line changed (simulator API) -> sensors_state_change at a "
            f"Socket.IO client; includes the wait for the next scan "
            f"({1000 // SAMPLE_RATE} ms period)",
            **sensor,
            "target_p99_ms": EVENT_TARGETS["sensor_p99_ms"],
            "met": sensor["p99_ms"] < EVENT_TARGETS["sensor_p99_ms"],
        },
        "arm": {
            "what": "PUT /api/monitoring/arm sent -> arm_state_change at the client",
            **armed,
            "target_median_ms": EVENT_TARGETS["arm_median_ms"],
            "met": armed["median_ms"] < EVENT_TARGETS["arm_median_ms"],
        },
        "targets": EVENT_TARGETS,
        "met": sensor["p99_ms"] < EVENT_TARGETS["sensor_p99_ms"]
        and armed["median_ms"] < EVENT_TARGETS["arm_median_ms"],
    }


def bench_events(args: argparse.Namespace) -> dict[str, Any]:
    """The `events` section against the run's simulator."""
    fixture = fixture_for(args)
    result = asyncio.run(
        _events(fixture.sim, max(2, min(args.trials, args.event_trials)))
    )
    result["load_average"] = load_average()
    return result


# -- process -----------------------------------------------------------------------


def _cpu(proc: Any) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _cpu_percent(pid: int, seconds: float) -> float:
    """Process CPU time (user + system, own PID) over `seconds`, in % of one core."""
    import psutil

    proc = psutil.Process(pid)
    before = proc.cpu_times()
    began = time.perf_counter()
    time.sleep(seconds)
    after = proc.cpu_times()
    elapsed = time.perf_counter() - began
    used = (after.user - before.user) + (after.system - before.system)
    return round(100.0 * used / elapsed, 2)


async def _set_armed(sim: SimProcess, armed: bool) -> None:
    async with await _session(sim, 1) as session:
        client = Client(sim, session)
        token = await client.login()
        path = (
            "/api/monitoring/arm?type=arm_away" if armed else "/api/monitoring/disarm"
        )
        await client.call("PUT", path, token=token)


def bench_process(args: argparse.Namespace) -> dict[str, Any]:
    """The `process` section: memory, CPU idle and armed, start-up time."""
    import psutil

    fixture = fixture_for(args)
    sim = fixture.sim
    window = args.cpu_seconds
    asyncio.run(_set_armed(sim, False))
    time.sleep(min(2.0, window))  # let the arm/disarm work settle
    idle = _cpu_percent(sim.pid, window)
    asyncio.run(_set_armed(sim, True))
    time.sleep(min(2.0, window))
    armed = _cpu_percent(sim.pid, window)
    asyncio.run(_set_armed(sim, False))
    rss = psutil.Process(sim.pid).memory_info().rss / 2**20
    startup = fixture.startup_s
    assert startup is not None
    met = {
        "rss_mb": rss < PROCESS_TARGETS["rss_mb"],
        "cpu_idle_pct": idle < PROCESS_TARGETS["cpu_idle_pct"],
        "cpu_armed_pct": armed < PROCESS_TARGETS["cpu_armed_pct"],
        "startup_s": startup < PROCESS_TARGETS["startup_s"],
    }
    return {
        "what": "the arpi-simulate process (own PID; PostgreSQL excluded)",
        "rss_mb": round(rss, 1),
        "cpu_idle_pct": idle,
        "cpu_armed_pct": armed,
        "cpu_window_s": window,
        "startup_s": round(startup, 3),
        "first_start_s": round(fixture.first_start_s or 0.0, 3),
        "targets": PROCESS_TARGETS,
        "met_each": met,
        "met": all(met.values()),
        "load_average": load_average(),
    }


RUNNERS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "rest": bench_rest,
    "events": bench_events,
    "process": bench_process,
}
