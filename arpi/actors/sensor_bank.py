"""The `sensors<N>` actors: sample one sensor bank, classify its lines, feed the alarm.

One `SensorBankActor` per ADC chip (board 3: `sensors0` = AD1, `sensors1` = AD2) or
GPIO bank (board 2: `sensors0`, the fifteen opto inputs). Each scan reads every
channel of the bank once, classifies the lines of the configured sensors
(`arpi.drivers.LineClassifier`) and tells `alarm` a `SensorsSampled` with the raw
states; sensitivity windows and the line-fault grace time (F9) are the alarm's.

Scans run at `settings.sample_rate` per second on deadlines of `ctx.clock` that do
not drift (each deadline is the previous one plus the period; missed deadlines
are skipped, never bunched up).

Hardware failure is never quiet: a channel that cannot be read is `FAULT`; a bank
that cannot open its bus fails its start, and every failure exit of an incarnation
(`release` after a crash, a failed start or read errors) tells the alarm `FAULT` for
all of its sensors; an orderly stop by the supervisor (`teardown` ran) does not.
A bank whose every channel failed for `fail_after` seconds ends its incarnation so
that the supervisor reopens the device with backoff.

Calibration (F18): `basic` lines (and every board-2 input) compare with a stored
reference. `ResetReferences` recalibrates them from readings taken over
`calibration_time` seconds; `arpi.drivers.calibrate` refuses failed, unstable or
faulted readings, and a refused sensor keeps its old reference. A sensor that has
no reference yet is calibrated the same way right after loading and reads `FAULT`
until it has one. References are written through the `storage` actor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pykka
import structlog

from arpi.actors import Actor, ActorUnavailable, AskTimeout
from arpi.actors.outage import DATABASE_ERRORS, DatabaseOutage
from arpi.alarm.lines import LineState
from arpi.alarm.messages import SensorsSampled
from arpi.bus import ConfigChanged
from arpi.db import sql
from arpi.db.storage import submit
from arpi.db.tables import sensor as sensor_table
from arpi.drivers import (
    CalibrationRefused,
    ChannelType,
    Contact,
    LineClassifier,
    Wiring,
    calibrate,
)

__all__ = [
    "BankUnreadable",
    "ReferencesReset",
    "ResetReferences",
    "SensorBankActor",
    "SensorLine",
    "bank_name",
    "load_bank_sensors",
    "reset_references_async",
]

DEFAULT_SAMPLE_RATE = 20

log = structlog.get_logger("arpi.sensors")


def bank_name(index: int) -> str:
    """The actor name of sensor bank `index` (`sensors0`, `sensors1`, ...)."""
    return f"sensors{index}"


# -- messages -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ResetReferences:
    """Recalibrate the references of calibrated lines from their current readings.

    `sensor_ids` None: every calibrated line of the bank; otherwise only those ids
    (ids served by other banks are ignored). The handler returns `reply` at once (a
    `concurrent.futures.Future`); it resolves to a `ReferencesReset` once the new
    references are stored, `calibration_time` seconds later or more. Send it to
    every bank (see `bank_name`) and merge the results.
    """

    sensor_ids: tuple[int, ...] | None = None
    reply: Future = field(default_factory=Future, repr=False)


@dataclass(frozen=True, slots=True)
class ReferencesReset:
    """Outcome per sensor: `calibrated` id -> new reference, `refused` id -> reason
    (F18: an active, faulted, failed or unstable reading is never taken)."""

    bank: str
    calibrated: dict[int, float]
    refused: dict[int, str]

    @property
    def ok(self) -> bool:
        return not self.refused


@dataclass(frozen=True, slots=True)
class _Scan:
    pass


@dataclass(frozen=True, slots=True)
class _Reload:
    retry: bool = False  # the outage retry timer's own message


@dataclass(frozen=True, slots=True)
class _CalibrationDue:
    token: int


@dataclass(frozen=True, slots=True)
class _ReferencesStored:
    token: int
    future: Future


# -- configuration --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SensorLine:
    """One configured sensor of a bank: where its level is and how it is wired."""

    id: int
    name: str
    channel: int
    index: int  # position of its channel in the bank's readings
    wiring: Wiring | None  # None: the row's wiring is unusable (reads FAULT)
    calibrated: bool  # compared with a stored reference (basic or board 2)


_EOL = {"single": 1, "double": 2}


def _wiring_of(row: dict[str, Any], board: int) -> tuple[Wiring, bool]:
    """The wiring of a sensor row and whether it uses a calibrated reference.

    Raises ValueError naming the bad field.
    """
    reference = row["reference_value"]
    if board == 2:
        # Board-2 inputs are plain 0/1 levels: always compared with the reference.
        return Wiring(ChannelType.BASIC, reference=reference), True
    try:
        channel_type = ChannelType(str(row["channel_type"]))
    except ValueError:
        raise ValueError(
            f"channel_type: unknown value {row['channel_type']!r}"
        ) from None
    try:
        contact = Contact(str(row["sensor_contact_type"]).lower())
    except ValueError:
        raise ValueError(
            f"sensor_contact_type: unknown value {row['sensor_contact_type']!r}"
        ) from None
    eol = _EOL.get(str(row["sensor_eol_count"]))
    if eol is None:
        raise ValueError(f"sensor_eol_count: unknown value {row['sensor_eol_count']!r}")
    basic = channel_type is ChannelType.BASIC
    return Wiring(channel_type, contact, eol, reference if basic else None), basic


def load_bank_sensors(
    cur: Any, channels: Sequence[int], board: int
) -> list[SensorLine]:
    """The enabled, non-deleted sensors wired to `channels`, in id order.

    Runs on the caller's thread and blocks on the database. A row whose wiring
    cannot be used is kept with `wiring` None (it reads FAULT) and logged.
    """
    t = sensor_table
    query = (
        sql.Q.from_(t)
        .select(
            t.id,
            t.name,
            t.channel,
            t.channel_type,
            t.sensor_contact_type,
            t.sensor_eol_count,
            t.reference_value,
        )
        .where(t.deleted == sql.param())
        .where(t.enabled == sql.param())
        .where(t.channel.notnull())
        .orderby(t.id)
    )
    position = {channel: i for i, channel in enumerate(channels)}
    lines = []
    for row in sql.fetch_all(cur, query, (False, True)):
        index = position.get(row["channel"])
        if index is None:
            continue
        try:
            wiring, calibrated = _wiring_of(row, board)
        except ValueError as exc:
            _log_bad_row(row["id"], str(exc))
            wiring, calibrated = None, False
        lines.append(
            SensorLine(
                row["id"], row["name"], row["channel"], index, wiring, calibrated
            )
        )
    return lines


def _log_bad_row(sensor_id: int, error: str) -> None:
    log.error("sensor_wiring_invalid", sensor_id=sensor_id, error=error)


# -- the actor ------------------------------------------------------------------------


@dataclass(slots=True)
class _Calibration:
    """A calibration in progress: samples of its sensors until `token`'s deadline."""

    token: int
    sensor_ids: tuple[int, ...]
    samples: dict[int, list[float | None]]
    replies: list[Future]
    stored: dict[int, float] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)


class SensorBankActor(Actor):
    """Samples one sensor bank and tells `alarm` what every line reads.

    Options: `bank` (index into `ctx.drivers.sensor_banks()`, required),
    `sample_rate` (scans per second; default `settings.sample_rate`, else 20),
    `calibration_time` (seconds of readings per calibration, default 1.0: below
    the alarm's line-fault grace time), `fail_after` (seconds of an entirely
    unreadable bank before the incarnation ends, default 5.0), `alarm` and
    `storage` (actor names).
    """

    def setup(self) -> None:
        self._lines: list[SensorLine] = []
        self._classifiers: dict[int, LineClassifier | None] = {}
        self._inputs: Any = None
        self._timer: Any = None
        self._calibration: _Calibration | None = None
        self._calibration_timer: Any = None
        self._tokens = 0
        self._subscribed = False
        self._last_levels: list[float | None] = []
        self._outage = DatabaseOutage(self, "sensor_bank", _Reload(retry=True))

        self._bank = int(self.options["bank"])  # type: ignore[call-overload]
        settings = self.ctx.settings
        rate = self.options.get("sample_rate") or getattr(
            settings, "sample_rate", DEFAULT_SAMPLE_RATE
        )
        if not isinstance(rate, int | float) or not 0 < rate <= 1000:
            raise ValueError(f"sample_rate: must be within 0..1000, got {rate!r}")
        self._period = 1.0 / float(rate)
        self._calibration_time = float(self.options.get("calibration_time", 1.0))
        self._fail_after = float(self.options.get("fail_after", 5.0))  # type: ignore[arg-type]
        self._alarm = self.address(str(self.options.get("alarm", "alarm")))
        self._storage = self.address(str(self.options.get("storage", "storage")))
        self._alarm_missing = False
        self._failing_since: float | None = None

        drivers = self.ctx.drivers
        if drivers is None:
            raise RuntimeError("no hardware drivers configured")
        self._board = drivers.board
        self._channels = tuple(drivers.sensor_banks()[self._bank])

        # Sensors first: if the bus cannot be opened, release() still knows whose
        # lines are now unreadable.
        self.ctx.bus.subscribe(ConfigChanged, self._on_config_changed)
        self._subscribed = True
        self._load()
        self._inputs = drivers.sensor_inputs(self._bank)
        self.log.info(
            "sensor_bank_started",
            channels=list(self._channels),
            sensors=len(self._lines),
            sample_rate=round(1.0 / self._period, 3),
        )
        self._start_uncalibrated()
        self._next = self.ctx.clock.monotonic()
        self._scan()

    def handle(self, message: object) -> object:
        if isinstance(message, _Scan):
            self._scan()
            return None
        if isinstance(message, ResetReferences):
            self._begin_calibration(message.sensor_ids, message.reply)
            return message.reply
        if isinstance(message, _CalibrationDue):
            self._finish_calibration(message.token)
            return None
        if isinstance(message, _ReferencesStored):
            self._references_stored(message)
            return None
        if isinstance(message, _Reload):
            if message.retry:
                self._outage.timer_fired()
            self._reload()
            return None
        return super().handle(message)

    def teardown(self) -> None:
        # Runs only on an orderly stop (the supervisor stops the bank: shutdown or
        # a collateral restart), never after a failure.
        self._orderly = True

    def release(self) -> None:
        if self._subscribed:
            self.ctx.bus.unsubscribe(ConfigChanged, self._on_config_changed)
        for timer in (self._timer, self._calibration_timer):
            if timer is not None:
                timer.cancel()
        outage = getattr(self, "_outage", None)
        if outage is not None:
            outage.cancel()
        lines = getattr(self, "_lines", [])
        if lines and not getattr(self, "_orderly", False) and not self.abandoned:
            # A failure (crash, failed start, unreadable bus) leaves its lines
            # unreadable until the next incarnation scans: say so (never "idle").
            # An orderly stop says nothing: the lines did not fail, and an alarm
            # still running during a process stop must not see sabotage. An
            # abandoned (hung) incarnation is silent too: its replacement reports.
            states = tuple((line.id, LineState.FAULT) for line in lines)
            self._alarm.tell(
                SensorsSampled(self.name, self.ctx.clock.monotonic(), states)
            )
        calibration = getattr(self, "_calibration", None)
        if calibration is not None:
            self._answer(calibration, refuse_rest="the sensor bank stopped")
        if self._inputs is not None:
            try:
                self._inputs.close()
            # release must not raise; any driver error is logged
            except Exception as exc:
                self.log.warning("sensor_bank_close_failed", error=str(exc))

    # -- configuration ------------------------------------------------------------

    def _on_config_changed(self, event: ConfigChanged) -> None:
        # Runs on the publisher's thread: only queue the reload.
        if "sensors" in event.kinds:
            self.actor_ref.tell(_Reload())

    def _load(self, connect_timeout: float | None = None) -> None:
        """Read this bank's sensors. Raises psycopg2 errors (OperationalError when
        the server cannot be reached). Blocks on the database."""
        db = self.ctx.db
        if db is None:
            raise RuntimeError("no database configured")
        if connect_timeout is None:
            conn = db.connect(application_name=f"arpi-{self.name}")
        else:
            conn = db.connect(
                application_name=f"arpi-{self.name}", connect_timeout=connect_timeout
            )
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                lines = load_bank_sensors(cur, self._channels, self._board)
        finally:
            conn.close()
        self._lines = lines
        self._classifiers = {line.id: self._classifier(line.wiring) for line in lines}

    def _classifier(self, wiring: Wiring | None) -> LineClassifier | None:
        if wiring is None:
            return None
        if wiring.channel_type is ChannelType.BASIC and wiring.reference is None:
            return None  # uncalibrated: FAULT until it has a reference
        return LineClassifier(wiring)

    def _reload(self) -> None:
        """Re-read the sensors. PostgreSQL down is handled trouble: scanning goes on
        with the lines held, `sensor_bank_database_unavailable` is logged once per
        outage and the read is retried on `ctx.clock` (with a doubling delay,
        see arpi.actors.outage). A crash here would report every line as FAULT."""
        try:
            self._load(connect_timeout=2.0)
        except DATABASE_ERRORS as exc:
            self._outage.failed(exc)
            return
        self._outage.succeeded()
        self.log.info("sensor_bank_reloaded", sensors=len(self._lines))
        if self._calibration is not None:
            known = {line.id for line in self._lines}
            for sensor_id in self._calibration.sensor_ids:
                if sensor_id not in known:
                    self._calibration.refused.setdefault(
                        sensor_id, "the sensor was removed from the bank"
                    )
        self._start_uncalibrated()

    # -- scanning ---------------------------------------------------------------------

    def _scan(self) -> None:
        now = self.ctx.clock.monotonic()
        levels = self._inputs.read_levels()
        self._last_levels = levels
        states = tuple((line.id, self._state(line, levels)) for line in self._lines)
        self._check_failing(levels, now)
        if self._calibration is not None:
            for sensor_id, samples in self._calibration.samples.items():
                line = self._line(sensor_id)
                if line is not None:
                    samples.append(levels[line.index])
        # The next deadline is set before the alarm hears of this scan, so whoever
        # sees the sample can rely on the next scan being scheduled.
        self._schedule(now)
        self._report(SensorsSampled(self.name, now, states))

    def _state(self, line: SensorLine, levels: list[float | None]) -> LineState:
        classifier = self._classifiers.get(line.id)
        if classifier is None:
            return LineState.FAULT
        return classifier.classify(levels[line.index])

    def _report(self, sample: SensorsSampled) -> None:
        # A dead letter per scan would flood the log while the alarm restarts.
        if self._alarm.alive() and self._alarm.tell(sample):
            if self._alarm_missing:
                self._alarm_missing = False
                self.log.info("sensor_bank_alarm_back")
            return
        if not self._alarm_missing:
            self._alarm_missing = True
            self.log.warning("sensor_bank_alarm_unavailable")

    def _schedule(self, now: float) -> None:
        self._next += self._period
        if self._next <= now:
            # Overrun (slow bus, busy machine): skip the missed deadlines and stay
            # on the original grid.
            missed = math.floor((now - self._next) / self._period) + 1
            self._next += missed * self._period
            self.log.debug("sensor_scan_overrun", missed=missed)
        self._timer = self.tell_self_at(self._next, _Scan())

    def _check_failing(self, levels: list[float | None], now: float) -> None:
        if levels and all(level is None for level in levels):
            if self._failing_since is None:
                self._failing_since = now
                self.log.error("sensor_bank_unreadable")
            elif now - self._failing_since >= self._fail_after:
                raise BankUnreadable(
                    f"{self.name}: no channel readable for {self._fail_after:g}s"
                )
        elif self._failing_since is not None:
            self._failing_since = None
            self.log.info("sensor_bank_readable")

    def _line(self, sensor_id: int) -> SensorLine | None:
        for line in self._lines:
            if line.id == sensor_id:
                return line
        return None

    # -- calibration ----------------------------------------------------------------

    def _start_uncalibrated(self) -> None:
        pending = [
            line.id
            for line in self._lines
            if line.calibrated
            and line.wiring is not None
            and line.wiring.reference is None
        ]
        if pending and self._calibration is None:
            self.log.info("sensor_calibration_needed", sensors=pending)
            self._begin_calibration(tuple(pending), None)

    def _begin_calibration(
        self, sensor_ids: Iterable[int] | None, reply: Future | None
    ) -> None:
        if self._calibration is not None:
            # One calibration at a time: the new request joins the running one.
            current = self._calibration
            if reply is not None:
                current.replies.append(reply)
            for line in self._selected(sensor_ids):
                current.samples.setdefault(line.id, [])
            current.sensor_ids = tuple(current.samples)
            return
        selected = self._selected(sensor_ids)
        self._tokens += 1
        calibration = _Calibration(
            token=self._tokens,
            sensor_ids=tuple(line.id for line in selected),
            samples={line.id: [] for line in selected},
            replies=[reply] if reply is not None else [],
        )
        if not selected:
            self._answer(calibration)
            return
        self._calibration = calibration
        self.log.info(
            "sensor_calibration_started", sensors=list(calibration.sensor_ids)
        )
        self._calibration_timer = self.tell_self_later(
            self._calibration_time, _CalibrationDue(calibration.token)
        )

    def _selected(self, sensor_ids: Iterable[int] | None) -> list[SensorLine]:
        wanted = None if sensor_ids is None else set(sensor_ids)
        return [
            line
            for line in self._lines
            if line.calibrated
            and line.wiring is not None
            and (wanted is None or line.id in wanted)
        ]

    def _finish_calibration(self, token: int) -> None:
        calibration = self._calibration
        if calibration is None or calibration.token != token:
            return
        self._calibration_timer = None
        results: dict[int, float] = {}
        for sensor_id, samples in calibration.samples.items():
            line = self._line(sensor_id)
            if line is None or line.wiring is None:
                calibration.refused.setdefault(
                    sensor_id, "the sensor is not on this bank"
                )
                continue
            try:
                results[sensor_id] = calibrate(line.wiring, samples, board=self._board)
            except CalibrationRefused as exc:
                calibration.refused[sensor_id] = str(exc)
                self.log.warning(
                    "sensor_calibration_refused", sensor_id=sensor_id, reason=str(exc)
                )
        if not results:
            self._calibration = None
            self._answer(calibration)
            return
        calibration.stored = results
        ref = self.actor_ref

        def write(cur: Any) -> None:
            t = sensor_table
            query = (
                sql.Q.update(t)
                .set(t.reference_value, sql.param("value"))
                .where(t.id == sql.param("id"))
            )
            for sensor_id, value in results.items():
                sql.execute(cur, query, {"value": value, "id": sensor_id})

        try:
            future = submit(self._storage, write, "sensor_references")
        except ActorUnavailable:
            for sensor_id in results:
                calibration.refused[sensor_id] = "the database writer is not running"
            calibration.stored = {}
            self._calibration = None
            self._answer(calibration)
            return
        future.add_done_callback(lambda f: _tell(ref, _ReferencesStored(token, f)))

    def _references_stored(self, message: _ReferencesStored) -> None:
        calibration = self._calibration
        if calibration is None or calibration.token != message.token:
            return
        self._calibration = None
        error = message.future.exception()
        if error is not None:
            self.log.error("sensor_references_not_stored", error=str(error))
            for sensor_id in calibration.stored:
                calibration.refused[sensor_id] = "the reference could not be stored"
            calibration.stored = {}
            self._answer(calibration)
            return
        for sensor_id, value in calibration.stored.items():
            line = self._line(sensor_id)
            if line is None or line.wiring is None:
                continue
            wiring = Wiring(
                line.wiring.channel_type,
                line.wiring.contact,
                line.wiring.eol_count,
                value,
            )
            index = self._lines.index(line)
            self._lines[index] = SensorLine(
                line.id, line.name, line.channel, line.index, wiring, True
            )
            self._classifiers[line.id] = LineClassifier(wiring)
        self.log.info(
            "sensor_references_stored",
            references={k: round(v, 4) for k, v in calibration.stored.items()},
        )
        self._answer(calibration)

    def _answer(
        self, calibration: _Calibration, refuse_rest: str | None = None
    ) -> None:
        refused = dict(calibration.refused)
        if refuse_rest is not None:
            for sensor_id in calibration.sensor_ids:
                if sensor_id not in calibration.stored:
                    refused.setdefault(sensor_id, refuse_rest)
        result = ReferencesReset(self.name, dict(calibration.stored), refused)
        for reply in calibration.replies:
            if not reply.done():
                reply.set_result(result)


class BankUnreadable(Exception):
    """Every channel of a bank failed for too long; the device is reopened."""


def _tell(ref: Any, message: object) -> None:
    """Tell one incarnation; dropped if it has ended (storage-thread callback)."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        pass


async def reset_references_async(
    directory: Any,
    names: Sequence[str],
    sensor_ids: tuple[int, ...] | None,
    timeout: float,
) -> dict[str, ReferencesReset | None]:
    """Ask each bank in `names` to recalibrate; on the event loop, never blocking it.

    Returns bank name -> its `ReferencesReset`, or None when the bank is not running
    or did not answer within `timeout` seconds.
    """
    import asyncio

    async def one(name: str) -> ReferencesReset | None:
        message = ResetReferences(sensor_ids)
        try:
            reply = await directory.address(name).ask_async(message, timeout)
            return await asyncio.wait_for(asyncio.wrap_future(reply), timeout)
        except (ActorUnavailable, AskTimeout, TimeoutError) as exc:
            log.warning("sensor_calibration_unanswered", bank=name, error=str(exc))
            return None

    results = await asyncio.gather(*(one(name) for name in names))
    return dict(zip(names, results, strict=True))
