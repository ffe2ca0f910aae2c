"""The simulator's controls: one object that drives every fake bus of the process.

`Simulator` is shared by the control API (`arpi.sim.api`), the console and the
scenario runner. It turns a person's actions (open a door, cut a line, pull the
mains, type a code, show a card, switch the modem's mood, move time, crash an actor)
into changes on the fake buses of `SimulatedHardware`; the real drivers and actors
on top see them exactly as they would see the hardware.

Threads: the methods run on the asyncio loop (the coroutines) or any thread (the
plain methods, which only touch the thread-safe fakes). Database reads (the wiring
of each channel) run on a worker thread with the simulator's own connection.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import structlog

from arpi.actors import ActorUnavailable, AskTimeout, Crash, Ping
from arpi.bus import ConfigChanged
from arpi.clock import FastClock, ManualClock
from arpi.db import sql, tables
from arpi.sim.lines import (
    ChannelWiring,
    LineStateError,
    channel_wirings,
    classify_channel,
    level_for,
)

__all__ = [
    "CHANNEL_NAMES",
    "NotManualClock",
    "Simulator",
    "SimulatorError",
    "UnknownActor",
]

log = structlog.get_logger("arpi.sim")

CHANNEL_COUNT = 15
OUTPUT_LABELS = ("GO-/+", "R1", "R0", "O4", "O3", "O2", "O1", "O0")
CHANNEL_NAMES = OUTPUT_LABELS
MODEM_MODES = ("ok", "slow", "silent", "error", "absent")
POWER_SOURCES = ("network", "battery")
# Manual time moves in steps no longer than this, and the tree is let settle
# after each step, so a 30 s advance behaves like 30 s that passed.
ADVANCE_STEP = 0.1
MAX_STEPS = 5000
SETTLE_ROUNDS = 6
PING_TIMEOUT = 0.5

_S = tables.sensor
# The wired sensors (not deleted, on a channel), by channel; params: (False, 0).
_SENSOR_QUERY = (
    sql.Q.from_(_S)
    .select(
        _S.id,
        _S.name,
        _S.channel,
        _S.channel_type,
        _S.sensor_contact_type,
        _S.sensor_eol_count,
        _S.reference_value,
        _S.deleted,
    )
    .where((_S.deleted == sql.param()) & (_S.channel >= sql.param()))
    .orderby(_S.channel, _S.id)
)
_SENSOR_PARAMS = (False, 0)


class SimulatorError(ValueError):
    """A request the simulator cannot carry out; `field` names the culprit."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.status = status


class NotManualClock(SimulatorError):
    def __init__(self, mode: str) -> None:
        super().__init__(
            "advance",
            f"time moves by itself with --clock {mode}; "
            "start with --clock manual to move it by hand",
            status=409,
        )


class UnknownActor(SimulatorError):
    def __init__(self, name: str) -> None:
        super().__init__("actor", f"no running actor named {name!r}", status=404)


@dataclass
class _Line:
    """What the simulator last put on a channel: a named state, or a raw level."""

    state: str | None
    level: float


class Simulator:
    """See the module docstring. Build with the running process's pieces.

    ctx: the process `Context` (directory, bus, db, settings, clock);
    hardware: its `SimulatedHardware`; mail: the running `MailSink` or None.
    """

    def __init__(
        self, ctx: Any, hardware: Any, *, mail: Any = None, demo: str | None = None
    ) -> None:
        if hardware is None:
            raise ValueError("the simulator needs simulated hardware (board sim)")
        self.ctx = ctx
        self.hardware = hardware
        self.mail = mail
        self.demo = demo
        self.board = int(hardware.board)
        self.power = "network"
        self._lines: dict[int, _Line] = {}
        self._wirings: dict[int, ChannelWiring] = {}
        self._conn: Any = None
        self._db_lock = threading.Lock()
        self._advance_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- lifecycle -------------------------------------------------------------

    @property
    def clock(self) -> Any:
        return self.ctx.clock

    @property
    def clock_mode(self) -> str:
        if isinstance(self.clock, ManualClock):
            return "manual"
        if isinstance(self.clock, FastClock):
            return "fast"
        return "real"

    def watch_config(self, loop: asyncio.AbstractEventLoop) -> None:
        """Follow sensor configuration changes (bus `ConfigChanged`) on `loop`."""
        self._loop = loop
        if not self._subscribed:
            self.ctx.bus.subscribe(ConfigChanged, self._on_config_changed)
            self._subscribed = True

    def close(self) -> None:
        """Unsubscribe and close the database connection. Any thread."""
        if self._subscribed:
            self.ctx.bus.unsubscribe(ConfigChanged, self._on_config_changed)
            self._subscribed = False
        with self._db_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    def _on_config_changed(self, event: ConfigChanged) -> None:
        # Runs on the publisher's thread: only hand over to the loop.
        kinds = getattr(event, "kinds", frozenset())
        if "sensors" not in kinds or self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._spawn_sync)

    def _spawn_sync(self) -> None:
        task = asyncio.get_running_loop().create_task(self.sync_lines())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- wiring ----------------------------------------------------------------

    def read_wirings_blocking(self, connection: Any = None) -> dict[int, ChannelWiring]:
        """Read the configured wiring of every channel. Blocks (database).

        With `connection` that connection is used (and not closed); otherwise the
        simulator's own, opened on first use.
        """
        if connection is not None:
            with connection.cursor() as cur:
                rows = sql.fetch_all(cur, _SENSOR_QUERY, _SENSOR_PARAMS)
            connection.rollback()
            self._wirings = channel_wirings(rows)
            return self._wirings
        with self._db_lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = self.ctx.db.connect()
                    with self._conn.cursor() as cur:
                        rows = sql.fetch_all(cur, _SENSOR_QUERY, _SENSOR_PARAMS)
                    self._conn.rollback()
                    break
                except Exception:
                    bad, self._conn = self._conn, None
                    if bad is not None:
                        try:
                            bad.close()
                        except Exception:  # noqa: BLE001
                            pass
                    if attempt == 2:
                        raise
        self._wirings = channel_wirings(rows)
        return self._wirings

    async def refresh_wirings(self) -> dict[int, ChannelWiring]:
        """`read_wirings_blocking` on a worker thread; keeps the last on failure."""
        try:
            return await asyncio.to_thread(self.read_wirings_blocking)
        except Exception as exc:  # noqa: BLE001 - the simulator keeps going
            log.warning("simulator_wiring_unreadable", problem=str(exc).splitlines()[0])
            return self._wirings

    def idle_all(self) -> None:
        """Put every channel at the idle level of its configured wiring."""
        for channel in range(self.channel_count):
            self._apply(channel, "idle")

    async def sync_lines(self) -> None:
        """Re-read the wiring; re-apply each channel's named state (or idle)."""
        before = dict(self._wirings)
        after = await self.refresh_wirings()
        for channel in range(self.channel_count):
            if before.get(channel) == after.get(channel):
                continue
            line = self._lines.get(channel)
            state = line.state if line is not None and line.state else "idle"
            try:
                self._apply(channel, state)
            except LineStateError:
                self._apply(channel, "idle")
        log.info("simulator_lines_synced", channels=len(after))

    @property
    def channel_count(self) -> int:
        return CHANNEL_COUNT

    def _check_channel(self, channel: int) -> None:
        if not 0 <= channel < self.channel_count:
            raise SimulatorError(
                "channel", f"must be 0..{self.channel_count - 1}", status=404
            )

    def _apply(self, channel: int, state: str) -> float:
        wired = self._wirings.get(channel)
        level = level_for(self.board, wired.wiring if wired else None, state)
        self._set_level(channel, level)
        self._lines[channel] = _Line(state, level)
        return level

    def _set_level(self, channel: int, level: float) -> None:
        self.hardware.set_level(channel, level)

    def level_of(self, channel: int) -> float:
        """The level the line shows now (board 3: the ADC's own register)."""
        if self.board == 3:
            from arpi.drivers.adc import board3_input

            chip, pin = board3_input(channel)
            return round(self.hardware.adc[chip].raw(pin) / 1023, 4)
        line = self._lines.get(channel)
        return line.level if line is not None else 0.0

    # --- controls --------------------------------------------------------------

    async def set_channel_state(self, channel: int, state: str) -> dict[str, Any]:
        """Put `channel` in `state` for its configured wiring; returns its view.

        Raises SimulatorError (404 unknown channel, 400 state not applicable).
        """
        self._check_channel(channel)
        await self.refresh_wirings()
        try:
            self._apply(channel, state)
        except LineStateError as exc:
            raise SimulatorError("state", str(exc).removeprefix("state: ")) from None
        log.info("simulator_channel_set", channel=channel, state=state)
        return self.channel_view(channel)

    async def set_channel_level(self, channel: int, level: float) -> dict[str, Any]:
        """Put a raw level (0..1 of VREF) on `channel`; returns its view."""
        self._check_channel(channel)
        if not 0.0 <= level <= 1.0:
            raise SimulatorError("level", "must be within 0..1")
        await self.refresh_wirings()
        self._set_level(channel, level)
        self._lines[channel] = _Line(None, level)
        log.info("simulator_channel_set", channel=channel, level=level)
        return self.channel_view(channel)

    def set_power(self, source: str) -> None:
        if source not in POWER_SOURCES:
            raise SimulatorError("source", "must be network or battery")
        self.hardware.set_power(source)
        self.power = source
        log.info("simulator_power_set", source=source)

    def set_gsm_mode(self, mode: str) -> None:
        if mode not in MODEM_MODES:
            raise SimulatorError("mode", f"must be one of {', '.join(MODEM_MODES)}")
        self.hardware.modem.set_mode(mode)
        log.info("simulator_modem_mode", mode=mode)

    def gsm_messages(self) -> dict[str, Any]:
        """The SMS and calls the fake modem received, oldest first."""
        modem = self.hardware.modem
        return {
            "mode": modem.mode,
            "sms": [
                {"number": s.number, "text": s.text, "parts": s.parts}
                for s in list(modem.sms)
            ],
            "calls": [
                {
                    "number": c.number,
                    "answered": c.answered,
                    "tones": c.tones,
                    "keysSent": c.keys_sent,
                    "ended": c.ended,
                }
                for c in list(modem.calls)
            ],
        }

    def mail_messages(self) -> list[dict[str, Any]]:
        if self.mail is None:
            return []
        return [m.to_json() for m in self.mail.messages()]

    def press_keys(self, keys: str) -> None:
        """Type `keys` (0-9, *, #) on the Wiegand keypad."""
        if not keys or any(k not in "0123456789*#" for k in keys):
            raise SimulatorError("keys", "must be 1..32 of 0-9, * and #")
        self.hardware.keypad.press(keys)
        log.info("simulator_keys_pressed", count=len(keys))

    def show_card(self, card: str) -> None:
        """Hold card number `card` (digits) to the Wiegand reader."""
        if not card.isascii() or not card.isdigit():
            raise SimulatorError("card", "must be a string of digits")
        number = int(card)
        if number < 1 << 24:
            bits = 26
        elif number < 1 << 32:
            bits = 34
        else:
            raise SimulatorError("card", "must fit in 32 bits (a 34-bit Wiegand frame)")
        self.hardware.keypad.show_card(number, bits=bits)
        log.info("simulator_card_shown", bits=bits)

    def inject_fault(self, actor: str, kind: str) -> None:
        """Send `Crash(kind)` to the running actor named `actor`."""
        if kind not in ("crash", "hang"):
            raise SimulatorError("kind", "must be crash or hang")
        address = self.ctx.directory.address(actor)
        if not address.alive() or not address.tell(Crash(kind)):
            raise UnknownActor(actor)
        log.warning("simulator_fault_injected", target=actor, kind=kind)

    async def advance(self, seconds: float) -> float:
        """Move a manual clock forward by `seconds`, letting the tree settle.

        Time moves in steps of at most ADVANCE_STEP (longer for very long
        advances); after each step every actor is pinged until all inboxes are
        empty, so what a step set off is handled before time moves on. Returns the
        new monotonic time. Raises NotManualClock (409) with another clock.
        """
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise NotManualClock(self.clock_mode)
        if not 0 <= seconds <= 86400:
            raise SimulatorError("advance", "must be within 0..86400 seconds")
        async with self._advance_lock:
            target = clock.monotonic() + seconds
            step = max(ADVANCE_STEP, seconds / MAX_STEPS)
            unresponsive: set[str] = set()
            await self.settle(unresponsive)
            while clock.monotonic() < target - 1e-9:
                clock.advance(min(step, target - clock.monotonic()))
                await self.settle(unresponsive)
            log.info("simulator_clock_advanced", seconds=seconds)
            return clock.monotonic()

    async def settle(self, unresponsive: set[str] | None = None) -> None:
        """Wait until every live actor has handled what is in its inbox.

        Actors that do not answer a ping within PING_TIMEOUT (a hung actor) are
        added to `unresponsive` and skipped afterwards.
        """
        skip = unresponsive if unresponsive is not None else set()
        directory = self.ctx.directory
        for _ in range(SETTLE_ROUNDS):
            names = [n for n in directory.names() if n not in skip]
            replies = await asyncio.gather(
                *(directory.address(n).ask_async(Ping(), PING_TIMEOUT) for n in names),
                return_exceptions=True,
            )
            busy = False
            for name, reply in zip(names, replies, strict=True):
                if isinstance(reply, AskTimeout):
                    skip.add(name)
                elif isinstance(reply, (ActorUnavailable, BaseException)):
                    continue
                elif getattr(reply, "inbox", 0) > 0:
                    busy = True
            if not busy:
                return

    # --- views -----------------------------------------------------------------

    def channel_view(self, channel: int) -> dict[str, Any]:
        wired = self._wirings.get(channel)
        level = self.level_of(channel)
        state, per_sensor = classify_channel(self.board, wired, level)
        wiring = None
        if wired is not None:
            w = wired.wiring
            wiring = {
                "channelType": w.channel_type.value,
                "contact": w.contact.value.upper(),
                "eol": "double" if w.eol_count == 2 else "single",
                "reference": w.reference,
            }
        return {
            "channel": channel,
            "level": round(level, 4),
            "state": state,
            "wiring": wiring,
            "sensors": [
                {
                    "id": ident,
                    "name": name,
                    "channelType": ctype,
                    "state": per_sensor.get(ident, state),
                }
                for ident, name, ctype in (wired.sensors if wired else ())
            ],
        }

    def clock_view(self) -> dict[str, Any]:
        clock = self.clock
        return {
            "mode": self.clock_mode,
            "factor": getattr(clock, "factor", None),
            "monotonic": round(clock.monotonic(), 3),
            "wall": clock.wall().isoformat(timespec="milliseconds"),
        }

    def outputs_view(self) -> list[dict[str, Any]]:
        states = self.hardware.drv8860.channel_states()
        return [
            {"channel": i, "label": OUTPUT_LABELS[i], "on": bool(on)}
            for i, on in enumerate(states)
        ]

    async def state(self) -> dict[str, Any]:
        """Everything a person would look at: lines, power, modem, outputs, clock."""
        await self.refresh_wirings()
        outputs = self.outputs_view()
        modem = self.hardware.modem
        mail = self.mail
        return {
            "board": self.board,
            "demo": self.demo,
            "clock": self.clock_view(),
            "channels": [self.channel_view(c) for c in range(self.channel_count)],
            "power": self.power,
            "gsm": {
                "mode": modem.mode,
                "port": modem.port,
                "sms": len(modem.sms),
                "calls": len(modem.calls),
            },
            "outputs": outputs,
            "siren": outputs[0]["on"],
            "mail": {
                "host": getattr(mail, "host", None),
                "port": getattr(mail, "port", None) if mail and mail.running else None,
                "received": len(mail.messages()) if mail else 0,
                "error": getattr(mail, "error", None) if mail else "not started",
            },
        }

    def status_line(self) -> str:
        """One short line for the console: lines not idle, power, siren, clock."""
        parts = []
        for channel in range(self.channel_count):
            wired = self._wirings.get(channel)
            state, _ = classify_channel(self.board, wired, self.level_of(channel))
            if state != "idle":
                parts.append(f"ch{channel}={state}")
        outputs = self.hardware.drv8860.channel_states()
        on = [OUTPUT_LABELS[i] for i in range(1, 8) if outputs[i]]
        clock = self.clock_view()
        return (
            f"[{clock['wall'][11:19]} {clock['mode']}] power={self.power} "
            f"siren={'ON' if outputs[0] else 'off'} "
            f"outputs={','.join(on) or '-'} lines={' '.join(parts) or 'all idle'} "
            f"sms={len(self.hardware.modem.sms)} mail="
            f"{len(self.mail.messages()) if self.mail else 0}"
        )
