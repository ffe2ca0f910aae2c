"""DS1307 / DS3231 real-time clock over I2C (bus 1, address 0x68), time kept in UTC.

The chip stores BCD fields in registers 0..6. An oscillator that stopped (flat backup
battery) makes the stored time worthless: DS1307 shows it with the CH bit (bit 7 of
the seconds register), DS3231 with OSF (bit 7 of status register 0x0F). `read()`
reports it, `write()` clears it and restarts the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from arpi.drivers.buses import BusError, DriverError, I2cBus

__all__ = ["RTC_ADDRESS", "Rtc", "RtcError", "RtcReading"]

log = structlog.get_logger("arpi.drivers")

RTC_ADDRESS = 0x68
_STATUS_DS3231 = 0x0F


class RtcError(DriverError):
    """The RTC could not be read or written, or holds no valid time."""


@dataclass(frozen=True, slots=True)
class RtcReading:
    """`time` is None when the registers hold no valid date."""

    time: datetime | None
    oscillator_stopped: bool

    @property
    def trustworthy(self) -> bool:
        return self.time is not None and not self.oscillator_stopped


def _to_bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


def _from_bcd(value: int, field: str) -> int:
    high, low = value >> 4, value & 0x0F
    if high > 9 or low > 9:
        raise ValueError(f"{field} register {value:#04x} is not BCD")
    return high * 10 + low


class Rtc:
    """One RTC chip. Methods block for an I2C transfer (about a millisecond)."""

    def __init__(
        self, bus: I2cBus, *, chip: str = "ds1307", address: int = RTC_ADDRESS
    ) -> None:
        if chip not in ("ds1307", "ds3231"):
            raise ValueError(f"rtc chip must be ds1307 or ds3231, got {chip!r}")
        self._bus = bus
        self.chip = chip
        self.address = address

    def read(self) -> RtcReading:
        """The chip's time (aware, UTC) and its oscillator-stop flag.

        Raises RtcError when the bus fails.
        """
        try:
            regs = self._bus.read_i2c_block_data(self.address, 0x00, 7)
            status = (
                self._bus.read_byte_data(self.address, _STATUS_DS3231)
                if self.chip == "ds3231"
                else 0
            )
        except (OSError, BusError) as exc:
            raise RtcError(f"RTC at {self.address:#x}: read failed: {exc}") from exc
        stopped = bool(regs[0] & 0x80) or bool(status & 0x80)
        try:
            if regs[2] & 0x40:
                raise ValueError("12-hour mode is not used by arpi")
            stamp = datetime(
                2000 + _from_bcd(regs[6], "year"),
                _from_bcd(regs[5] & 0x1F, "month"),
                _from_bcd(regs[4] & 0x3F, "date"),
                _from_bcd(regs[2] & 0x3F, "hours"),
                _from_bcd(regs[1] & 0x7F, "minutes"),
                _from_bcd(regs[0] & 0x7F, "seconds"),
                tzinfo=UTC,
            )
        except ValueError as exc:
            log.warning("rtc_time_invalid", error=str(exc))
            return RtcReading(None, stopped)
        return RtcReading(stamp, stopped)

    def write(self, when: datetime) -> None:
        """Set the chip to `when` (aware; stored as UTC), starting its oscillator.

        Raises ValueError for a naive datetime or a year outside 2000..2099, RtcError
        when the bus fails.
        """
        if when.tzinfo is None:
            raise ValueError("when must be timezone-aware")
        utc = when.astimezone(UTC)
        if not 2000 <= utc.year <= 2099:
            raise ValueError(f"the RTC holds years 2000..2099, got {utc.year}")
        regs = [
            _to_bcd(utc.second),  # bit 7 clear: DS1307 oscillator runs
            _to_bcd(utc.minute),
            _to_bcd(utc.hour),  # bit 6 clear: 24-hour mode
            utc.isoweekday(),
            _to_bcd(utc.day),
            _to_bcd(utc.month),
            _to_bcd(utc.year - 2000),
        ]
        try:
            self._bus.write_i2c_block_data(self.address, 0x00, regs)
            if self.chip == "ds3231":
                status = self._bus.read_byte_data(self.address, _STATUS_DS3231)
                self._bus.write_byte_data(self.address, _STATUS_DS3231, status & 0x7F)
        except (OSError, BusError) as exc:
            raise RtcError(f"RTC at {self.address:#x}: write failed: {exc}") from exc
        log.info("rtc_written", time=utc.isoformat())

    def drift(self, system: datetime) -> float | None:
        """Seconds the RTC is ahead of `system` (negative: behind).

        None when the RTC holds no trustworthy time. Raises RtcError on bus failure.
        """
        reading = self.read()
        if not reading.trustworthy or reading.time is None:
            return None
        return (reading.time - system.astimezone(UTC)).total_seconds()

    def close(self) -> None:
        self._bus.close()
