"""Graceful shutdown support: STOPPING=1, a second signal, a passed deadline."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from arpi.clock import ManualClock
from arpi.ops.sdnotify import SystemdNotifier
from arpi.ops.shutdown import (
    EXIT_DEADLINE,
    EXIT_SECOND_SIGNAL,
    ShutdownGuard,
    announce_stopping,
)
from tests.helpers import wait_for


def test_announce_stopping_sends_stopping_and_status(notify_path):
    notifier = SystemdNotifier(notify_path.address)

    assert announce_stopping(notifier, "stopping: SIGTERM")

    assert notify_path.receive() == "STOPPING=1\nSTATUS=stopping: SIGTERM"
    notifier.close()


def test_second_signal_exits_at_once():
    exits, cleanups = [], []
    guard = ShutdownGuard(
        10.0,
        clock=ManualClock(),
        exit_now=exits.append,
        before_exit=lambda: cleanups.append(1),
    )

    assert guard.on_signal(signal.SIGTERM) is True
    assert exits == []
    assert guard.on_signal(signal.SIGINT) is False

    assert exits == [EXIT_SECOND_SIGNAL] and cleanups == [1]


def test_passed_deadline_exits_and_finished_disarms():
    clock = ManualClock()
    exits = []
    guard = ShutdownGuard(10.0, clock=clock, exit_now=exits.append)
    guard.begin()
    clock.advance(9.9)
    assert exits == []
    clock.advance(0.1)
    assert exits == [EXIT_DEADLINE]

    calm = ShutdownGuard(10.0, clock=clock, exit_now=exits.append)
    calm.begin()
    calm.finished()
    clock.advance(60)
    assert exits == [EXIT_DEADLINE]


def test_deadline_must_be_positive():
    with pytest.raises(ValueError, match="deadline"):
        ShutdownGuard(0)


# A process whose orderly stop never finishes (it waits forever), as when an actor
# is wedged in a driver call. The guard must end it on the second signal.
_STUCK = textwrap.dedent(
    """
    import asyncio, signal, sys
    from arpi.ops.shutdown import ShutdownGuard
    from arpi.logs import configure_logging
    configure_logging("json", stream=sys.stderr)

    async def main():
        guard = ShutdownGuard({deadline})
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        def on_signal(sig):
            if guard.on_signal(sig):
                guard.begin()
                stop.set()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        print("ready", flush=True)
        await stop.wait()
        print("stopping", flush=True)
        await asyncio.Event().wait()  # the stuck orderly stop

    asyncio.run(main())
    """
)


def _spawn(deadline: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _STUCK.format(deadline=deadline)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_real_process_ends_on_the_second_sigterm():
    proc = _spawn(deadline=3600)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.stdout.readline().strip() == "stopping"
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == EXIT_SECOND_SIGNAL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_a_real_process_ends_when_the_deadline_passes():
    proc = _spawn(deadline=0.2)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.stdout.readline().strip() == "stopping"
        wait_for(lambda: proc.poll() is not None, timeout=20, what="hard exit")
        assert proc.returncode == EXIT_DEADLINE
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
