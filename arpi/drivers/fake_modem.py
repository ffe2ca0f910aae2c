"""A fake SIM800/SIM900 modem on a real pseudo-terminal, answering AT commands.

The driver opens `FakeModem.port` (a /dev/pts path) with pyserial exactly as it
opens /dev/ttyAMA0. A thread answers commands; its behaviour is set with
`set_mode`: ok, slow (answers after `delay` s), silent (reads, never answers), error
(+CME ERROR / +CMS ERROR to everything) and absent (the port vanishes; switching back
to another mode creates a new pty with a new path). Sent SMS are decoded (text and
PDU mode, concatenated parts reassembled) into `sms`; calls land in `calls`.
`close()` stops the thread and closes every descriptor.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Self

import structlog

from arpi.drivers.sms import Concat, decode_submit, encode_deliver

__all__ = ["CallRecord", "CallScript", "FakeModem", "ReceivedSms"]

log = structlog.get_logger("arpi.drivers")

MODES = ("ok", "slow", "silent", "error", "absent")


@dataclass(frozen=True, slots=True)
class ReceivedSms:
    number: str
    text: str
    parts: int


@dataclass(frozen=True, slots=True)
class CallScript:
    """What the callee does: answer (None = let it ring), keys to press, hang up."""

    answer: bool | None = True
    keys: str = ""
    hang_up_after_keys: bool = False
    answer_delay: float = 0.02
    key_delay: float = 0.05


@dataclass
class CallRecord:
    number: str
    answered: bool = False
    tones: str = ""
    keys_sent: str = ""
    ended: bool = False


@dataclass
class _Stored:
    number: str
    text: str
    when: datetime
    concat: Concat | None = None
    read: bool = False


@dataclass
class _Call:
    record: CallRecord
    script: CallScript
    active: bool = False
    keys_due: float | None = None
    keys_done: bool = False


@dataclass
class _State:
    echo: bool = True
    pdu_mode: bool = False
    charset: str = "IRA"
    unlocked: bool = True
    body_for: str | None = None  # AT+CMGS argument while waiting for the body
    concat_parts: dict = field(default_factory=dict)


class FakeModem:
    """See the module docstring. All public methods are thread-safe."""

    def __init__(
        self,
        *,
        pin: str | None = None,
        registered: bool = True,
        signal: int = 20,
        delay: float = 0.3,
    ) -> None:
        self.pin = pin
        self.registered = registered
        self.signal = signal
        self.delay = delay
        self.mode = "ok"
        self.error_code = 100
        self.sms: list[ReceivedSms] = []
        self.calls: list[CallRecord] = []
        self.commands: list[str] = []
        self.next_call = CallScript()
        self._lock = threading.Lock()
        self._state = _State(unlocked=pin is None)
        self._inbox: dict[int, _Stored] = {}
        self._next_index = 1
        self._mr = 0
        self._call: _Call | None = None
        self._scheduled: list[tuple[float, bytes | Callable[[], None]]] = []
        self._silent_after: str | None = None
        self._buffer = b""
        self._master = -1
        self._slave = -1
        self.port = ""
        self._open_pty()
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name="fake-modem", daemon=True
        )
        self._thread.start()

    # -- control ------------------------------------------------------------

    def set_mode(self, mode: str, *, delay: float | None = None) -> None:
        """Switch behaviour; see the module docstring. Raises ValueError."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        with self._lock:
            if delay is not None:
                self.delay = delay
            if mode == "absent" and self._master >= 0:
                self._close_pty()
            elif mode != "absent" and self._master < 0:
                self._open_pty()
                self._state = _State(unlocked=self.pin is None)
            self.mode = mode
        self._wake()

    def go_silent_after(self, command_prefix: str) -> None:
        """Answer the next command starting with `command_prefix`, then go silent."""
        with self._lock:
            self._silent_after = command_prefix.upper()

    def store_sms(self, number: str, text: str, when: datetime | None = None) -> int:
        """Put a received SMS into the modem's storage; returns its index."""
        with self._lock:
            index = self._next_index
            self._next_index += 1
            self._inbox[index] = _Stored(number, text, when or datetime.now(UTC))
            return index

    def stored_indexes(self) -> list[int]:
        with self._lock:
            return sorted(self._inbox)

    def ring(self, number: str = "+3612345678") -> None:
        """An incoming call rings (unsolicited RING and +CLIP)."""
        self._schedule(0.0, f'\r\nRING\r\n\r\n+CLIP: "{number}",145\r\n'.encode())

    def close(self) -> None:
        """Stop the thread and close every descriptor. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake()
        self._thread.join(timeout=5)
        with self._lock:
            self._close_pty()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pty ----------------------------------------------------------------

    def _open_pty(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._buffer = b""

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    # -- thread ---------------------------------------------------------------

    def _run(self) -> None:
        while not self._closed:
            with self._lock:
                master = self._master
                due = [t for t, _ in self._scheduled]
            timeout = 0.2
            if due:
                timeout = max(0.0, min(min(due) - time.monotonic(), timeout))
            fds = [self._wake_r] + ([master] if master >= 0 else [])
            try:
                readable, _, _ = select.select(fds, [], [], timeout)
            except (OSError, ValueError):
                continue
            if self._wake_r in readable:
                os.read(self._wake_r, 64)
            if master >= 0 and master in readable:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    data = b""
                if data:
                    self._receive(data)
            self._run_scheduled()

    def _schedule(self, delay: float, data: bytes | Callable[[], None]) -> None:
        with self._lock:
            self._scheduled.append((time.monotonic() + delay, data))
        self._wake()

    def _run_scheduled(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [d for t, d in self._scheduled if t <= now]
            self._scheduled = [(t, d) for t, d in self._scheduled if t > now]
            call = self._call
        for data in due:
            if callable(data):
                data()
            else:
                self._send(data)
        if call and call.active and call.keys_due and now >= call.keys_due:
            call.keys_due = None
            if not call.keys_done:
                call.keys_done = True
                for key in call.script.keys:
                    call.record.keys_sent += key
                    self._send(f"\r\n+DTMF: {key}\r\n".encode())
                if call.script.hang_up_after_keys:
                    self._end_call("NO CARRIER")

    def _send(self, data: bytes) -> None:
        with self._lock:
            master = self._master
            if master < 0 or self.mode in ("silent", "absent"):
                return
        try:
            os.write(master, data)
        except OSError:
            pass

    def _reply(self, *lines: str) -> None:
        if self.mode == "slow":
            # Answer late, but stay stoppable.
            deadline = time.monotonic() + self.delay
            while not self._closed and time.monotonic() < deadline:
                time.sleep(0.01)
        self._send(b"".join(f"\r\n{line}\r\n".encode() for line in lines))

    def _receive(self, data: bytes) -> None:
        self._buffer += data
        while True:
            state = self._state
            if state.body_for is not None:
                cut = min(
                    (
                        i
                        for i in (
                            self._buffer.find(b"\x1a"),
                            self._buffer.find(b"\x1b"),
                        )
                        if i >= 0
                    ),
                    default=-1,
                )
                if cut < 0:
                    return
                body, end = self._buffer[:cut], self._buffer[cut : cut + 1]
                self._buffer = self._buffer[cut + 1 :]
                argument, state.body_for = state.body_for, None
                if end == b"\x1a":
                    self._sms_body(argument, body.decode("latin-1"))
                continue
            cut = self._buffer.find(b"\r")
            if cut < 0:
                return
            line = self._buffer[:cut].decode("latin-1").strip("\n ")
            self._buffer = self._buffer[cut + 1 :]
            if line:
                self._command(line)

    def _command(self, line: str) -> None:
        self.commands.append(line)
        if self.mode in ("silent", "absent"):
            return
        if self._state.echo:
            self._send(line.encode("latin-1") + b"\r")
        if self.mode == "error":
            if line.upper().startswith(("AT+CMGS", "AT+CMGL", "AT+CMGD")):
                self._reply("+CMS ERROR: 500")
            else:
                self._reply(f"+CME ERROR: {self.error_code}")
            return
        self._answer(line)
        with self._lock:
            prefix = self._silent_after
            if prefix and line.upper().startswith(prefix):
                self._silent_after = None
                self.mode = "silent"

    def _answer(self, line: str) -> None:
        s = self._state
        upper = line.upper()
        needs_sim = upper.startswith(
            ("AT+CREG", "AT+CMGS", "AT+CMGL", "AT+CMGD", "ATD", "AT+CSQ")
        )
        if needs_sim and not s.unlocked:
            self._reply("+CME ERROR: 11")
            return
        if upper in ("AT", "ATZ", "AT+CFUN=1") or upper.startswith(
            (
                "AT+CMEE",
                "AT+CSMP",
                "AT+CNMI",
                "AT+CLIP",
                "AT+DDET",
                "AT+VTD",
                "AT+CLCC=",
                "AT+CPMS",
            )
        ):
            self._reply("OK")
        elif upper in ("ATE0", "ATE1"):
            s.echo = upper == "ATE1"
            self._reply("OK")
        elif upper == "AT+CFUN?":
            self._reply("+CFUN: 1", "OK")
        elif upper == "AT+CPIN?":
            self._reply("+CPIN: READY" if s.unlocked else "+CPIN: SIM PIN", "OK")
        elif upper.startswith("AT+CPIN="):
            given = line[8:].strip('"')
            if self.pin is not None and given == self.pin:
                s.unlocked = True
                self._reply("OK")
            else:
                self._reply("+CME ERROR: 16")
        elif upper == "AT+CREG?":
            self._reply(f"+CREG: 0,{1 if self.registered else 2}", "OK")
        elif upper == "AT+CSQ":
            self._reply(f"+CSQ: {self.signal},0", "OK")
        elif upper in ("AT+CMGF=0", "AT+CMGF=1"):
            s.pdu_mode = upper.endswith("0")
            self._reply("OK")
        elif upper.startswith("AT+CSCS="):
            s.charset = line[8:].strip('"').upper()
            self._reply("OK")
        elif upper.startswith("AT+CMGS="):
            s.body_for = line[8:]
            self._send(b"\r\n> ")
        elif upper.startswith("AT+CMGL"):
            self._list()
        elif upper.startswith("AT+CMGD="):
            index = line[8:].split(",")[0]
            with self._lock:
                found = index.isdigit() and self._inbox.pop(int(index), None)
            self._reply("OK" if found else "+CMS ERROR: 321")
        elif upper.startswith("ATD") and upper.endswith(";"):
            self._dial(line[3:-1])
        elif upper == "ATH":
            self._end_call(None)
            self._reply("OK")
        elif upper.startswith("AT+VTS="):
            call = self._call
            if call is None or not call.active:
                self._reply("+CME ERROR: 3")
                return
            call.record.tones += line[7:].strip('"')
            if not call.keys_done:
                call.keys_due = time.monotonic() + call.script.key_delay
            self._reply("OK")
        else:
            self._reply("ERROR")

    # -- SMS ------------------------------------------------------------------

    def _sms_body(self, argument: str, body: str) -> None:
        s = self._state
        self._mr = (self._mr + 1) % 256
        if s.pdu_mode:
            try:
                length = int(argument)
                decoded = decode_submit(body.strip())
                data = bytes.fromhex(body.strip())
                if len(data) - 1 - data[0] != length:
                    raise ValueError("length does not match the PDU")
            except ValueError:
                self._reply("+CMS ERROR: 304")
                return
            if decoded.concat is None:
                self._record(decoded.number, decoded.text, 1)
            else:
                key = (decoded.number, decoded.concat.reference)
                parts = s.concat_parts.setdefault(key, {})
                parts[decoded.concat.sequence] = decoded.text
                if len(parts) == decoded.concat.total:
                    del s.concat_parts[key]
                    text = "".join(parts[i] for i in sorted(parts))
                    self._record(decoded.number, text, decoded.concat.total)
        else:
            number = argument.split(",")[0].strip('"')
            if s.charset == "UCS2":
                number = bytes.fromhex(number).decode("utf-16-be")
                body = bytes.fromhex(body).decode("utf-16-be")
            self._record(number, body, 1)
        self._reply(f"+CMGS: {self._mr}", "OK")

    def _record(self, number: str, text: str, parts: int) -> None:
        with self._lock:
            self.sms.append(ReceivedSms(number, text, parts))

    def _list(self) -> None:
        s = self._state
        with self._lock:
            items = sorted(self._inbox.items())
        lines = []
        for index, stored in items:
            stat = 1 if stored.read else 0
            if s.pdu_mode:
                pdu = encode_deliver(
                    stored.number, stored.text, stored.when, stored.concat
                )
                tpdu_len = len(bytes.fromhex(pdu)) - 1
                lines += [f"+CMGL: {index},{stat},,{tpdu_len}", pdu]
            else:
                label = "REC READ" if stored.read else "REC UNREAD"
                stamp = stored.when.strftime("%y/%m/%d,%H:%M:%S+00")
                lines += [
                    f'+CMGL: {index},"{label}","{stored.number}","","{stamp}"',
                    stored.text,
                ]
            stored.read = True
        self._reply(*lines, "OK")

    # -- calls ----------------------------------------------------------------

    def _dial(self, number: str) -> None:
        script = self.next_call
        record = CallRecord(number)
        with self._lock:
            self.calls.append(record)
            self._call = _Call(record, script)
        self._reply("OK")
        clcc = f'+CLCC: 1,0,{{}},0,0,"{number}",145,""'
        self._schedule(
            0.0, f"\r\n{clcc.format(2)}\r\n\r\n{clcc.format(3)}\r\n".encode()
        )
        if script.answer is None:
            return
        if script.answer:
            self._schedule(script.answer_delay, lambda: self._answered(clcc))
        else:
            self._schedule(
                script.answer_delay, f"\r\n{clcc.format(6)}\r\n\r\nBUSY\r\n".encode()
            )

    def _answered(self, clcc: str) -> None:
        with self._lock:
            call = self._call
            if call is None or call.record.ended or self._closed:
                return
            call.active = True
            call.record.answered = True
            call.keys_due = time.monotonic() + call.script.key_delay
        self._schedule(0.0, f"\r\n{clcc.format(0)}\r\n".encode())

    def _end_call(self, result: str | None) -> None:
        with self._lock:
            call, self._call = self._call, None
        if call is None:
            return
        call.record.ended = True
        call.active = False
        if result:
            self._send(f"\r\n{result}\r\n".encode())
