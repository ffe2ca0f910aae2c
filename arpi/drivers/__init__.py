"""Hardware drivers behind small interfaces: real buses on a Pi, fakes elsewhere.

Importing this package never imports RPi.GPIO, spidev or smbus2; `arpi.drivers.pi`
is loaded only when a board-2/3 driver is built.
"""

from arpi.drivers.buses import (
    BusError,
    Direction,
    DriverError,
    Edge,
    GpioBus,
    HardwareUnavailable,
    I2cBus,
    Pull,
    SerialPort,
    SpiBus,
)
from arpi.drivers.factory import DriverFactory, HardwareConfig, SimulatedHardware
from arpi.drivers.gsm import CallOutcome, CallResult, GsmModem, ModemError, ModemTimeout
from arpi.drivers.interfaces import (
    KeypadReader,
    Modem,
    OutputDriver,
    PowerSense,
    RealTimeClock,
    SensorInputs,
)
from arpi.drivers.wiring import (
    CalibrationRefused,
    ChannelType,
    Contact,
    LineClassifier,
    Wiring,
    calibrate,
)

__all__ = [
    "BusError",
    "CalibrationRefused",
    "CallOutcome",
    "CallResult",
    "ChannelType",
    "Contact",
    "Direction",
    "DriverError",
    "DriverFactory",
    "Edge",
    "GpioBus",
    "GsmModem",
    "HardwareConfig",
    "HardwareUnavailable",
    "I2cBus",
    "KeypadReader",
    "LineClassifier",
    "Modem",
    "ModemError",
    "ModemTimeout",
    "OutputDriver",
    "PowerSense",
    "Pull",
    "RealTimeClock",
    "SensorInputs",
    "SerialPort",
    "SimulatedHardware",
    "SpiBus",
    "Wiring",
    "calibrate",
]
