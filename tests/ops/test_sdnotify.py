"""sd_notify over a real datagram socket: paths, abstract names, the environment."""

from __future__ import annotations

import os

import pytest

from arpi.ops.sdnotify import SystemdNotifier


def test_ready_and_status_reach_a_socket_bound_to_a_path(notify_path):
    notifier = SystemdNotifier(notify_path.address)

    assert notifier.ready("tree up\nsecond line")
    assert notifier.status("serving")

    assert notify_path.receive() == "READY=1\nSTATUS=tree up second line"
    assert notify_path.receive() == "STATUS=serving"
    notifier.close()


def test_watchdog_and_stopping_reach_an_abstract_socket(notify_abstract):
    notifier = SystemdNotifier(notify_abstract.address, watchdog_usec=20_000_000)

    notifier.watchdog()
    notifier.stopping("stopping: SIGTERM")

    assert notify_abstract.receive() == "WATCHDOG=1"
    assert notify_abstract.receive() == "STOPPING=1\nSTATUS=stopping: SIGTERM"
    assert notifier.keepalive_interval == 10.0
    notifier.close()


def test_environment_is_read_and_can_be_unset(notify_path):
    env = {
        "NOTIFY_SOCKET": notify_path.address,
        "WATCHDOG_USEC": "4000000",
        "WATCHDOG_PID": str(os.getpid()),
    }

    notifier = SystemdNotifier.from_environment(env, unset=True)

    assert notifier.enabled
    assert notifier.watchdog_timeout == 4.0
    assert env == {}
    notifier.watchdog()
    assert notify_path.receive() == "WATCHDOG=1"
    notifier.close()


@pytest.mark.parametrize(
    "env, interval",
    [
        ({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}, None),  # another process
        ({"WATCHDOG_USEC": "nonsense"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({}, None),
        ({"WATCHDOG_USEC": "3000000"}, 1.5),
    ],
)
def test_watchdog_interval_from_environment(notify_path, env, interval):
    notifier = SystemdNotifier.from_environment(
        {"NOTIFY_SOCKET": notify_path.address, **env}
    )

    assert notifier.keepalive_interval == interval


def test_without_notify_socket_everything_is_a_no_op():
    notifier = SystemdNotifier.from_environment({})

    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.keepalive_interval is None


def test_a_relative_address_is_refused_naming_the_variable():
    with pytest.raises(ValueError, match="NOTIFY_SOCKET"):
        SystemdNotifier("relative/path")
    assert not SystemdNotifier.from_environment({"NOTIFY_SOCKET": "x"}).enabled


def test_a_vanished_listener_does_not_raise(tmp_path):
    notifier = SystemdNotifier(str(tmp_path / "nobody-listens"))

    assert notifier.ready() is False
    assert notifier.watchdog() is False
