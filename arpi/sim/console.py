"""The simulator's interactive console: commands typed on the terminal, live status.

Reads standard input with `loop.add_reader` (the loop never blocks on it), runs
each line with `arpi.sim.commands.run_command`, and prints a status line whenever
the simulated panel changes (checked twice a second). `quit` (or end of input)
asks the process to stop. CLI code: it prints to standard output.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import TextIO

from arpi.sim.commands import CommandError, run_command, split_words
from arpi.sim.control import Simulator

__all__ = ["Console"]

STATUS_EVERY = 0.5
PROMPT = "sim> "


class Console:
    """Start with `start()` on the loop; `stop()` detaches from stdin."""

    def __init__(
        self,
        sim: Simulator,
        on_quit: Callable[[], None],
        *,
        stdin_fd: int | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.sim = sim
        self.on_quit = on_quit
        self.fd = sys.stdin.fileno() if stdin_fd is None else stdin_fd
        self.out = out or sys.stdout
        self._buffer = b""
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_status = ""
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.fd, self._readable)
        self._tasks = [
            self._loop.create_task(self._commands(), name="arpi-sim-console"),
            self._loop.create_task(self._status(), name="arpi-sim-status"),
        ]
        self._print("arpi simulator console: type help for the commands")
        self._print(self.sim.status_line())
        self._prompt()

    async def stop(self) -> None:
        if self._loop is not None:
            try:
                self._loop.remove_reader(self.fd)
            except (ValueError, OSError):
                pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _prompt(self) -> None:
        self.out.write(PROMPT)
        self.out.flush()

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            assert self._loop is not None
            self._loop.remove_reader(self.fd)
            self._lines.put_nowait(None)
            return
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self._lines.put_nowait(line.decode("utf-8", "replace"))

    async def _commands(self) -> None:
        while True:
            line = await self._lines.get()
            if line is None or line.strip().lower() in ("quit", "exit"):
                self._print("stopping the simulator")
                self.on_quit()
                return
            words = split_words(line)
            if words:
                try:
                    result = await run_command(self.sim, words)
                except CommandError as exc:
                    result = f"error: {exc}"
                if result:
                    self._print(result)
            self._prompt()

    async def _status(self) -> None:
        while True:
            await asyncio.sleep(STATUS_EVERY)
            try:
                line = self.sim.status_line()
            except Exception as exc:  # noqa: BLE001 - the console keeps going
                line = f"status unavailable: {exc}"
            # The clock part changes every second; compare the rest.
            key = line.split("] ", 1)[-1]
            if key != self._last_status:
                self._last_status = key
                self._print("\n" + line)
                self._prompt()
