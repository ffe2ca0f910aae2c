"""Scenario files: timed simulator steps with expected states (`--scenario FILE`).

Format (plain text, one step per line, a word starting with `#` starts a comment)::

    at 0    open 0                  # at T seconds of simulator time: a command
    at 1    expect state monitoring_alert_delay
    at 21   expect siren on
    keys 1234#                      # no "at": right after the previous step
    expect state monitoring_ready within 3

Times count from the start of the scenario on the simulator's clock and never go
backwards. With `--clock manual` the runner advances the clock to each step's
time (letting the tree settle); with a real or fast clock it waits. An `expect`
holds when it becomes true within `within S` seconds of real time (default 5);
a mismatch is reported with the line number and the run goes on. The result is
the number of failed expectations and errors (the process exits 1 if non-zero).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from arpi.clock import ManualClock
from arpi.sim.commands import CommandError, check_expectation, run_command, split_words
from arpi.sim.control import Simulator

__all__ = ["ScenarioError", "Step", "parse_scenario", "run_scenario"]

log = structlog.get_logger("arpi.sim")

DEFAULT_WITHIN = 5.0
POLL = 0.02


class ScenarioError(ValueError):
    """The file cannot be read or a line cannot be understood; names the line."""


@dataclass(frozen=True, slots=True)
class Step:
    line: int
    at: float | None  # None: right after the previous step
    words: tuple[str, ...]
    within: float = DEFAULT_WITHIN

    @property
    def is_expectation(self) -> bool:
        return self.words[0].lower() == "expect"

    @property
    def text(self) -> str:
        return " ".join(self.words)


def parse_scenario(text: str, source: str = "scenario") -> list[Step]:
    """Parse scenario text. Raises ScenarioError naming `source:line`."""
    steps: list[Step] = []
    last = 0.0
    for number, raw in enumerate(text.splitlines(), start=1):
        words = split_words(raw)
        if not words:
            continue
        where = f"{source}:{number}"
        at: float | None = None
        if words[0].lower() == "at":
            if len(words) < 3:
                raise ScenarioError(f"{where}: 'at' needs a time and a command")
            try:
                at = float(words[1])
            except ValueError:
                raise ScenarioError(
                    f"{where}: time must be a number, got {words[1]!r}"
                ) from None
            if not 0 <= at <= 86400 * 7:
                raise ScenarioError(f"{where}: time must be within 0..604800 s")
            if at < last:
                raise ScenarioError(f"{where}: time {at:g} is before the previous step")
            last = at
            words = words[2:]
        within = DEFAULT_WITHIN
        if words[0].lower() == "expect":
            if len(words) >= 2 and words[-2].lower() == "within":
                try:
                    within = float(words[-1])
                except ValueError:
                    raise ScenarioError(f"{where}: within needs seconds") from None
                if not 0 <= within <= 600:
                    raise ScenarioError(f"{where}: within must be 0..600 s")
                words = words[:-2]
            if len(words) < 3:
                raise ScenarioError(f"{where}: usage: expect WHAT VALUE")
        steps.append(Step(number, at, tuple(words), within))
    if not steps:
        raise ScenarioError(f"{source}: no steps")
    return steps


def load_scenario(path: Path) -> list[Step]:
    """Read and parse a scenario file. Raises ScenarioError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from None
    return parse_scenario(text, str(path))


async def run_scenario(
    sim: Simulator, steps: list[Step], out: Callable[[str], None] = print
) -> int:
    """Play `steps`; returns the number of failures. Runs on the loop."""
    clock = sim.clock
    start = clock.monotonic()
    failures = 0
    for step in steps:
        if step.at is not None:
            due = start + step.at
            if isinstance(clock, ManualClock):
                ahead = due - clock.monotonic()
                if ahead > 0:
                    await sim.advance(ahead)
            else:
                factor = float(getattr(clock, "factor", 1.0))
                # Waiting for a time of the scenario's clock, which may run fast:
                # there is no event to wait on, only the clock to read.
                while clock.monotonic() < due:  # noqa: ASYNC110
                    await asyncio.sleep(min(0.5, (due - clock.monotonic()) / factor))
        label = f"line {step.line}: {step.text}"
        try:
            if step.is_expectation:
                ok, seen = await _expect(sim, list(step.words[1:]), step.within)
                if ok:
                    out(f"PASS {label}")
                else:
                    failures += 1
                    out(f"FAIL {label} (saw {seen})")
                    log.warning("scenario_mismatch", line=step.line, seen=seen)
            else:
                result = await run_command(sim, list(step.words))
                out(f"ok   {label}" + (f" -> {result}" if result else ""))
        except CommandError as exc:
            failures += 1
            out(f"ERROR {label}: {exc}")
            log.warning("scenario_step_failed", line=step.line, problem=str(exc))
    out(f"scenario finished: {len(steps)} steps, {failures} failed")
    return failures


async def _expect(sim: Simulator, words: list[str], within: float) -> tuple[bool, str]:
    if isinstance(sim.clock, ManualClock):
        await sim.settle()
    deadline = time.monotonic() + within
    while True:
        ok, seen = await check_expectation(sim, words)
        if ok or time.monotonic() >= deadline:
            return ok, seen
        await asyncio.sleep(POLL)
