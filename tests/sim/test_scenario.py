"""Scenario files and console commands against the fake buses and a manual clock."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from arpi.actors import Actor
from arpi.sim.commands import CommandError, run_command
from arpi.sim.console import Console
from arpi.sim.control import Simulator
from arpi.sim.scenario import ScenarioError, load_scenario, parse_scenario, run_scenario


def test_parse_reads_times_and_refuses_bad_lines() -> None:
    steps = parse_scenario(
        "# a door\nat 0 open 3\nat 1.5 expect line 3 active within 2\n"
        "keys 12# # typed\n"
    )
    assert [(s.line, s.at, s.words[0], s.within) for s in steps] == [
        (2, 0.0, "open", 5.0),
        (3, 1.5, "expect", 2.0),
        (4, None, "keys", 5.0),
    ]
    assert steps[2].words == ("keys", "12#")
    for text, problem in [
        ("at x open 1", "time must be a number"),
        ("at 5 open 1\nat 2 close 1", "before the previous step"),
        ("at 1", "needs a time and a command"),
        ("expect state", "usage"),
        ("expect state monitoring_ready within never", "within"),
        ("# only a comment", "no steps"),
    ]:
        with pytest.raises(ScenarioError, match=problem):
            parse_scenario(text, "s.txt")


def test_a_scenario_passes_and_reports_each_mismatch(
    sim: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "walk.txt"
    path.write_text(
        "at 0 open 3\n"
        "expect line 3 active\n"
        "at 2 close 3\n"
        "expect line 3 idle within 0\n"
        "power battery\n"
        "expect power battery\n"
        "expect siren off\n"
        "expect output 1 off\n"
        "expect sms 0\n"
        "expect mail 0\n"
        "expect line 3 short within 0\n"  # a mismatch
        "teleport 3\n"  # an unknown command
        "at 10 expect power network within 0\n"  # another mismatch
    )
    steps = load_scenario(path)
    lines: list[str] = []
    start = sim.clock.monotonic()
    failures = asyncio.run(run_scenario(sim, steps, out=lines.append))
    assert failures == 3, lines
    assert sim.clock.monotonic() == pytest.approx(start + 10)
    assert any(line.startswith("FAIL line 11") and "saw idle" in line for line in lines)
    assert any(line.startswith("ERROR line 12") for line in lines)
    assert lines[-1] == "scenario finished: 13 steps, 3 failed"


def test_commands_explain_mistakes(sim: Simulator) -> None:
    async def main() -> list[str]:
        errors = []
        for words in (
            ["open"],
            ["open", "x"],
            ["open", "40"],
            ["line", "1", "ajar"],
            ["power", "solar"],
            ["gsm", "asleep"],
            ["keys", "12x"],
            ["fault", "alarm", "crash"],
            ["arm", "sideways"],
            ["expect"],
            ["fly"],
        ):
            try:
                await run_command(sim, words)
            except CommandError as exc:
                errors.append(str(exc))
        assert (await run_command(sim, ["+2"])).startswith("clock:")
        assert "no SMS" in await run_command(sim, ["sms"])
        assert "power=" in await run_command(sim, ["status"])
        return errors

    errors = asyncio.run(main())
    assert len(errors) == 11, errors
    assert any("unknown command 'fly'" in e for e in errors)


def test_arm_and_disarm_commands_ask_the_alarm(sim: Simulator) -> None:
    from arpi.http.alarm_api import Arm, Disarm

    received: list[Any] = []

    class FakeAlarm(Actor):
        def handle(self, message: object) -> object:
            if isinstance(message, (Arm, Disarm)):
                received.append(message)
                return type("Result", (), {"ok": True})()
            return super().handle(message)

    ref = FakeAlarm.start(sim.ctx, name="alarm")
    try:

        async def main() -> None:
            assert await run_command(sim, ["arm", "away"]) == "arm: ok"
            assert await run_command(sim, ["disarm", "2"]) == "disarm: ok"

        asyncio.run(main())
    finally:
        ref.stop()
    assert received[0].mode == "arm_away" and received[1].area_id == 2


def test_the_console_runs_typed_lines_and_quits(sim: Simulator, tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    out_path = tmp_path / "console.out"

    async def main() -> None:
        stopped = asyncio.Event()
        with open(out_path, "w") as out:
            console = Console(sim, on_quit=stopped.set, stdin_fd=read_fd, out=out)
            console.start()
            os.write(write_fd, b"open 4\nbogus\npower battery\nquit\n")
            await asyncio.wait_for(stopped.wait(), 10)
            await console.stop()

    try:
        asyncio.run(main())
    finally:
        os.close(read_fd)
        os.close(write_fd)
    text = out_path.read_text()
    assert "line 4: active" in text
    assert "error: unknown command 'bogus'" in text
    assert "power: battery" in text and sim.power == "battery"
