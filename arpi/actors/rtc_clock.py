"""The `clock` actor: the RTC over I2C, compared with the system clock and NTP status.

It owns the RTC (`ctx.drivers.rtc()`, DS1307/DS3231 at 0x68). Every
`check_interval` seconds (and at start) it reads the RTC and compares it with the
system clock (`ctx.clock.wall()`):

- the system clock is *trusted* when NTP reports it synchronised (read from the
  kernel/timesyncd status, never from the network); then an RTC that is off by more
  than `tolerance` seconds, or whose oscillator stopped, is rewritten from it;
- a difference above `warn_after` seconds is logged as `clock_difference_large`
  and shown in `GetClock`'s `warning`.

`GetClock()` answers the JSON of `GET /api/clock` (reference-web-api 2.9) without the
uptimes, which the front adds: `timezone`, `system`, `hw` (the RTC, local time),
`network` (the system time when NTP is synchronised, else null), plus `ntp`
("synchronized" | "unsynchronized" | "unknown"), `difference` (RTC minus system,
seconds) and `warning`.

`SetClock(timezone, datetime)` answers a `ClockSetResult` that says honestly what
was done (F20). The RTC is always written for a new time. The system clock and zone
are changed only when `apply_system` is on (a real board, not simulated); otherwise
the result lists them under `not_done` and `ok` is False. The system commands run
with a bounded wait and their exit status is checked.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import tzinfo as TzInfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from arpi.actors import Actor
from arpi.drivers.rtc import RtcError, RtcReading

__all__ = [
    "ClockActor",
    "ClockSetResult",
    "GetClock",
    "SetClock",
    "SyncRtc",
    "ntp_synchronized",
]

_TIME = "%Y-%m-%d %H:%M:%S"
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")


@dataclass(frozen=True, slots=True)
class GetClock:
    """Ask for the clock JSON (a dict)."""


@dataclass(frozen=True, slots=True)
class SetClock:
    """Set the time zone and/or the time. `datetime`: an aware or naive datetime or
    ISO 8601 text; naive means local time in the (new) zone."""

    timezone: str | None = None
    datetime: datetime | str | None = None


@dataclass(frozen=True, slots=True)
class SyncRtc:
    """Compare the clocks now (and fix the RTC if the system clock is trusted)."""


@dataclass(frozen=True, slots=True)
class ClockSetResult:
    """`ok` only when everything asked was done. `message` is one sentence for the
    user; `done` / `not_done` list "timezone", "system_time", "rtc". `field` is set
    ("timezone", "datetime", or "" when neither was given) when the input was
    refused before anything was tried: a caller's mistake, not a failure."""

    ok: bool
    message: str
    done: tuple[str, ...] = ()
    not_done: tuple[str, ...] = ()
    field: str | None = None


@dataclass(frozen=True, slots=True)
class _Check:
    pass


# -- NTP status without the network ----------------------------------------------------

_TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")


class _Timex(ctypes.Structure):
    # struct timex of <sys/timex.h> on Linux: only the leading fields are read; the
    # trailing padding makes room for the rest of the structure.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("padding", ctypes.c_byte * 256),
    ]


_TIME_ERROR = 5  # adjtimex(): clock not synchronised


def ntp_synchronized(flag: Path = _TIMESYNC_FLAG) -> bool | None:
    """Whether the system clock is NTP-synchronised: True, False, or None (unknown).

    Reads systemd-timesyncd's flag file, then the kernel's own status through
    `adjtimex` in read-only mode (the state `timedatectl` shows as "System clock
    synchronized"). Never touches the network; blocks for microseconds.
    """
    try:
        if flag.exists():
            return True
    except OSError:
        pass
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR


# -- system clock and zone -------------------------------------------------------------


def _run(command: Sequence[str], timeout: float = 10.0) -> str | None:
    """Run a system command; None on success, else the reason (never raises)."""
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{command[0]}: {exc}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return f"{command[0]} exited with {done.returncode}" + (
            f": {detail[-1]}" if detail else ""
        )
    return None


def _set_system_zone(zone: str) -> str | None:
    return _run(["timedatectl", "set-timezone", zone])


def _set_system_time(when: datetime) -> str | None:
    local = when.astimezone()
    return _run(["timedatectl", "set-time", local.strftime(_TIME)])


class ClockActor(Actor):
    """See the module docstring. Runs under `hardware` as `clock`.

    Options: `check_interval` (3600 s), `tolerance` (2 s: RTC correction),
    `warn_after` (60 s: logged difference), `apply_system` (default: True only on a
    real board 2/3 that is not simulated), `sync_probe` (callable -> bool | None,
    default `ntp_synchronized`), `zoneinfo_root` (/usr/share/zoneinfo),
    `localtime` (/etc/localtime), `timezone_file` (/etc/timezone),
    `set_system_time` / `set_system_zone` (callables returning None or an error).
    """

    def setup(self) -> None:
        self._rtc: Any = None
        self._timer: Any = None
        opts = self.options
        self._interval = float(opts.get("check_interval", 3600.0))  # type: ignore[arg-type]
        self._tolerance = float(opts.get("tolerance", 2.0))  # type: ignore[arg-type]
        self._warn_after = float(opts.get("warn_after", 60.0))  # type: ignore[arg-type]
        settings = self.ctx.settings
        real_board = str(getattr(settings, "board", "sim")) in (
            "2",
            "3",
        ) and not getattr(settings, "simulate", False)
        self._apply_system = bool(opts.get("apply_system", real_board))
        self._probe: Callable[[], bool | None] = (
            opts.get("sync_probe") or ntp_synchronized
        )  # type: ignore[assignment]
        self._zoneinfo = Path(str(opts.get("zoneinfo_root", "/usr/share/zoneinfo")))
        self._localtime = Path(str(opts.get("localtime", "/etc/localtime")))
        self._timezone_file = Path(str(opts.get("timezone_file", "/etc/timezone")))
        self._set_time: Callable[[datetime], str | None] = (
            opts.get("set_system_time") or _set_system_time  # type: ignore[assignment]
        )
        self._set_zone: Callable[[str], str | None] = (
            opts.get("set_system_zone") or _set_system_zone  # type: ignore[assignment]
        )
        self._zone_override: str | None = None
        self._last: dict[str, Any] = {}

        drivers = self.ctx.drivers
        if drivers is None:
            raise RuntimeError("no hardware drivers configured")
        self._rtc = drivers.rtc()
        self._check()
        self._schedule()

    def handle(self, message: object) -> object:
        if isinstance(message, _Check):
            self._check()
            self._schedule()
            return None
        if isinstance(message, GetClock):
            return self._status()
        if isinstance(message, SyncRtc):
            self._check()
            return self._status()
        if isinstance(message, SetClock):
            return self._set_clock(message)
        return super().handle(message)

    def release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._rtc is not None:
            try:
                self._rtc.close()
            # release must not raise; any driver error is logged
            except Exception as exc:
                self.log.warning("rtc_close_failed", error=str(exc))

    # -- comparing ---------------------------------------------------------------------

    def _schedule(self) -> None:
        self._timer = self.tell_self_later(self._interval, _Check())

    def _read_rtc(self) -> RtcReading | None:
        try:
            return self._rtc.read()
        except RtcError as exc:
            self.log.warning("rtc_read_failed", error=str(exc))
            return None

    def _check(self) -> None:
        system = self.ctx.clock.wall()
        reading = self._read_rtc()
        synced = self._probe()
        difference = None
        if reading is not None and reading.trustworthy and reading.time is not None:
            difference = (reading.time - system).total_seconds()
        warning = None
        if reading is not None and not reading.trustworthy:
            warning = "the RTC holds no valid time (backup battery flat?)"
        elif difference is not None and abs(difference) > self._warn_after:
            warning = f"the RTC and the system clock differ by {difference:+.0f} s"
            self.log.warning(
                "clock_difference_large",
                rtc_minus_system=round(difference, 1),
                ntp=_ntp_text(synced),
            )
        off = difference is None or abs(difference) > self._tolerance
        if (
            synced is True
            and reading is not None
            and off
            and self._write_rtc(system, reason="system clock is NTP-synchronised")
        ):
            reading = self._read_rtc()
            difference = 0.0
            warning = None
        self._last = {
            "reading": reading,
            "synced": synced,
            "difference": difference,
            "warning": warning,
        }

    def _write_rtc(self, when: datetime, *, reason: str) -> bool:
        try:
            self._rtc.write(when)
        except (RtcError, ValueError) as exc:
            self.log.error("rtc_write_failed", error=str(exc))
            return False
        self.log.info("rtc_set", reason=reason)
        return True

    # -- GetClock -------------------------------------------------------------------

    def _zone_name(self) -> str:
        if self._zone_override is not None:
            return self._zone_override
        env = os.environ.get("TZ")
        if env:
            return env.lstrip(":")
        try:
            target = os.readlink(self._localtime)
            if "zoneinfo/" in target:
                return target.split("zoneinfo/", 1)[1]
        except OSError:
            pass
        try:
            text = self._timezone_file.read_text(encoding="utf-8").strip()
            if text:
                return text
        except OSError:
            pass
        return "UTC"

    def _zone(self) -> TzInfo:
        try:
            return ZoneInfo(self._zone_name())
        except (ZoneInfoNotFoundError, ValueError):
            return UTC

    def _status(self) -> dict[str, Any]:
        zone = self._zone()
        system = self.ctx.clock.wall().astimezone(zone)
        reading: RtcReading | None = self._read_rtc()
        synced = self._probe()
        hw = None
        difference = None
        if reading is not None and reading.trustworthy and reading.time is not None:
            hw = reading.time.astimezone(zone).strftime(_TIME + " %z")
            difference = round((reading.time - system).total_seconds(), 1)
        warning = self._last.get("warning")
        if reading is None:
            warning = "the RTC cannot be read"
        elif not reading.trustworthy:
            warning = "the RTC holds no valid time (backup battery flat?)"
        elif difference is not None and abs(difference) > self._warn_after:
            warning = f"the RTC and the system clock differ by {difference:+.0f} s"
        return {
            "timezone": self._zone_name(),
            "system": system.strftime(_TIME + " %z"),
            "hw": hw,
            "network": system.strftime(_TIME) if synced is True else None,
            "ntp": _ntp_text(synced),
            "difference": difference,
            "warning": warning,
        }

    # -- SetClock -------------------------------------------------------------------

    def _set_clock(self, message: Any) -> ClockSetResult:
        zone_name = getattr(message, "timezone", None)
        raw_time = getattr(message, "datetime", None)
        if zone_name is None and raw_time is None:
            return ClockSetResult(
                False, "nothing to change: give timezone or datetime", field=""
            )
        zone: TzInfo | None = None
        if zone_name is not None:
            zone = self._valid_zone(zone_name)
            if zone is None:
                return ClockSetResult(
                    False,
                    f"timezone: unknown time zone {zone_name!r}",
                    not_done=("timezone",),
                    field="timezone",
                )
        when: datetime | None = None
        if raw_time is not None:
            try:
                when = _parse_time(raw_time, zone or self._zone())
            except ValueError as exc:
                return ClockSetResult(
                    False,
                    f"datetime: {exc}",
                    not_done=("system_time",),
                    field="datetime",
                )

        done: list[str] = []
        not_done: list[str] = []
        problems: list[str] = []
        if zone_name is not None:
            if self._apply_system:
                error = self._set_zone(zone_name)
                if error is None:
                    done.append("timezone")
                    self._zone_override = zone_name
                else:
                    not_done.append("timezone")
                    problems.append(f"time zone not changed: {error}")
            else:
                not_done.append("timezone")
                problems.append("time zone not changed: not a real board")
        if when is not None:
            if self._write_rtc(when, reason="set by the user"):
                done.append("rtc")
            else:
                not_done.append("rtc")
                problems.append("the RTC could not be written")
            if self._apply_system:
                error = self._set_time(when)
                if error is None:
                    done.append("system_time")
                else:
                    not_done.append("system_time")
                    problems.append(f"system clock not changed: {error}")
            else:
                not_done.append("system_time")
                problems.append("system clock not changed: not a real board")

        ok = not not_done
        message_text = "date/time and zone updated" if ok else "; ".join(problems)
        log = self.log.info if ok else self.log.warning
        log("clock_set", done=done, not_done=not_done)
        self._check()
        return ClockSetResult(ok, message_text, tuple(done), tuple(not_done))

    def _valid_zone(self, name: Any) -> TzInfo | None:
        if (
            not isinstance(name, str)
            or len(name) > 64
            or not _ZONE_NAME.fullmatch(name)
        ):
            return None
        if ".." in name.split("/"):
            return None
        if self._apply_system and not (self._zoneinfo / name).is_file():
            return None
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return None


def _parse_time(raw: datetime | str, zone: TzInfo) -> datetime:
    """An aware datetime from `raw`; naive values are local time in `zone`."""
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise ValueError("must be an ISO date and time") from None
    else:
        raise ValueError("must be an ISO date and time")  # noqa: TRY004 - API input
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    if not datetime(2000, 1, 1, tzinfo=UTC) <= value < datetime(2100, 1, 1, tzinfo=UTC):
        raise ValueError("must be within the years 2000..2099")
    return value


def _ntp_text(synced: bool | None) -> str:
    return {True: "synchronized", False: "unsynchronized", None: "unknown"}[synced]
