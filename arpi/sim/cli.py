"""`arpi-simulate`'s own flags and run loop: demo data, mail sink, console, scenarios.

`add_arguments(parser)` adds `--demo`, `--scenario`, `--smtp-port` and
`--no-console` (the lead's parser already has `--clock`); `run_simulator(args,
settings)` runs the process until a signal, `quit` on the console or the end of a
scenario, and returns the exit code. `SimApplication` is the `Application` with
the simulator's parts: before the tree starts it loads the demo set (through the
database, idempotent) and puts every sensor line at the idle level of its wiring,
so the alarm's first scan sees a quiet house.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from arpi.app import Application, StartupError
from arpi.clock import clock_from_spec
from arpi.config import Settings
from arpi.sim.control import Simulator
from arpi.sim.demo import DEMOS, demo_board, load_demo
from arpi.sim.mail import MailSink

__all__ = ["SimApplication", "add_arguments", "run_simulator"]

log = structlog.get_logger("arpi.sim")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's flags (besides `--clock`, which the CLI defines)."""
    parser.add_argument(
        "--demo",
        choices=sorted(DEMOS),
        help="load a demo data set: house, board2 or board3 (idempotent)",
    )
    parser.add_argument(
        "--scenario",
        type=Path,
        help="play a scenario file and exit (non-zero on any mismatch)",
    )
    parser.add_argument(
        "--smtp-port",
        type=int,
        default=0,
        help="port of the local SMTP sink on 127.0.0.1 (0 = any free port)",
    )
    parser.add_argument(
        "--no-console",
        action="store_true",
        help="no interactive console even when standard input is a terminal",
    )


@dataclass
class SimApplication(Application):
    """An `Application` with the simulator: demo data, idle lines, mail sink."""

    demo: str | None = None
    smtp_port: int = 0
    simulator: Simulator | None = None
    mail: MailSink | None = None

    async def start(self) -> None:
        if self.mail is None:
            self.mail = MailSink(port=self.smtp_port)
        await self.mail.start()
        try:
            await super().start()
        except BaseException:
            await self.mail.stop()
            if self.simulator is not None:
                self.simulator.close()
            raise

    def _start_tree(self, loop: asyncio.AbstractEventLoop) -> Any:
        """Runs on a worker thread: demo data and idle lines, then the tree."""
        sim = self.simulator = Simulator(
            self.ctx, self.hardware, mail=self.mail, demo=self.demo
        )
        conn = self.ctx.db.connect()
        try:
            if self.demo:
                from arpi.http.settings import FrontSettings

                rounds = FrontSettings.from_settings(self.settings).bcrypt_rounds
                port = self.mail.port if self.mail and self.mail.running else None
                with conn.cursor() as cur:
                    load_demo(cur, self.demo, bcrypt_rounds=rounds, smtp_port=port)
                conn.commit()
            sim.read_wirings_blocking(conn)
        finally:
            conn.close()
        sim.idle_all()
        sim.watch_config(loop)
        return super()._start_tree(loop)

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            if self.simulator is not None:
                self.simulator.close()
            if self.mail is not None:
                await self.mail.stop()


def _fail(problem: str, code: int = 2) -> int:
    log.error("invalid_arguments", problem=problem)
    return code


async def run_simulator(args: argparse.Namespace, settings: Settings) -> int:
    """Run the simulator process; returns the exit code (see the module docstring)."""
    from arpi.sim.scenario import ScenarioError, load_scenario

    demo = getattr(args, "demo", None)
    if demo:
        board = demo_board(demo)
        if settings.simulated_board != board:
            settings = dataclasses.replace(settings, simulated_board=board)
    try:
        clock = clock_from_spec(settings.clock)
    except ValueError as exc:
        return _fail(str(exc))
    steps = None
    if getattr(args, "scenario", None) is not None:
        try:
            steps = await asyncio.to_thread(load_scenario, args.scenario)
        except ScenarioError as exc:
            clock.close()
            return _fail(str(exc))
    smtp_port = int(getattr(args, "smtp_port", 0) or 0)
    if not 0 <= smtp_port <= 65535:
        clock.close()
        return _fail("--smtp-port must be 0..65535")

    app = SimApplication(settings, clock=clock, demo=demo, smtp_port=smtp_port)
    app.install_signal_handlers()
    try:
        await app.start()
    except StartupError as exc:
        log.error("startup_failed", problem=str(exc))
        return 1
    assert app.simulator is not None
    log.info(
        "simulator_ready",
        clock=app.simulator.clock_mode,
        demo=demo,
        board=app.simulator.board,
        smtp_port=app.mail.port if app.mail and app.mail.running else None,
    )

    console = None
    scenario_task = None
    if steps is not None:
        scenario_task = asyncio.get_running_loop().create_task(
            _play(app, steps), name="arpi-sim-scenario"
        )
    elif not getattr(args, "no_console", False) and sys.stdin.isatty():
        from arpi.sim.console import Console

        console = Console(app.simulator, on_quit=lambda: app.request_stop_threadsafe(0))
        console.start()
    try:
        code = await app.wait_stopped()
    finally:
        if console is not None:
            await console.stop()
        if scenario_task is not None and not scenario_task.done():
            scenario_task.cancel()
            await asyncio.gather(scenario_task, return_exceptions=True)
    return code


async def _play(app: SimApplication, steps: list[Any]) -> None:
    from arpi.sim.scenario import run_scenario

    assert app.simulator is not None
    try:
        failures = await run_scenario(app.simulator, steps)
    except Exception as exc:  # noqa: BLE001 - report and stop with an error
        log.error("scenario_crashed", problem=str(exc))
        failures = 1
    app.request_stop_threadsafe(1 if failures else 0)
