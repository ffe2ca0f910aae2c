"""The systemd notification protocol (sd_notify) over its datagram socket.

systemd passes `NOTIFY_SOCKET` (a filesystem path, or `@name` for an abstract
socket) to a `Type=notify` service and, with `WatchdogSec=`, `WATCHDOG_USEC` (and
`WATCHDOG_PID`). A notification is one datagram of newline-separated `KEY=VALUE`
lines. Without `NOTIFY_SOCKET` (not started by systemd) every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import MutableMapping

import structlog

__all__ = ["SystemdNotifier"]

log = structlog.get_logger("arpi.ops")

_ENV_KEYS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def _one_line(text: str) -> str:
    # A newline would start a new KEY=VALUE assignment inside the datagram.
    return " ".join(str(text).split())


class SystemdNotifier:
    """Sends notifications to the service manager. Safe from any thread.

    Sending never blocks (the socket is non-blocking) and never raises: a failure
    is logged once as `sd_notify_failed` and the call returns False.
    """

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        """`address` as in `NOTIFY_SOCKET` (None disables); `watchdog_usec` as in
        `WATCHDOG_USEC` (None or 0: no watchdog). Raises ValueError for an address
        that is neither an absolute path nor `@abstract`."""
        self._address: str | bytes | None = None
        if address:
            if address.startswith("@"):
                # Linux abstract namespace: a leading NUL byte instead of the '@'.
                self._address = b"\0" + address[1:].encode()
            elif address.startswith("/"):
                self._address = address
            else:
                raise ValueError(
                    f"NOTIFY_SOCKET: must be an absolute path or @name, got {address!r}"
                )
        if watchdog_usec is not None and watchdog_usec < 0:
            raise ValueError(
                f"WATCHDOG_USEC: must not be negative, got {watchdog_usec}"
            )
        self._watchdog_usec = watchdog_usec or None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failed_once = False

    @classmethod
    def from_environment(
        cls,
        env: MutableMapping[str, str] | None = None,
        *,
        unset: bool = False,
    ) -> SystemdNotifier:
        """Read `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` (default
        `os.environ`). The watchdog is enabled only if `WATCHDOG_PID` is absent or
        names this process. With `unset=True` the three variables are removed, so
        child processes (the embedded PostgreSQL server) cannot notify in our name.

        A malformed value disables that feature and is logged as
        `sd_notify_bad_environment`; it never raises.
        """
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        raw_usec = env.get("WATCHDOG_USEC")
        raw_pid = env.get("WATCHDOG_PID")
        if raw_usec:
            try:
                usec = int(raw_usec)
                if raw_pid and int(raw_pid) != os.getpid():
                    usec = None
            except ValueError:
                log.warning("sd_notify_bad_environment", variable="WATCHDOG_USEC")
                usec = None
        if unset:
            for key in _ENV_KEYS:
                env.pop(key, None)
        try:
            return cls(address, usec if usec and usec > 0 else None)
        except ValueError as exc:
            log.warning("sd_notify_bad_environment", problem=str(exc))
            return cls(None, None)

    @property
    def enabled(self) -> bool:
        """True when there is a socket to talk to."""
        return self._address is not None

    @property
    def watchdog_timeout(self) -> float | None:
        """The watchdog timeout in seconds, or None when systemd expects no pings."""
        if self._address is None or self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 1_000_000

    @property
    def keepalive_interval(self) -> float | None:
        """Half the watchdog timeout (systemd's recommendation), or None."""
        timeout = self.watchdog_timeout
        return None if timeout is None else timeout / 2

    def notify(self, *assignments: str) -> bool:
        """Send one datagram of `KEY=VALUE` lines. Never blocks, never raises.

        Returns True if the datagram was handed to the kernel, False when disabled
        or on failure.
        """
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8", "replace")
        with self._lock:
            try:
                if self._sock is None:
                    sock = socket.socket(
                        socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                    )
                    sock.setblocking(False)
                    self._sock = sock
                self._sock.sendto(payload, self._address)
                return True
            except OSError as exc:
                if not self._failed_once:
                    self._failed_once = True
                    log.warning("sd_notify_failed", error=exc.strerror or str(exc))
                return False

    def ready(self, status: str | None = None) -> bool:
        """`READY=1` (and `STATUS=`): the whole process is up."""
        lines = ["READY=1"]
        if status:
            lines.append(f"STATUS={_one_line(status)}")
        return self.notify(*lines)

    def status(self, text: str) -> bool:
        """`STATUS=<text>`: one line shown by `systemctl status`."""
        return self.notify(f"STATUS={_one_line(text)}")

    def stopping(self, status: str | None = None) -> bool:
        """`STOPPING=1` (and `STATUS=`): an orderly stop has begun."""
        lines = ["STOPPING=1"]
        if status:
            lines.append(f"STATUS={_one_line(status)}")
        return self.notify(*lines)

    def watchdog(self) -> bool:
        """`WATCHDOG=1`: one keep-alive."""
        return self.notify("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        """`EXTEND_TIMEOUT_USEC=`: ask for more time to start or stop."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(0, int(seconds * 1_000_000))}")

    def close(self) -> None:
        """Close the socket; later calls reopen it."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
