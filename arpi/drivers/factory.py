"""Builds the drivers the configuration asks for: board 2, board 3 or simulated.

The choice is explicit (`hardware.board` in the settings). Simulated drivers are
the real drivers over the fake buses of one `SimulatedHardware`; they are never a
fallback. On a machine without RPi.GPIO / spidev / smbus2 a board-2/3 driver fails
when it is built (in the owning actor's `setup`) with HardwareUnavailable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from arpi.drivers.adc import BOARD3_CHANNELS, Board3Inputs, Mcp3008, board3_input
from arpi.drivers.buses import GpioBus, I2cBus, SpiBus
from arpi.drivers.dsc import DSC_CLOCK_PIN, DSC_DATA_PIN, DscKeybus
from arpi.drivers.fakes import (
    FakeDrv8860,
    FakeDscKeypad,
    FakeGpio,
    FakeMcp3008,
    FakeRtcBus,
)
from arpi.drivers.gsm import GsmModem
from arpi.drivers.inputs import BOARD2_INPUT_PINS, Board2Inputs
from arpi.drivers.outputs import BOARD2_OUTPUT_PINS, BOARD3_OUTPUT_PINS, Drv8860
from arpi.drivers.power import (
    BOARD2_POWER_PIN,
    AdcPowerSense,
    GpioPowerSense,
    PowerDetector,
    PowerSource,
)
from arpi.drivers.rtc import Rtc
from arpi.drivers.wiegand import (
    BOARD2_WIEGAND_PINS,
    BOARD3_WIEGAND_PINS,
    WiegandPins,
    WiegandReader,
    encode_card,
    encode_key,
)
from arpi.drivers.wiring import CUT_LEVEL, SHORT_LEVEL, ChannelType, Wiring, levels

if TYPE_CHECKING:  # the modem thread and pty are created on first use only
    from arpi.drivers.fake_modem import FakeModem

__all__ = [
    "DriverFactory",
    "HardwareConfig",
    "LineClock",
    "SimulatedHardware",
    "WiegandLineDriver",
]

log = structlog.get_logger("arpi.drivers")

_BOARDS = {"2": "2", "3": "3", "simulated": "simulated", "sim": "simulated"}


@dataclass(frozen=True)
class HardwareConfig:
    """The hardware part of the settings, validated.

    board: "2", "3" or "simulated"; simulated_board: the board the simulation
    imitates (2 or 3).
    """

    board: str = "simulated"
    simulated_board: int = 3
    gsm_port: str = "/dev/ttyAMA0"
    gsm_baud: int = 9600
    gsm_pin: str | None = None
    i2c_bus: int = 1
    rtc_chip: str = "ds1307"

    @classmethod
    def from_settings(cls, settings: Any) -> HardwareConfig:
        """Read from any object (or its `hardware` attribute) with these attributes.

        Raises ValueError naming the bad field.
        """
        if isinstance(settings, HardwareConfig):
            return settings
        source = getattr(settings, "hardware", settings)
        if isinstance(source, HardwareConfig):
            return source
        defaults = cls()
        values = {
            name: getattr(source, name, getattr(defaults, name))
            for name in cls.__dataclass_fields__
        }
        board = _BOARDS.get(str(values["board"]).strip().lower())
        if board is None:
            raise ValueError(
                f"hardware.board must be 2, 3 or simulated, got {values['board']!r}"
            )
        values["board"] = board
        if values["simulated_board"] not in (2, 3):
            raise ValueError("hardware.simulated_board must be 2 or 3")
        if not isinstance(values["gsm_baud"], int) or values["gsm_baud"] <= 0:
            raise ValueError("hardware.gsm_baud must be a positive integer")
        if values["rtc_chip"] not in ("ds1307", "ds3231"):
            raise ValueError("hardware.rtc_chip must be ds1307 or ds3231")
        return cls(**values)


class LineClock:
    """A clock for simulated bit timing on keypad lines: moves only when advanced."""

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class WiegandLineDriver:
    """Injects key presses and cards into the D0/D1 lines as Wiegand pulses."""

    def __init__(self, gpio: FakeGpio, pins: WiegandPins, clock: LineClock) -> None:
        self._gpio = gpio
        self._pins = pins
        self._clock = clock
        self._lock = threading.Lock()

    def send_bits(self, bits: list[int]) -> None:
        """One frame: a 50 us low pulse per bit, 2 ms apart, then a long gap."""
        with self._lock:
            for bit in bits:
                pin = self._pins.d1 if bit else self._pins.d0
                self._gpio.set_input(pin, 0)
                self._clock.advance(50e-6)
                self._gpio.set_input(pin, 1)
                self._clock.advance(0.002)
            self._clock.advance(0.25)

    def press(self, keys: str, bits: int = 8) -> None:
        """Each key of `keys` ("0".."9", "*", "#") as its own frame."""
        frames = [encode_key(k, bits) for k in keys]
        for frame in frames:
            self.send_bits(frame)

    def show_card(self, number: int, bits: int = 26) -> None:
        self.send_bits(encode_card(number, bits))

    @property
    def beeper_sounding(self) -> bool:
        return self._gpio.is_setup(self._pins.beeper) and not self._gpio.level(
            self._pins.beeper
        )


class SimulatedHardware:
    """Every fake bus of one simulated panel, for the simulator and tests.

    `adc` (two FakeMcp3008, AD1/AD2), `gpio` (FakeGpio), `rtc_bus` (FakeRtcBus),
    `drv8860` (the output chip model on `gpio`), `keypad` (WiegandLineDriver),
    `dsc_keypad`, `modem` (FakeModem on a pty, started on first use), `line_clock`.
    `close()` stops the modem thread. Thread-safe.
    """

    def __init__(
        self,
        board: int = 3,
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        modem_pin: str | None = None,
    ) -> None:
        if board not in (2, 3):
            raise ValueError(f"simulated board must be 2 or 3, got {board!r}")
        self.board = board
        self.adc = (FakeMcp3008(), FakeMcp3008())
        self.gpio = FakeGpio()
        self.rtc_bus = FakeRtcBus(wall)
        self.line_clock = LineClock()
        out_pins = BOARD2_OUTPUT_PINS if board == 2 else BOARD3_OUTPUT_PINS
        self.drv8860 = FakeDrv8860(
            self.gpio,
            latch=out_pins.latch,
            clock=out_pins.clock,
            data_in=out_pins.data_in,
            data_out=out_pins.data_out,
            enable=out_pins.enable,
            board=board,
        )
        self.wiegand_pins = BOARD2_WIEGAND_PINS if board == 2 else BOARD3_WIEGAND_PINS
        self.keypad = WiegandLineDriver(self.gpio, self.wiegand_pins, self.line_clock)
        self._modem_pin = modem_pin
        self._modem: FakeModem | None = None
        self._dsc: FakeDscKeypad | None = None
        self._lock = threading.Lock()
        if board == 3:
            idle = levels(ChannelType.NORMAL, Wiring().contact, 1).idle
            for channel in range(len(BOARD3_CHANNELS)):
                self.set_level(channel, idle)
        self.set_power("network")

    @property
    def modem(self) -> FakeModem:
        with self._lock:
            if self._modem is None:
                from arpi.drivers.fake_modem import FakeModem

                self._modem = FakeModem(pin=self._modem_pin)
            return self._modem

    @property
    def dsc_keypad(self) -> FakeDscKeypad:
        with self._lock:
            if self._dsc is None:
                self._dsc = FakeDscKeypad(
                    self.gpio,
                    clock=DSC_CLOCK_PIN,
                    data=DSC_DATA_PIN,
                    monotonic=self.line_clock.monotonic,
                )
            return self._dsc

    def set_level(self, channel: int, level: float) -> None:
        """Set sensor `channel` (0-based) to `level` (board 3: 0..1 of VREF;
        board 2: at least 0.5 drives the opto input high)."""
        if self.board == 3:
            chip, pin = board3_input(channel)
            self.adc[chip].set_level(pin, level)
        else:
            if not 0 <= channel < len(BOARD2_INPUT_PINS):
                raise ValueError(f"board 2 sensor channel must be 0..14, got {channel}")
            self.gpio.set_input(BOARD2_INPUT_PINS[channel], 1 if level >= 0.5 else 0)

    def set_line(self, channel: int, wiring: Wiring, state: str) -> None:
        """Put a board-3 line in `state`: idle, active, a, b, both, cut or short."""
        if state == "cut":
            level = CUT_LEVEL
        elif state == "short":
            level = SHORT_LEVEL
        else:
            lv = levels(wiring.channel_type, wiring.contact, wiring.eol_count)
            choices = {
                "idle": lv.idle,
                "active": lv.active,
                "both": lv.active,
                "a": lv.active_a,
                "b": lv.active_b,
            }
            level = choices.get(state)  # type: ignore[assignment]
            if level is None:
                raise ValueError(f"state {state!r} does not apply to this wiring")
        self.set_level(channel, level)

    def set_power(self, source: PowerSource) -> None:
        if source not in ("network", "battery"):
            raise ValueError(f"power source must be network or battery, got {source!r}")
        if self.board == 3:
            self.adc[1].set_level(0, 0.0 if source == "network" else 1.0)
        else:
            self.gpio.set_input(BOARD2_POWER_PIN, 0 if source == "network" else 1)

    def close(self) -> None:
        with self._lock:
            modem, self._modem = self._modem, None
        if modem is not None:
            modem.close()


class DriverFactory:
    """Builds drivers for the configured board. Each method opens its buses.

    Methods raise HardwareUnavailable (real boards without their libraries or
    devices) or BusError; call them in the owning actor's `setup`. `hardware` is
    the SimulatedHardware when the board is simulated (else None).
    """

    def __init__(
        self,
        settings_like: Any,
        *,
        hardware: SimulatedHardware | None = None,
    ) -> None:
        self.config = HardwareConfig.from_settings(settings_like)
        self.simulated = self.config.board == "simulated"
        self.board = (
            self.config.simulated_board if self.simulated else int(self.config.board)
        )
        if self.simulated:
            self.hardware: SimulatedHardware | None = hardware or SimulatedHardware(
                self.board, modem_pin=self.config.gsm_pin
            )
        elif hardware is not None:
            raise ValueError("simulated hardware given for a real board")
        else:
            self.hardware = None
        self._gpio: GpioBus | None = None
        self._lock = threading.Lock()

    # -- buses -----------------------------------------------------------------

    def _gpio_bus(self) -> GpioBus:
        if self.hardware is not None:
            return self.hardware.gpio
        with self._lock:
            if self._gpio is None:
                from arpi.drivers.pi import PiGpio

                self._gpio = PiGpio()
            return self._gpio

    def _spi(self, chip: int) -> SpiBus:
        if self.hardware is not None:
            return self.hardware.adc[chip]
        from arpi.drivers.pi import open_spi

        return open_spi(0, chip)

    def _i2c(self) -> I2cBus:
        if self.hardware is not None:
            return self.hardware.rtc_bus
        from arpi.drivers.pi import open_i2c

        return open_i2c(self.config.i2c_bus)

    # -- drivers -----------------------------------------------------------------

    def sensor_banks(self) -> list[tuple[int, ...]]:
        """The channels of each sensor bank: two banks (AD1, AD2) on board 3, one on
        board 2."""
        if self.board == 3:
            return [tuple(range(8)), tuple(range(8, 15))]
        return [tuple(range(15))]

    def sensor_inputs(self, bank: int) -> Board3Inputs | Board2Inputs:
        banks = self.sensor_banks()
        if not 0 <= bank < len(banks):
            raise ValueError(f"sensor bank must be 0..{len(banks) - 1}, got {bank}")
        if self.board == 3:
            # Bank 0 touches only AD1 and bank 1 only AD2; each opens its own device.
            chips: list[Mcp3008 | None] = [None, None]
            chips[bank] = Mcp3008(self._spi(bank), f"AD{bank + 1}")
            return Board3Inputs(chips, banks[bank])
        return Board2Inputs(self._gpio_bus(), banks[bank])

    def outputs(self) -> Drv8860:
        step = 0.0 if self.simulated else (0.001 if self.board == 3 else 0.0)
        return Drv8860(self._gpio_bus(), board=self.board, step=step)

    def power_sense(self) -> GpioPowerSense | AdcPowerSense:
        if self.board == 3:
            return AdcPowerSense(Mcp3008(self._spi(1), "AD2"), channel=0)
        return GpioPowerSense(self._gpio_bus())

    def power_detector(
        self, monotonic: Callable[[], float], hold: float = 2.0
    ) -> PowerDetector:
        return PowerDetector(self.power_sense(), monotonic, hold)

    def rtc(self) -> Rtc:
        return Rtc(self._i2c(), chip=self.config.rtc_chip)

    def modem(self, **options: Any) -> GsmModem:
        """A GsmModem (not started) on the configured port or the fake modem's pty."""
        if self.hardware is not None:
            fake = self.hardware.modem

            def url() -> str:
                # The fake modem's pty is read at every open: it changes when the
                # fake "vanishes" and comes back.
                return fake.port

            baud = 9600
        else:
            port = self.config.gsm_port

            def url() -> str:
                return port

            baud = self.config.gsm_baud

        def open_port() -> Any:
            import serial

            return serial.serial_for_url(url(), baud, timeout=0.05)

        options.setdefault("pin", self.config.gsm_pin)
        return GsmModem(open_port, **options)

    def wiegand(self) -> WiegandReader:
        if self.hardware is not None:
            return WiegandReader(
                self.hardware.gpio,
                self.hardware.wiegand_pins,
                self.hardware.line_clock.monotonic,
            )
        pins = BOARD2_WIEGAND_PINS if self.board == 2 else BOARD3_WIEGAND_PINS
        return WiegandReader(self._gpio_bus(), pins, time.monotonic)

    def dsc(self) -> DscKeybus:
        if self.hardware is not None:
            _ = self.hardware.dsc_keypad  # attach the keypad model to the lines
            return DscKeybus(self.hardware.gpio, delay=self.hardware.line_clock.advance)
        return DscKeybus(self._gpio_bus())

    def close(self) -> None:
        if self.hardware is not None:
            self.hardware.close()
