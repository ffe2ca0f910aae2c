"""The `outputs` actor: the one owner of the DRV8860 output chip (siren = channel 0).

`SetOutput(channel, on)` (told by `siren` and `alarm`) switches one channel;
`GetOutputs()` answers the eight channel states and the last fault read-back.

A restart of this actor must not silence the siren or drop a relay (F1, F14):
`setup` never clears the chip. It restores the wanted state of every channel from
durable state and drives exactly that: channel 0 from `runtime_state`
(`siren_started_at` <= now < `siren_until`, or no `siren_until`), the other channels
from the `output` rows (an enabled output whose `state` is true is active, i.e. the
opposite of its `default_state`; otherwise its `default_state`). `release` leaves
the chip as it is.

On board 3 every write reads the fault register back; new faults are logged
(`output_faults`) and published to admins as `UiEvent("output_faults", ...)`.
This actor publishes no `output_state_change` / `outputs_state_change`: the alarm
core (`arpi.alarm.outputs.OutputController`) is their one publisher, as it knows the
output ids and what "active" means; publishing here too gave the UI every change twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arpi.actors import Actor
from arpi.actors.outage import DATABASE_ERRORS, DatabaseOutage
from arpi.alarm.effects import SetOutput
from arpi.bus import ConfigChanged, UiEvent
from arpi.db import sql
from arpi.db.tables import output as output_table
from arpi.db.tables import runtime_state
from arpi.drivers.outputs import SIREN_CHANNEL, OutputFaults

__all__ = [
    "GetOutputs",
    "OutputRow",
    "OutputStates",
    "OutputsActor",
    "SetOutput",
    "load_output_rows",
    "siren_should_sound",
]

CHANNELS = 8


@dataclass(frozen=True, slots=True)
class GetOutputs:
    """Ask for an `OutputStates` snapshot."""


@dataclass(frozen=True, slots=True)
class OutputStates:
    """`states[c]`: channel c is on. `faults`: last board-3 read-back (else None)."""

    states: tuple[bool, ...]
    faults: OutputFaults | None


@dataclass(frozen=True, slots=True)
class OutputRow:
    """An output row wired to a channel."""

    id: int
    channel: int
    default_state: bool
    state: bool
    enabled: bool

    @property
    def wanted(self) -> bool:
        """The channel level this row asks for after a restart."""
        if self.enabled and self.state:
            return not self.default_state
        return self.default_state


@dataclass(frozen=True, slots=True)
class _Reload:
    retry: bool = False  # the outage retry timer's own message


def load_output_rows(cur: Any) -> list[OutputRow]:
    """Output rows with a channel, by channel. Blocks on the database."""
    t = output_table
    query = (
        sql.Q.from_(t)
        .select(t.id, t.channel, t.default_state, t.state, t.enabled)
        .where(t.channel.notnull())
        .orderby(t.channel)
    )
    return [
        OutputRow(
            r["id"],
            r["channel"],
            bool(r["default_state"]),
            bool(r["state"]),
            bool(r["enabled"]),
        )
        for r in sql.fetch_all(cur, query)
    ]


def siren_should_sound(cur: Any, now: datetime) -> bool:
    """Whether the durable siren run says channel 0 is on at wall time `now`."""
    t = runtime_state
    query = sql.Q.from_(t).select(t.siren_started_at, t.siren_until).limit(1)
    row = sql.fetch_one(cur, query)
    if row is None or row["siren_started_at"] is None:
        return False
    if row["siren_started_at"] > now:
        return False  # still inside the siren delay: the siren actor switches it on
    until = row["siren_until"]
    return until is None or now < until


class OutputsActor(Actor):
    """See the module docstring. Runs under `core` as `outputs`.

    Options: none required. `ctx.drivers.outputs()` builds the chip driver.
    """

    def setup(self) -> None:
        self._driver: Any = None
        self._subscribed = False
        self._faults: OutputFaults | None = None
        self._fault_channels: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
        self._outage = DatabaseOutage(self, "outputs", _Reload(retry=True))

        drivers = self.ctx.drivers
        if drivers is None:
            raise RuntimeError("no hardware drivers configured")
        # Durable state first: without it we cannot write the chip without risking
        # to switch something off, so a database failure fails the start (the chip
        # keeps its state meanwhile).
        siren, rows = self._read_durable()
        self._rows = {row.channel: row for row in rows}

        self._driver = drivers.outputs()
        wanted = [False] * CHANNELS
        wanted[SIREN_CHANNEL] = siren
        for row in rows:
            if 0 < row.channel < CHANNELS:
                wanted[row.channel] = row.wanted
        self._write(wanted)
        self.log.info(
            "outputs_restored",
            siren=siren,
            on=[c for c in range(CHANNELS) if wanted[c]],
        )

        self.ctx.bus.subscribe(ConfigChanged, self._on_config_changed)
        self._subscribed = True

    def handle(self, message: object) -> object:
        if isinstance(message, SetOutput):
            self._set(message.channel, message.on)
            return None
        if isinstance(message, GetOutputs):
            return OutputStates(tuple(self._driver.states()), self._faults)
        if isinstance(message, _Reload):
            if message.retry:
                self._outage.timer_fired()
            self._reload()
            return None
        return super().handle(message)

    def release(self) -> None:
        outage = getattr(self, "_outage", None)
        if outage is not None:
            outage.cancel()
        if self._subscribed:
            self.ctx.bus.unsubscribe(ConfigChanged, self._on_config_changed)
        if self._driver is not None:
            try:
                self._driver.close()  # the outputs keep their state
            # release must not raise; any driver error is logged
            except Exception as exc:
                self.log.warning("outputs_close_failed", error=str(exc))

    # -- internals --------------------------------------------------------------------

    def _on_config_changed(self, event: ConfigChanged) -> None:
        if "outputs" in event.kinds:
            self.actor_ref.tell(_Reload())

    def _reload(self) -> None:
        """Re-read the output rows. PostgreSQL down is handled trouble: the rows
        held are kept, `outputs_database_unavailable` is logged once per outage and
        the read is retried on `ctx.clock` (see arpi.actors.outage)."""
        try:
            _, rows = self._read_durable(siren=False, connect_timeout=2.0)
        except DATABASE_ERRORS as exc:
            self._outage.failed(exc)
            return
        self._outage.succeeded()
        self._rows = {row.channel: row for row in rows}
        self.log.info("outputs_reloaded", outputs=len(rows))

    def _read_durable(
        self, siren: bool = True, connect_timeout: float | None = None
    ) -> tuple[bool, list[OutputRow]]:
        """Siren level and output rows on a new connection. Raises psycopg2 errors
        (OperationalError when the server cannot be reached). Blocks."""
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
                sounding = (
                    siren_should_sound(cur, self.ctx.clock.wall()) if siren else False
                )
                return sounding, load_output_rows(cur)
        finally:
            conn.close()

    def _set(self, channel: Any, on: Any) -> None:
        if not isinstance(channel, int) or not 0 <= channel < CHANNELS:
            self.log.warning("output_channel_invalid", channel=repr(channel))
            return
        before = self._driver.states()
        if before[channel] == bool(on):
            return
        states = list(before)
        states[channel] = bool(on)
        self._write(states)
        self.log.info("output_switched", channel=channel, on=bool(on))

    def _write(self, states: list[bool]) -> None:
        faults = self._driver.write(states)
        if faults is None:
            return
        self._faults = faults
        channels = (
            tuple(c for c in range(CHANNELS) if faults.open_load[c]),
            tuple(c for c in range(CHANNELS) if faults.over_current[c]),
        )
        if channels == self._fault_channels:
            return
        self._fault_channels = channels
        if faults.any:
            self.log.warning(
                "output_faults",
                open_load=list(channels[0]),
                over_current=list(channels[1]),
            )
        else:
            self.log.info("output_faults_cleared")
        self.ctx.bus.publish(
            UiEvent(
                "output_faults",
                {"openLoad": list(channels[0]), "overCurrent": list(channels[1])},
                admin_only=True,
            )
        )
