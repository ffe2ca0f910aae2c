"""Driver interfaces of the hardware actors; real and simulated drivers fit them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from arpi.drivers.outputs import OutputFaults
from arpi.drivers.power import PowerSource
from arpi.drivers.rtc import RtcReading
from arpi.drivers.wiegand import KeypadEvent

__all__ = [
    "KeypadReader",
    "Modem",
    "OutputDriver",
    "PowerSense",
    "RealTimeClock",
    "SensorInputs",
]


class SensorInputs(Protocol):
    """One sensor bank: the levels of its channels, read in one go."""

    channels: tuple[int, ...]

    def read_levels(self) -> list[float | None]:
        """One level (fraction of VREF) per entry of `channels`; None = read failed.

        Blocks for the bus transfers (microseconds on fakes, tens of microseconds
        per channel on a Pi). Never raises for a single failed channel.
        """
        ...

    def close(self) -> None: ...


class OutputDriver(Protocol):
    channel_count: int

    def states(self) -> tuple[bool, ...]: ...

    def set(self, channel: int, on: bool) -> OutputFaults | None: ...

    def write(self, states: Sequence[bool]) -> OutputFaults | None: ...

    def close(self) -> None: ...


class PowerSense(Protocol):
    def read(self) -> PowerSource:
        """The instant power source. Raises PowerReadError."""
        ...

    def close(self) -> None: ...


class RealTimeClock(Protocol):
    def read(self) -> RtcReading: ...

    def write(self, when: datetime) -> None: ...

    def drift(self, system: datetime) -> float | None: ...

    def close(self) -> None: ...


class KeypadReader(Protocol):
    def poll(self) -> list[KeypadEvent]: ...

    def set_beeper(self, sounding: bool) -> None: ...

    def close(self) -> None: ...


class Modem(Protocol):
    def start(self) -> None: ...

    def close(self) -> None: ...

    def reset(self) -> None: ...

    def health_check(self) -> None: ...

    def signal_quality(self) -> int | None: ...

    def send_sms(
        self, number: str, text: str, *, coverage_timeout: float = ...
    ) -> int: ...

    def call(
        self,
        number: str,
        tones: str,
        *,
        coverage_timeout: float = ...,
        dial_timeout: float = ...,
        listen: float = ...,
        stop_when: Callable[[str], bool] | None = ...,
    ) -> object: ...

    def list_sms(self) -> list: ...

    def delete_sms(self, index: int) -> None: ...
