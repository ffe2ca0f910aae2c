"""The `keypad` actor: Wiegand or DSC keypad, access codes, cards, beeps (F8, F12, F17).

The first non-deleted `keypad` row chooses the device by its type name (`WIEGAND`
or `DSC`); a disabled or missing keypad opens nothing (card registration then times
out). The device is polled every `poll_interval` seconds of `ctx.clock`.

Codes (F17). Keys collect into an entry that is forgotten after `key_timeout`
seconds without a key or on `*`:

- `<code>#` with a 4..12 digit access code disarms;
- four digits without `#` are tried at once, so a 4-digit code needs no `#`; when
  they match no user the entry goes on (they may begin a longer code);
- `#1` / `#2` (Wiegand) or the Away / Stay keys (DSC) arm away / stay. With
  `settings.keypad_arm_needs_code` (the default) the keypad then waits for a code,
  entered as above; otherwise it arms at once. Keypad arming always uses the exit
  delay (F12).

Codes are bcrypt-checked against `user.access_code` on this actor's thread (never
the alarm's). Wrong codes and unknown cards go through an `AttemptLimiter` keyed
by keypad (F8): growing delays and a lockout, during which even a correct code is
refused. An entry counts as one failure when it is refused: a final `#` that
matches nobody, an entry over 12 digits, or an entry abandoned (`*`, timeout) after
its first four digits matched nobody.

Cards disarm while the system is armed (an enabled card, bcrypt-checked against
`card.code`). `RegisterCard(user_id)` opens a window of `registration_window`
seconds: the next card read is stored for that user through `storage` and
`UiEvent("card_registered", True)` is published; an already known card or the end
of the window publishes `False`.

Arm and disarm go to `alarm` as asks whose futures call back into this actor
(never a blocking wait). Exit and entry beeps follow the alarm's
`system_state_change` events: one beep a second, two in the last five seconds,
three when the delay ends. The armed flag comes from the areas in the database at
start and from `arm_state_change` events afterwards.

A DSC keypad is driven through `arpi.drivers.dsc.DscPanel` (beeps as keybus beep
messages). It shows the open zones (zone = sensor channel + 1; a line is open when
it is not `idle`), the ready light (at least one area disarmed and no open zone in a
disarmed area), the armed light (the armed flag) and the memory light (an alert or
sabotage was seen; cleared when the system is next armed). Source: the alarm's own
`AlarmStatus` (`sensor_states`, `areas`, `monitoring_state`), asked for without
blocking when the device opens and after every `sensors_state_change`,
`system_state_change`, `arm_state_change` and `area_state_change` event (the UI
events say only *that* something changed; the alarm publishes
`sensors_state_change` on every line that turns active or idle). One ask is in
flight at a time; events meanwhile cause one more. Sensor channels and areas are
read from the database at open and on `ConfigChanged("sensors"|"areas")`.
"""

from __future__ import annotations

import concurrent.futures
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import bcrypt
import psycopg2
import pykka
from pypika import functions as fn

from arpi.actors import Actor, ActorUnavailable
from arpi.alarm.durable import DurableState, DurableStateError
from arpi.alarm.messages import AlarmStatus, Arm, Disarm, GetAlarmStatus
from arpi.bus import ConfigChanged, UiEvent
from arpi.db import sql
from arpi.db.storage import submit
from arpi.db.tables import (
    area,
    card,
    entry_delay,
    keypad,
    keypad_type,
    runtime_state,
    sensor,
)
from arpi.db.tables import user as user_table
from arpi.drivers.dsc import LIGHTS, DscPanel
from arpi.drivers.wiegand import CardRead, KeyPressed
from arpi.http.limiter import AttemptLimiter, LimiterEvent, security_warning

__all__ = [
    "GetKeypadStatus",
    "KeypadActor",
    "KeypadStatus",
    "RegisterCard",
]

MIN_CODE, MAX_CODE = 4, 12
BEEP_ON = 0.1  # seconds a beep sounds, and the pause after it

ArmMode = Literal["arm_away", "arm_stay"]
ALERT_STATES = ("monitoring_alert", "monitoring_sabotage")
PANEL_EVENTS = ("sensors_state_change", "area_state_change")


# -- messages -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterCard:
    """Open the card-registration window for `user_id` (tell)."""

    user_id: int


@dataclass(frozen=True, slots=True)
class GetKeypadStatus:
    """Ask for a `KeypadStatus`."""


@dataclass(frozen=True, slots=True)
class KeypadStatus:
    kind: str | None  # "WIEGAND", "DSC" or None (no keypad)
    keypad_id: int | None
    armed: bool
    registering: bool
    locked: bool


@dataclass(frozen=True, slots=True)
class _Poll:
    pass


@dataclass(frozen=True, slots=True)
class _Reload:
    pass


@dataclass(frozen=True, slots=True)
class _SensorsChanged:
    pass


@dataclass(frozen=True, slots=True)
class _PanelStatus:
    future: Any


@dataclass(frozen=True, slots=True)
class _AlarmEvent:
    name: str
    payload: Any


class _DoneFuture:
    """A finished concurrent future seen through pykka's `get(timeout)`."""

    def __init__(self, future: concurrent.futures.Future) -> None:
        self._future = future

    def get(self, timeout: float | None = None) -> Any:
        return self._future.result(timeout=timeout)


@dataclass(frozen=True, slots=True)
class _AlarmReplied:
    action: str
    future: Any


@dataclass(frozen=True, slots=True)
class _Beeper:
    token: int
    sounding: bool


@dataclass(frozen=True, slots=True)
class _Countdown:
    token: int


@dataclass(frozen=True, slots=True)
class _RegistrationExpired:
    token: int


@dataclass(frozen=True, slots=True)
class _CardStored:
    token: int
    future: Any


# -- the alarm's messages -------------------------------------------------------------


def _alarm_message(action: str, user_id: int | None, keypad_id: int | None) -> object:
    """The `Arm` / `Disarm` for `alarm`; keypad arming always uses the exit delay."""
    if action == "disarm":
        return Disarm(user_id=user_id, keypad_id=keypad_id)
    return Arm(mode=action, user_id=user_id, keypad_id=keypad_id, use_delay=True)


# -- the actor ------------------------------------------------------------------------


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached for a read (the keypad refuses and stays up)."""


class KeypadActor(Actor):
    """See the module docstring. Runs under `hardware` as `keypad`.

    Options: `poll_interval` (0.05 s), `key_timeout` (10 s), `registration_window`
    (60 s), `limiter` (an AttemptLimiter; default one of its own), `bcrypt_rounds`
    (12, for new card hashes), `alarm`, `storage` (actor names).
    """

    def setup(self) -> None:
        opts = self.options
        self._device: Any = None
        self._kind: str | None = None
        self._keypad_id: int | None = None
        self._conn: Any = None
        self._subscribed = False
        self._poll_timer: Any = None
        self._beeper_timers: list[Any] = []
        self._countdown_timer: Any = None
        self._registration_timer: Any = None
        self._interval = float(opts.get("poll_interval", 0.05))  # type: ignore[arg-type]
        self._key_timeout = float(opts.get("key_timeout", 10.0))  # type: ignore[arg-type]
        self._window = float(opts.get("registration_window", 60.0))  # type: ignore[arg-type]
        self._rounds = int(opts.get("bcrypt_rounds", 12))  # type: ignore[call-overload]
        self._alarm_name = str(opts.get("alarm", "alarm"))
        self._storage = self.address(str(opts.get("storage", "storage")))
        limiter = opts.get("limiter")
        self._limiter: AttemptLimiter = (
            limiter  # type: ignore[assignment]
            if limiter is not None
            else AttemptLimiter(
                self.ctx.clock, on_event=self._limiter_event, name="keypad"
            )
        )
        self._arm_needs_code = bool(
            getattr(self.ctx.settings, "keypad_arm_needs_code", True)
        )

        # The entry being typed.
        self._digits = ""
        self._probe_failed = False
        self._function_key = False
        # True right after a 4-digit code was taken at its 4th digit: the `#`
        # a user types out of habit then ends that code, it starts nothing new.
        self._after_code = False
        self._pending_arm: ArmMode | None = None
        self._last_key = 0.0
        # Feedback.
        self._beep_token = 0
        # What a DSC keypad shows (see the module docstring).
        self._sensor_zones: dict[int, tuple[int, int]] = {}  # id -> (zone, area)
        self._ready: bool | None = None  # None until the alarm's first status
        self._memory = False
        self._status_pending = False
        self._status_stale = False
        self._error_until = 0.0
        self._delay_state: str | None = None
        self._delay_deadline: float | None = None
        self._countdown_token = 0
        # Card registration: (user id, token).
        self._registration: tuple[int, int] | None = None
        self._registration_token = 0
        self._card_token = 0

        if self.ctx.drivers is None:
            raise RuntimeError("no hardware drivers configured")
        if self.ctx.db is None:
            raise RuntimeError("no database configured")
        self._conn = self.ctx.db.connect(application_name=f"arpi-{self.name}")
        self._conn.autocommit = True
        self._armed = self._query(_any_area_armed)
        self.ctx.bus.subscribe(ConfigChanged, self._on_config_changed)
        self.ctx.bus.subscribe(UiEvent, self._on_ui_event)
        self._subscribed = True
        self._open_device()
        self._next = self.ctx.clock.monotonic()
        self._poll()

    def handle(self, message: object) -> object:
        if isinstance(message, _Poll):
            self._poll()
        elif isinstance(message, _AlarmEvent):
            self._alarm_event(message.name, message.payload)
        elif isinstance(message, _AlarmReplied):
            self._alarm_replied(message.action, message.future)
        elif isinstance(message, _Beeper):
            if message.token == self._beep_token:
                self._set_beeper(message.sounding)
        elif isinstance(message, _Countdown):
            self._countdown(message.token)
        elif isinstance(message, RegisterCard):
            self._open_registration(message.user_id)
        elif isinstance(message, _RegistrationExpired):
            self._registration_expired(message.token)
        elif isinstance(message, _CardStored):
            self._card_stored(message)
        elif isinstance(message, _Reload):
            self._close_device()
            self._open_device()
        elif isinstance(message, _PanelStatus):
            self._panel_status(message.future)
        elif isinstance(message, _SensorsChanged):
            if self._kind == "DSC":
                self._load_sensor_zones()
                self._request_status()
        elif isinstance(message, GetKeypadStatus):
            locked = (
                self._keypad_id is not None
                and not self._limiter.check(self._limit_key()).allowed
            )
            return KeypadStatus(
                self._kind,
                self._keypad_id,
                self._armed,
                self._registration is not None,
                locked,
            )
        else:
            return super().handle(message)
        return None

    def release(self) -> None:
        if self._subscribed:
            self.ctx.bus.unsubscribe(ConfigChanged, self._on_config_changed)
            self.ctx.bus.unsubscribe(UiEvent, self._on_ui_event)
        for timer in (
            self._poll_timer,
            self._countdown_timer,
            self._registration_timer,
            *self._beeper_timers,
        ):
            if timer is not None:
                timer.cancel()
        if self._registration is not None:
            self._registration = None
            self.ctx.bus.publish(UiEvent("card_registered", False))
        self._close_device()
        if self._conn is not None:
            try:
                self._conn.close()
            # release must not raise; any driver error is logged
            except Exception as exc:
                self.log.warning("keypad_db_close_failed", error=str(exc))

    # -- bus callbacks (publisher's thread: only queue) ------------------------------

    def _on_config_changed(self, event: ConfigChanged) -> None:
        if "keypads" in event.kinds:
            self.actor_ref.tell(_Reload())
        elif event.kinds & {"sensors", "areas"}:
            self.actor_ref.tell(_SensorsChanged())

    def _on_ui_event(self, event: UiEvent) -> None:
        if event.name in ("system_state_change", "arm_state_change", *PANEL_EVENTS):
            self.actor_ref.tell(_AlarmEvent(event.name, event.payload))

    def _limiter_event(self, event: LimiterEvent) -> None:
        self.ctx.bus.publish(security_warning(event))

    # -- database ---------------------------------------------------------------------

    def _query(self, fn: Any) -> Any:
        """Run a read on this actor's connection, reconnecting once if it broke.

        Raises `DatabaseUnavailable` when PostgreSQL cannot be reached (the
        connection is dropped; the next call connects again). Blocks up to the
        connect timeout.
        """
        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self.ctx.db.connect(
                        application_name=f"arpi-{self.name}"
                    )
                    self._conn.autocommit = True
                with self._conn.cursor() as cur:
                    return fn(cur)
            except psycopg2.Error as exc:
                lost = isinstance(
                    exc, psycopg2.OperationalError | psycopg2.InterfaceError
                ) or (self._conn is None or self._conn.closed)
                if not lost:
                    raise
                self._drop_connection()
                if attempt == 2:
                    raise DatabaseUnavailable(type(exc).__name__) from exc
                self.log.warning("keypad_db_reconnect", error=type(exc).__name__)
        return None

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # noqa: BLE001 - a broken connection may fail to close
                self.log.debug("keypad_db_close_failed", error=str(exc))

    def _database_unavailable(self, exc: DatabaseUnavailable) -> None:
        """A code or card could not be checked: refuse it (error beep), stay up."""
        self.log.error(
            "keypad_database_unavailable", keypad_id=self._keypad_id, error=str(exc)
        )
        self._clear_entry()
        self._error("database_unavailable")

    # -- device -------------------------------------------------------------------

    def _open_device(self) -> None:
        row = self._query(_first_keypad)
        if row is None or not row["enabled"]:
            self._kind, self._keypad_id = None, (row["id"] if row else None)
            self.log.info("keypad_disabled", keypad_id=self._keypad_id)
            return
        kind = str(row["type"]).upper()
        if kind == "WIEGAND":
            self._device = self.ctx.drivers.wiegand()
        elif kind == "DSC":
            self._device = DscPanel(self.ctx.drivers.dsc())
        else:
            raise ValueError(f"keypad_type: unknown keypad type {row['type']!r}")
        self._kind, self._keypad_id = kind, row["id"]
        self.log.info("keypad_started", kind=kind, keypad_id=self._keypad_id)
        if kind == "DSC":
            self._load_sensor_zones()
            self._request_status()

    def _close_device(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        try:
            if self._kind == "WIEGAND":
                device.set_beeper(False)
            device.close()
        # release must not raise; any driver error is logged
        except Exception as exc:
            self.log.warning("keypad_close_failed", error=str(exc))

    def _poll(self) -> None:
        now = self.ctx.clock.monotonic()
        self._next += self._interval
        if self._next <= now:
            self._next = now + self._interval
        self._poll_timer = self.tell_self_at(self._next, _Poll())
        if (self._digits or self._pending_arm or self._function_key) and (
            now - self._last_key >= self._key_timeout
        ):
            self._abandon("timeout")
        if self._device is not None:
            if self._kind == "WIEGAND":
                for event in self._device.poll():
                    if isinstance(event, KeyPressed):
                        self._key(event.key)
                    elif isinstance(event, CardRead):
                        self._card(event.number)
            else:
                self._device.lights = self._lights()
                key = self._device.cycle(now, self.ctx.clock.wall().astimezone())
                if key is not None:
                    self._key(key)

    def _lights(self) -> int:
        lights = LIGHTS["backlight"]
        if self._armed:
            lights |= LIGHTS["armed"]
        if (not self._armed) if self._ready is None else self._ready:
            lights |= LIGHTS["ready"]
        if self._memory:
            lights |= LIGHTS["memory"]
        if self.ctx.clock.monotonic() < self._error_until:
            lights |= LIGHTS["error"]
        return lights

    # -- what a DSC keypad shows --------------------------------------------------

    def _load_sensor_zones(self) -> None:
        try:
            rows = self._query(_sensor_channels)
        except DatabaseUnavailable as exc:
            self.log.warning("keypad_zones_unknown", error=str(exc))
            return
        self._sensor_zones = {
            int(r["id"]): (int(r["channel"]) + 1, int(r["area_id"])) for r in rows
        }

    def _request_status(self) -> None:
        """Ask the alarm for its status without waiting; `_PanelStatus` answers."""
        if self._status_pending:
            self._status_stale = True
            return
        ref = self.ctx.directory.lookup(self._alarm_name)
        if ref is None:
            return
        try:
            future = ref.ask(GetAlarmStatus(), block=False)
        except pykka.ActorDeadError:
            return
        callback = getattr(future, "add_done_callback", None)
        if callback is None:
            return
        self._status_pending = True
        me = self.actor_ref
        callback(lambda f: _tell(me, _PanelStatus(f)))

    def _panel_status(self, future: Any) -> None:
        self._status_pending = False
        try:
            status = future.get(timeout=0)
        except Exception as exc:  # noqa: BLE001 - the display is a courtesy
            self.log.warning("keypad_status_failed", error=type(exc).__name__)
            status = None
        if isinstance(status, AlarmStatus) and isinstance(self._device, DscPanel):
            self._show_status(status)
        if self._status_stale:
            self._status_stale = False
            self._request_status()

    def _show_status(self, status: AlarmStatus) -> None:
        areas = {
            a.get("id"): a.get("armState") for a in status.areas if isinstance(a, dict)
        }
        open_zones: set[int] = set()
        disarmed_open = False
        for sensor_id, line in status.sensor_states.items():
            place = self._sensor_zones.get(sensor_id)
            if place is None or line == "idle":
                continue
            open_zones.add(place[0])
            if areas.get(place[1], "disarm") == "disarm":
                disarmed_open = True
        any_disarmed = not areas or "disarm" in areas.values()
        self._ready = any_disarmed and not disarmed_open
        if status.monitoring_state in ALERT_STATES:
            self._memory = True
        self._device.set_zones(open_zones)

    # -- keys ---------------------------------------------------------------------

    def _limit_key(self) -> str:
        return f"keypad:{self._keypad_id}"

    def _key(self, key: str) -> None:
        self._last_key = self.ctx.clock.monotonic()
        after_code, self._after_code = self._after_code, False
        if self._function_key:
            self._function_key = False
            if key in ("1", "2"):
                self._function("arm_away" if key == "1" else "arm_stay")
            else:
                self._error("unknown_function")
            return
        if key in ("away", "stay"):
            self._function("arm_away" if key == "away" else "arm_stay")
        elif key == "*":
            self._abandon("cleared")
        elif key == "#":
            if self._digits:
                self._submit(final=True)
            elif not after_code:
                self._function_key = True
        elif key.isdigit():
            self._digits += key
            if len(self._digits) > MAX_CODE:
                self._refuse_entry("too_long")
            elif len(self._digits) == MIN_CODE:
                self._submit(final=False)
                # Taken (or refused) at once: a following `#` only ends it.
                self._after_code = not self._digits

    def _function(self, mode: ArmMode) -> None:
        if not self._arm_needs_code:
            self._clear_entry()
            self._act(mode, None)
            return
        self._clear_entry()
        self._pending_arm = mode
        self._beep(1)

    def _clear_entry(self) -> None:
        self._digits = ""
        self._probe_failed = False
        self._function_key = False
        self._pending_arm = None

    def _abandon(self, why: str) -> None:
        """Forget the entry; one whose first four digits matched nobody counts as a
        wrong code (otherwise `1234*` would test codes for free)."""
        if self._probe_failed:
            self._refuse_entry(why)
        else:
            self._clear_entry()

    def _refuse_entry(self, why: str) -> None:
        self._clear_entry()
        self._limiter.failure(self._limit_key())
        self.log.warning("keypad_code_wrong", keypad_id=self._keypad_id, reason=why)
        self._error("wrong_code")

    def _submit(self, *, final: bool) -> None:
        if len(self._digits) < MIN_CODE:
            self._refuse_entry("too_short")
            return
        verdict = self._limiter.check(self._limit_key())
        if not verdict.allowed:
            self._clear_entry()
            self._error("locked_out" if verdict.locked else "delayed")
            return
        try:
            user_id = self._match_code(self._digits)
        except DatabaseUnavailable as exc:
            self._database_unavailable(exc)
            return
        if user_id is not None:
            self._limiter.success(self._limit_key())
            action = self._pending_arm or "disarm"
            self._clear_entry()
            self._act(action, user_id)
        elif final:
            self._refuse_entry("no_match")
        else:
            self._probe_failed = True

    def _match_code(self, code: str) -> int | None:
        rows = self._query(_access_codes)
        secret = code.encode()
        for row in rows:
            if _checkpw(secret, row["access_code"]):
                return int(row["id"])
        return None

    def _error(self, why: str) -> None:
        self.log.info("keypad_error_signal", reason=why)
        self._error_until = self.ctx.clock.monotonic() + 3.0
        self._beep(3)

    # -- cards --------------------------------------------------------------------

    def _card(self, number: int) -> None:
        if self._registration is not None:
            self._register_card(number)
            return
        if not self._armed:
            self.log.info("keypad_card_ignored", reason="not_armed")
            return
        verdict = self._limiter.check(self._limit_key())
        if not verdict.allowed:
            self._error("locked_out" if verdict.locked else "delayed")
            return
        secret = str(number).encode()
        try:
            cards = self._query(_enabled_cards)
        except DatabaseUnavailable as exc:
            self._database_unavailable(exc)
            return
        for row in cards:
            if _checkpw(secret, row["code"]):
                self._limiter.success(self._limit_key())
                self.log.info("keypad_card_accepted", card_id=row["id"])
                self._act("disarm", int(row["user_id"]))
                return
        self._limiter.failure(self._limit_key())
        self.log.warning("keypad_card_unknown", keypad_id=self._keypad_id)
        self._error("unknown_card")

    def _open_registration(self, user_id: Any) -> None:
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            self.log.warning("card_registration_invalid", user_id=repr(user_id))
            return
        if self._registration_timer is not None:
            self._registration_timer.cancel()
        self._registration_token += 1
        self._registration = (user_id, self._registration_token)
        self._registration_timer = self.tell_self_later(
            self._window, _RegistrationExpired(self._registration_token)
        )
        self.log.info("card_registration_open", user_id=user_id, window=self._window)

    def _registration_expired(self, token: int) -> None:
        if self._registration is None or self._registration[1] != token:
            return
        self._registration = None
        self._registration_timer = None
        self.log.info("card_registration_expired")
        self.ctx.bus.publish(UiEvent("card_registered", False))

    def _register_card(self, number: int) -> None:
        assert self._registration is not None
        user_id, _ = self._registration
        self._registration = None
        if self._registration_timer is not None:
            self._registration_timer.cancel()
            self._registration_timer = None
        secret = str(number).encode()
        try:
            known = self._query(_all_cards)
        except DatabaseUnavailable as exc:
            self.log.error("keypad_database_unavailable", error=str(exc))
            self.ctx.bus.publish(UiEvent("card_registered", False))
            return
        if any(_checkpw(secret, row["code"]) for row in known):
            self.log.info("card_registration_refused", reason="card_known")
            self.ctx.bus.publish(UiEvent("card_registered", False))
            return
        code = bcrypt.hashpw(secret, bcrypt.gensalt(rounds=self._rounds)).decode()
        local = self.ctx.clock.wall().astimezone()
        description = f"{local:%Y-%m-%d %H:%M} ({random.randint(0, 999):03d})"

        def write(cur: Any) -> int:
            t = card
            query = (
                sql.Q.into(t)
                .columns(t.code, t.user_id, t.enabled, t.description)
                .insert(
                    sql.param("code"),
                    sql.param("user"),
                    sql.param("enabled"),
                    sql.param("description"),
                )
                .returning(t.id)
            )
            params = {
                "code": code,
                "user": user_id,
                "enabled": True,
                "description": description,
            }
            card_id = sql.insert_returning(cur, query, params)["id"]
            u = user_table
            sql.execute(
                cur,
                sql.Q.update(u)
                .set(u.card_registration_expiry, sql.param())
                .where(u.id == sql.param()),
                (None, user_id),
            )
            return int(card_id)

        self._card_token += 1
        token = self._card_token
        try:
            future = submit(self._storage, write, "card_registered")
        except ActorUnavailable:
            self.log.error("card_registration_failed", reason="storage_unavailable")
            self.ctx.bus.publish(UiEvent("card_registered", False))
            return
        ref = self.actor_ref
        future.add_done_callback(lambda f: _tell(ref, _CardStored(token, f)))

    def _card_stored(self, message: _CardStored) -> None:
        error = message.future.exception()
        if error is not None:
            self.log.error("card_registration_failed", error=type(error).__name__)
            self.ctx.bus.publish(UiEvent("card_registered", False))
            return
        self.log.info("card_registered", card_id=message.future.result())
        self.ctx.bus.publish(UiEvent("card_registered", True))

    # -- the alarm ------------------------------------------------------------------

    def _act(self, action: str, user_id: int | None) -> None:
        message = _alarm_message(action, user_id, self._keypad_id)
        ref = self.ctx.directory.lookup(self._alarm_name)
        try:
            if ref is None:
                raise pykka.ActorDeadError(self._alarm_name)
            future = ref.ask(message, block=False)
        except pykka.ActorDeadError:
            self.log.error("keypad_alarm_unavailable", action=action)
            self._error("alarm_unavailable")
            return
        self.log.info("keypad_command_sent", action=action, user_id=user_id)
        callback = getattr(future, "add_done_callback", None)
        if callback is not None:
            me = self.actor_ref
            callback(lambda f: _tell(me, _AlarmReplied(action, f)))

    def _alarm_replied(self, action: str, future: Any) -> None:
        try:
            result = future.get(timeout=0)
        except Exception as exc:  # noqa: BLE001 - whatever the alarm raised
            self.log.error(
                "keypad_command_failed", action=action, error=type(exc).__name__
            )
            self._error("alarm_failed")
            return
        if isinstance(result, concurrent.futures.Future):
            # A change the alarm accepted: it answers again once it is durable.
            me = self.actor_ref
            result.add_done_callback(
                lambda f: _tell(me, _AlarmReplied(action, _DoneFuture(f)))
            )
            return
        ok = getattr(result, "ok", result is not None and result is not False)
        if not ok:
            self.log.warning(
                "keypad_command_refused",
                action=action,
                error=getattr(result, "error", None),
            )
            self._error("refused")
            return
        if action == "disarm":
            self._armed = False
            self._stop_countdown()
            self._beep(1)
        else:
            self._set_armed(True)
            self._beep(2)

    def _set_armed(self, armed: bool) -> None:
        if armed and not self._armed:
            self._memory = False  # a new arming clears the alarm memory light
        self._armed = armed

    def _alarm_event(self, name: str, payload: Any) -> None:
        if self._kind == "DSC":
            self._request_status()
        if name in PANEL_EVENTS:
            return
        if name == "arm_state_change":
            if isinstance(payload, str):
                self._set_armed(payload != "disarm")
                if self._armed:
                    self._ready = None  # not ready until the alarm's status says
            return
        state = payload if isinstance(payload, str) else None
        if state in ALERT_STATES:
            self._memory = True
        if state in ("monitoring_arm_delay", "monitoring_alert_delay"):
            if state != self._delay_state:
                self._start_countdown(state)
            return
        was_delay = self._delay_state
        self._stop_countdown()
        if state == "monitoring_ready":
            self._armed = False
            self._set_beeper(False)
        elif state == "monitoring_armed" and was_delay == "monitoring_arm_delay":
            self._beep(3)  # the exit delay is over
        elif state in ("monitoring_alert", "monitoring_sabotage"):
            self._beep_token += 1
            self._set_beeper(False)

    # -- exit and entry beeps ----------------------------------------------------------

    def _start_countdown(self, state: str) -> None:
        self._stop_countdown()
        self._delay_state = state
        reader = _exit_deadline if state == "monitoring_arm_delay" else _entry_deadline
        try:
            deadline = self._query(reader)
        except Exception as exc:  # noqa: BLE001 - beeps are a courtesy: never fail
            self.log.warning("keypad_delay_unknown", error=type(exc).__name__)
            deadline = None
        now = self.ctx.clock.monotonic()
        if deadline is not None:
            remaining = (deadline - self.ctx.clock.wall()).total_seconds()
            self._delay_deadline = now + max(0.0, remaining)
        else:
            self._delay_deadline = None
        self._countdown_token += 1
        self._countdown_timer = self.tell_self_later(
            1.0, _Countdown(self._countdown_token)
        )

    def _stop_countdown(self) -> None:
        self._delay_state = None
        self._delay_deadline = None
        self._countdown_token += 1
        if self._countdown_timer is not None:
            self._countdown_timer.cancel()
            self._countdown_timer = None

    def _countdown(self, token: int) -> None:
        if token != self._countdown_token or self._delay_state is None:
            return
        now = self.ctx.clock.monotonic()
        if self._delay_deadline is not None:
            # Rounded: a timer that fires a hair late (or float steps of the clock)
            # must not turn "5 s left" into "under 5 s".
            remaining = round(self._delay_deadline - now, 2)
            if remaining <= 0:
                self._stop_countdown()
                self._beep(3)
                return
            self._beep(2 if remaining < 5 else 1)
        else:
            self._beep(1)
        self._countdown_timer = self.tell_self_later(1.0, _Countdown(token))

    def _beep(self, count: int) -> None:
        if self._device is None:
            return
        if self._kind == "DSC":
            self._device.beep(count)
            return
        for timer in self._beeper_timers:
            timer.cancel()
        self._beep_token += 1
        token = self._beep_token
        self._set_beeper(True)
        self._beeper_timers = [self.tell_self_later(BEEP_ON, _Beeper(token, False))]
        for i in range(1, count):
            start = 2 * i * BEEP_ON
            self._beeper_timers.append(
                self.tell_self_later(start, _Beeper(token, True))
            )
            self._beeper_timers.append(
                self.tell_self_later(start + BEEP_ON, _Beeper(token, False))
            )

    def _set_beeper(self, sounding: bool) -> None:
        if self._device is not None and self._kind == "WIEGAND":
            self._device.set_beeper(sounding)


# -- queries --------------------------------------------------------------------------


def _first_keypad(cur: Any) -> dict[str, Any] | None:
    k, kt = keypad, keypad_type
    query = (
        sql.Q.from_(k)
        .join(kt)
        .on(k.type_id == kt.id)
        .select(k.id, k.enabled, kt.name.as_("type"))
        .where(k.deleted == sql.param())
        .orderby(k.id)
        .limit(1)
    )
    return sql.fetch_one(cur, query, (False,))


def _sensor_channels(cur: Any) -> list[dict[str, Any]]:
    """Sensors wired to a channel: id, channel (0-based), area_id."""
    t = sensor
    query = (
        sql.Q.from_(t)
        .select(t.id, t.channel, t.area_id)
        .where(t.deleted == sql.param())
        .where(t.channel >= sql.param())
        .orderby(t.id)
    )
    return sql.fetch_all(cur, query, (False, 0))


def _any_area_armed(cur: Any) -> bool:
    t = area
    query = (
        sql.Q.from_(t)
        .select(t.id)
        .where(t.deleted == sql.param())
        .where(t.arm_state != sql.param())
        .limit(1)
    )
    return sql.fetch_one(cur, query, (False, "DISARM")) is not None


def _access_codes(cur: Any) -> list[dict[str, Any]]:
    u = user_table
    return sql.fetch_all(cur, sql.Q.from_(u).select(u.id, u.access_code).orderby(u.id))


def _enabled_cards(cur: Any) -> list[dict[str, Any]]:
    t = card
    query = (
        sql.Q.from_(t)
        .select(t.id, t.code, t.user_id)
        .where(t.enabled == sql.param())
        .orderby(t.id)
    )
    return sql.fetch_all(cur, query, (True,))


def _all_cards(cur: Any) -> list[dict[str, Any]]:
    t = card
    return sql.fetch_all(cur, sql.Q.from_(t).select(t.id, t.code).orderby(t.id))


def _exit_deadline(cur: Any) -> datetime | None:
    t = runtime_state
    return sql.fetch_value(cur, sql.Q.from_(t).select(t.exit_deadline).limit(1))


def _entry_deadline(cur: Any) -> datetime | None:
    """The latest running entry-delay deadline in the alarm's durable state."""
    t = runtime_state
    raw = sql.fetch_value(cur, sql.Q.from_(t).select(t.alarm_state).limit(1))
    if isinstance(raw, dict):
        try:
            entries = DurableState.from_json(raw).entries
        except DurableStateError:
            entries = ()
        if entries:
            return max(entry.deadline for entry in entries)
    e = entry_delay
    return sql.fetch_value(cur, sql.Q.from_(e).select(fn.Max(e.deadline)))


def _checkpw(secret: bytes, hashed: Any) -> bool:
    """bcrypt check; a malformed or legacy (non-bcrypt) hash never matches."""
    if not isinstance(hashed, str) or not hashed.startswith("$2"):
        return False
    try:
        return bcrypt.checkpw(secret, hashed.encode())
    except ValueError:
        return False


def _tell(ref: Any, message: object) -> None:
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        pass
