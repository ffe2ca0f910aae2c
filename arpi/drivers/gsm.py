"""GSM modem driver (SIM800/SIM900) over a serial port: AT commands, SMS, voice calls.

Synchronous and single-threaded: the `gsm` actor's thread calls it, and every wait
is bounded by a timeout (F15). Unsolicited lines that arrive while waiting (RING,
+DTMF, +CLCC, NO CARRIER) are handled in passing, never mistaken for a reply.
Failures are exceptions: `ModemTimeout` when the modem does not answer in time,
`ModemError` for an error reply or a lost port. Phone numbers are logged masked.
"""

from __future__ import annotations

import itertools
import random
import re
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import structlog

from arpi.drivers.buses import DriverError, SerialPort
from arpi.drivers.sms import decode_deliver, encode_submit, fits_text_mode, valid_number

__all__ = [
    "CallOutcome",
    "CallResult",
    "GsmModem",
    "ModemError",
    "ModemTimeout",
    "Registration",
    "StoredSms",
    "mask_number",
]

log = structlog.get_logger("arpi.drivers")

# What a serial port raises when the device is gone: pyserial's errors are OSError
# subclasses, but its tcflush/tcsetattr calls raise termios.error, which is not.
PORT_ERRORS = (OSError, termios.error)

_FINAL_OK = "OK"
_ERROR_RE = re.compile(r"^(\+CM[ES] ERROR: .*|ERROR)$")
_CALL_ENDS = ("NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE")
_CME_TEXT = {
    "3": "operation not allowed",
    "10": "SIM not inserted",
    "11": "SIM PIN required",
    "12": "SIM PUK required",
    "16": "incorrect password",
    "100": "unknown error",
}


class ModemError(DriverError):
    """The modem answered with an error, or the port is gone."""


class ModemTimeout(ModemError):
    """The modem did not answer within the allowed time."""


class Registration(str, Enum):
    HOME = "home"
    ROAMING = "roaming"
    SEARCHING = "searching"
    DENIED = "denied"
    NOT_REGISTERED = "not_registered"
    UNKNOWN = "unknown"

    @property
    def registered(self) -> bool:
        return self in (Registration.HOME, Registration.ROAMING)


_CREG = {
    "0": Registration.NOT_REGISTERED,
    "1": Registration.HOME,
    "2": Registration.SEARCHING,
    "3": Registration.DENIED,
    "5": Registration.ROAMING,
}


class CallOutcome(str, Enum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"


@dataclass(frozen=True, slots=True)
class CallResult:
    """How a call went and the DTMF keys the callee pressed (in order)."""

    outcome: CallOutcome
    keys: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.outcome is CallOutcome.ANSWERED and self.keys == "1"


@dataclass(frozen=True, slots=True)
class StoredSms:
    """One SMS in the modem's storage; concatenated parts joined, all indexes kept."""

    indexes: tuple[int, ...]
    number: str
    time: datetime | None
    text: str


def mask_number(number: str) -> str:
    """A phone number safe to log: all but the last three digits hidden."""
    return "*" * max(0, len(number) - 3) + number[-3:]


def _masked(command: str) -> str:
    if command.upper().startswith("AT+CPIN="):
        return "AT+CPIN=****"
    if command.upper().startswith("ATD"):
        return "ATD" + mask_number(command[3:].rstrip(";")) + ";"
    if command.upper().startswith('AT+CMGS="'):
        return 'AT+CMGS="' + mask_number(command[9:].split('"')[0]) + '"'
    return command


class GsmModem:
    """A modem behind `open_port()` (called at start and at every reset).

    `open_port` returns a pyserial-like port; production passes
    `lambda: serial.serial_for_url("/dev/ttyAMA0", 9600, timeout=0.05)`.
    `command_timeout` bounds an ordinary command, `sms_timeout` the network part
    of sending one SMS part.
    """

    def __init__(
        self,
        open_port: Callable[[], SerialPort],
        *,
        pin: str | None = None,
        command_timeout: float = 5.0,
        sms_timeout: float = 60.0,
        health_timeout: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 8):
            raise ValueError("pin must be 4..8 digits")
        self._open_port = open_port
        self._pin = pin
        self.command_timeout = command_timeout
        self.sms_timeout = sms_timeout
        self.health_timeout = health_timeout
        self._sleep = sleep
        self._now = monotonic
        self._port: SerialPort | None = None
        self._buffer = b""
        self._echo_of: str | None = None
        self._dtmf: list[str] = []
        self._call_state: int | None = None
        self._call_ended: str | None = None
        self._pdu_mode: bool | None = None
        self._reference = itertools.count(random.randrange(256))
        self.rings = 0

    # -- life cycle -------------------------------------------------------------

    def start(self) -> None:
        """Open the port and bring the modem up: echo off, verbose errors, PIN.

        Blocks up to a few command timeouts. Raises ModemError (PIN refused, no
        PIN configured for a locked SIM, SIM missing, port cannot be opened) or
        ModemTimeout (modem silent).
        """
        self.close()
        try:
            self._port = self._open_port()
        except (*PORT_ERRORS, ValueError) as exc:
            raise ModemError(f"cannot open the modem port: {exc}") from exc
        self._buffer = b""
        self._pdu_mode = None
        try:
            self._port.reset_input_buffer()
        except PORT_ERRORS as exc:
            raise ModemError(f"modem port failed: {exc}") from exc
        # The first AT may be eaten while the modem syncs its baud rate.
        for attempt in range(3):
            try:
                self.command("AT", timeout=min(1.0, self.command_timeout))
                break
            except ModemTimeout:
                if attempt == 2:
                    raise ModemTimeout("modem does not answer AT") from None
        self.command("ATE0")
        self.command("AT+CMEE=1")
        self._unlock_sim()
        for optional in ("AT+CLCC=1", "AT+DDET=1"):
            try:
                self.command(optional)
            except ModemTimeout:
                raise
            except ModemError as exc:
                log.warning(
                    "modem_option_unsupported", command=optional, error=str(exc)
                )
        self._text_mode()
        log.info("modem_started")

    def _unlock_sim(self) -> None:
        lines = self.command("AT+CPIN?")
        status = next((x[7:].strip() for x in lines if x.startswith("+CPIN:")), "")
        if status == "READY":
            return
        if status == "SIM PIN":
            if self._pin is None:
                raise ModemError("the SIM needs a PIN and none is configured")
            self.command(f'AT+CPIN="{self._pin}"')
            log.info("modem_sim_unlocked")
            return
        raise ModemError(f"SIM not ready: {status or 'no +CPIN status'}")

    def close(self) -> None:
        """Close the port (safe to call repeatedly, never raises)."""
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except PORT_ERRORS as exc:
                log.warning("modem_close_failed", error=str(exc))

    def reset(self) -> None:
        """Close and reopen the port and run the start-up sequence again (see start)."""
        log.warning("modem_reset")
        self.start()

    def health_check(self) -> None:
        """Send AT and wait `health_timeout` s. Raises ModemTimeout when silent."""
        self.command("AT", timeout=self.health_timeout)

    # -- queries ----------------------------------------------------------------

    def registration(self) -> Registration:
        lines = self.command("AT+CREG?")
        for line in lines:
            if line.startswith("+CREG:"):
                fields = line[6:].strip().split(",")
                stat = fields[1] if len(fields) > 1 else fields[0]
                return _CREG.get(stat.strip(), Registration.UNKNOWN)
        raise ModemError("AT+CREG? gave no +CREG line")

    def wait_registered(self, timeout: float) -> Registration:
        """Poll the registration every half second until registered.

        Raises ModemError("no network coverage ...") after `timeout` s.
        """
        deadline = self._now() + timeout
        while True:
            state = self.registration()
            if state.registered:
                return state
            if self._now() >= deadline:
                raise ModemError(
                    f"no network coverage within {timeout} s ({state.value})"
                )
            self._sleep(min(0.5, max(0.0, deadline - self._now())))

    def signal_quality(self) -> int | None:
        """RSSI 0..31 from AT+CSQ, None when the modem does not know (99)."""
        for line in self.command("AT+CSQ"):
            if line.startswith("+CSQ:"):
                rssi = int(line[5:].split(",")[0])
                return None if rssi == 99 else rssi
        raise ModemError("AT+CSQ gave no +CSQ line")

    # -- SMS --------------------------------------------------------------------

    def send_sms(
        self, number: str, text: str, *, coverage_timeout: float = 10.0
    ) -> int:
        """Send `text` to `number`; returns the number of SMS parts sent.

        Short plain texts go in text mode, others in PDU mode (GSM 7-bit or UCS-2,
        concatenated). Raises ValueError for a bad number or empty text, ModemError
        or ModemTimeout on failure; a part already sent is not taken back.
        """
        if not valid_number(number):
            raise ValueError("number must be an optional + and 3..20 digits")
        if not text:
            raise ValueError("text must not be empty")
        self.wait_registered(coverage_timeout)
        if fits_text_mode(text):
            self._text_mode()
            self.command('AT+CSCS="GSM"')
            self.command("AT+CSMP=17,167,0,0")
            self._submit(f'AT+CMGS="{number}"', text)
            parts = 1
        else:
            pdus = encode_submit(number, text, next(self._reference) % 256)
            self._set_pdu(True)
            for part in pdus:
                self._submit(f"AT+CMGS={part.length}", part.pdu)
            self._text_mode()
            parts = len(pdus)
        log.info("sms_sent", number=mask_number(number), parts=parts)
        return parts

    def _submit(self, command: str, body: str) -> None:
        self._write(command + "\r")
        self._echo_of = command
        deadline = self._now() + self.command_timeout
        while b"> " not in self._buffer:
            if self._now() >= deadline:
                raise ModemTimeout(f"no '> ' prompt for {_masked(command)}")
            error = self._poll_error()
            if error:
                raise ModemError(f"{_masked(command)}: {error}")
            self._fill(deadline)
        self._buffer = self._buffer.split(b"> ", 1)[1]
        self._write(body + "\x1a")
        self._wait_final(_masked(command), self.sms_timeout)

    def _poll_error(self) -> str | None:
        for raw in self._buffer.split(b"\r\n"):
            line = raw.decode("latin-1").strip()
            if _ERROR_RE.match(line):
                self._buffer = b""
                return _explain(line)
        return None

    def list_sms(self) -> list[StoredSms]:
        """Every SMS in the modem's storage (PDU mode listing, parts joined)."""
        self._set_pdu(True)
        try:
            lines = self.command("AT+CMGL=4", timeout=self.command_timeout * 2)
        finally:
            self._text_mode()
        singles: list[StoredSms] = []
        groups: dict[tuple[str, int], list] = {}
        pending_index: int | None = None
        for line in lines:
            if line.startswith("+CMGL:"):
                pending_index = int(line[6:].split(",")[0])
                continue
            if pending_index is None:
                continue
            index, pending_index = pending_index, None
            try:
                sms = decode_deliver(line)
            except ValueError as exc:
                log.warning("sms_unreadable", index=index, error=str(exc))
                continue
            if sms.concat is None:
                singles.append(StoredSms((index,), sms.number, sms.time, sms.text))
            else:
                groups.setdefault((sms.number, sms.concat.reference), []).append(
                    (sms.concat.sequence, index, sms)
                )
        for parts in groups.values():
            parts.sort()
            first = parts[0][2]
            singles.append(
                StoredSms(
                    tuple(i for _, i, _ in parts),
                    first.number,
                    first.time,
                    "".join(p.text for _, _, p in parts),
                )
            )
        singles.sort(key=lambda s: s.indexes[0])
        return singles

    def delete_sms(self, index: int) -> None:
        """Delete the stored SMS at `index`. Raises ModemError (e.g. no such index)."""
        if not isinstance(index, int) or index < 0:
            raise ValueError("index must be a non-negative integer")
        self.command(f"AT+CMGD={index},0")

    # -- calls --------------------------------------------------------------------

    def call(
        self,
        number: str,
        tones: str,
        *,
        coverage_timeout: float = 30.0,
        dial_timeout: float = 30.0,
        listen: float = 20.0,
        stop_when: Callable[[str], bool] | None = None,
    ) -> CallResult:
        """Call `number`, play `tones` as DTMF once answered, collect the callee's keys.

        Listens up to `listen` s, less if the callee hangs up or `stop_when(keys)`
        returns True. Always hangs up. Blocks at most about coverage_timeout +
        dial_timeout + listen + a few command timeouts. Raises ValueError for a bad
        number or tone, ModemError / ModemTimeout when the modem fails.
        """
        if not valid_number(number):
            raise ValueError("number must be an optional + and 3..20 digits")
        if any(t not in "0123456789*#ABCD" for t in tones):
            raise ValueError("tones must be DTMF digits 0-9, *, #, A-D")
        self.wait_registered(coverage_timeout)
        self._dtmf.clear()
        self._call_state = None
        self._call_ended = None
        try:
            self.command("AT+VTD=5")
        except ModemTimeout:
            raise
        except ModemError as exc:
            log.warning("modem_option_unsupported", command="AT+VTD=5", error=str(exc))
        log.info("call_started", number=mask_number(number))
        try:
            return self._run_call(number, tones, dial_timeout, listen, stop_when)
        finally:
            if self._port is not None:
                try:
                    self.command("ATH")
                except ModemError as exc:
                    log.warning("call_hangup_failed", error=str(exc))

    def _run_call(
        self,
        number: str,
        tones: str,
        dial_timeout: float,
        listen: float,
        stop_when: Callable[[str], bool] | None,
    ) -> CallResult:
        self.command(f"ATD{number};", timeout=dial_timeout)
        deadline = self._now() + dial_timeout
        while self._call_state != 0:
            if self._call_ended or self._call_state == 6:
                # +CLCC "disconnected" may come just before the BUSY / NO ANSWER line.
                settle = min(deadline, self._now() + 0.3)
                while not self._call_ended and self._now() < settle:
                    self._pump(settle)
                outcome = CallOutcome.NO_ANSWER
                if self._call_ended == "BUSY":
                    outcome = CallOutcome.BUSY
                log.info("call_not_answered", outcome=outcome.value)
                return CallResult(outcome)
            if self._now() >= deadline:
                log.info("call_not_answered", outcome="no_answer")
                return CallResult(CallOutcome.NO_ANSWER)
            self._pump(deadline)
        for tone in tones:
            self.command(f"AT+VTS={tone}")
        deadline = self._now() + listen
        while self._now() < deadline and not self._call_ended:
            if stop_when is not None and stop_when("".join(self._dtmf)):
                break
            self._pump(deadline)
        keys = "".join(self._dtmf)
        log.info("call_answered", keys_count=len(keys))
        return CallResult(CallOutcome.ANSWERED, keys)

    # -- AT plumbing ----------------------------------------------------------------

    def command(self, command: str, *, timeout: float | None = None) -> list[str]:
        """Send one AT command; return its information lines (without the final OK).

        Raises ModemError for ERROR / +CME ERROR / +CMS ERROR (message includes the
        meaning when known) and ModemTimeout when no final result arrives within
        `timeout` (default `command_timeout`).
        """
        self._write(command + "\r")
        self._echo_of = command
        return self._wait_final(_masked(command), timeout or self.command_timeout)

    def _wait_final(self, what: str, timeout: float) -> list[str]:
        deadline = self._now() + timeout
        info: list[str] = []
        while True:
            line = self._next_line(deadline)
            if line is None:
                raise ModemTimeout(f"no answer to {what} within {timeout:g} s")
            if line == self._echo_of:
                continue
            if line == _FINAL_OK:
                return info
            if _ERROR_RE.match(line):
                raise ModemError(f"{what}: {_explain(line)}")
            if what.startswith("ATD") and line in _CALL_ENDS:
                self._call_ended = line
                return info
            if not self._unsolicited(line):
                info.append(line)

    def _unsolicited(self, line: str) -> bool:
        if line.startswith("+DTMF:"):
            self._dtmf.append(line[6:].strip())
        elif line == "RING" or line.startswith("+CLIP:"):
            self.rings += line == "RING"
            log.info("modem_incoming_call")
        elif line.startswith("+CLCC:"):
            fields = line[6:].split(",")
            try:
                self._call_state = int(fields[2])
            except (IndexError, ValueError):
                pass
        elif line in _CALL_ENDS:
            self._call_ended = line
        elif line in ("RDY", "Call Ready", "SMS Ready"):
            log.info("modem_ready_notice", notice=line)
        else:
            return False
        return True

    def _pump(self, deadline: float) -> None:
        """Handle unsolicited lines until one arrives or `deadline` passes."""
        line = self._next_line(min(deadline, self._now() + 0.1))
        if line is not None and not self._unsolicited(line):
            log.info("modem_unexpected_line", line=line[:40])

    def _next_line(self, deadline: float) -> str | None:
        while True:
            while b"\r" in self._buffer:
                head, _sep, rest = self._buffer.partition(b"\r")
                if rest.startswith(b"\n"):
                    rest = rest[1:]
                self._buffer = rest
                line = head.decode("latin-1").strip()
                if line:
                    return line
            if self._now() >= deadline:
                return None
            self._fill(deadline)

    def _fill(self, deadline: float) -> None:
        port = self._require_port()
        try:
            port.timeout = max(0.0, min(0.05, deadline - self._now()))
            data = port.read(1)
            waiting = getattr(port, "in_waiting", 0)
            if data and waiting:
                data += port.read(waiting)
        except PORT_ERRORS as exc:
            self.close()
            raise ModemError(f"modem port lost: {exc}") from exc
        self._buffer += data

    def _write(self, text: str) -> None:
        port = self._require_port()
        try:
            port.write(text.encode("latin-1"))
        except PORT_ERRORS as exc:
            self.close()
            raise ModemError(f"modem port lost: {exc}") from exc

    def _require_port(self) -> SerialPort:
        if self._port is None:
            raise ModemError("modem is not started")
        return self._port

    def _set_pdu(self, pdu: bool) -> None:
        if self._pdu_mode is not pdu:
            self.command("AT+CMGF=0" if pdu else "AT+CMGF=1")
            self._pdu_mode = pdu

    def _text_mode(self) -> None:
        self._set_pdu(False)


def _explain(line: str) -> str:
    if line.startswith("+CME ERROR:"):
        code = line[11:].strip()
        meaning = _CME_TEXT.get(code)
        return f"{line} ({meaning})" if meaning else line
    return line
