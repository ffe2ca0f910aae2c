"""The `gsm` actor: sole owner of the GSM modem (F15); SMS, calls, stored SMS.

Every request is a message with a reply value (never an exception, so a modem
failure never ends the incarnation): `SendSms` -> `SmsReport`, `PlaceCall` ->
`CallReport`, `ListSms` -> `SmsListing`, `DeleteSms` -> `SmsDeleteReport`. Each
driver wait is bounded (arpi.drivers.gsm), so a reply always comes. A health check
runs every `health_interval` seconds of `ctx.clock`: a silent modem is reset, and
`gsm_modem_silent` is logged and published to the UI (`UiEvent("gsm_state",
{"ok": false, ...})`); `gsm_state` with `ok: true` follows when it answers again.
A successful check also reads the network registration (AT+CREG?) and the signal
quality (AT+CSQ).

`GetModemStatus()` -> `ModemStatus`: what the actor last observed (the health
check, the start, or a failed request), answered from memory without touching the
serial port, so it is as quick as a `Ping` whenever the actor is idle.

Options: `modem_factory` (a callable returning an `arpi.drivers.gsm.GsmModem`; by
default `ctx.drivers.modem()`, with the PIN of the `notifications/gsm` option when
one is stored), `health_interval` (60 s).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from arpi.actors import Actor
from arpi.bus import UiEvent
from arpi.db import sql
from arpi.db.tables import option
from arpi.drivers.gsm import (
    PORT_ERRORS,
    GsmModem,
    ModemError,
    ModemTimeout,
    mask_number,
)

# How many idempotency keys of sent SMS an incarnation remembers.
SENT_KEYS_KEPT = 512

__all__ = [
    "CallReport",
    "DeleteSms",
    "GetModemStatus",
    "GsmActor",
    "ListSms",
    "ModemStatus",
    "PlaceCall",
    "SendSms",
    "SmsDeleteReport",
    "SmsListing",
    "SmsReport",
]


@dataclass(frozen=True, slots=True)
class SendSms:
    """Send `text` (any characters, any length) to `number`.

    `key` makes the send idempotent: a request whose key this incarnation already
    sent successfully is answered from memory, not sent again (a notifier that
    restarted while its request was still queued here asks twice).
    """

    number: str
    text: str
    key: str | None = None


@dataclass(frozen=True, slots=True)
class SmsReport:
    ok: bool
    parts: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PlaceCall:
    """Call `number`, play `tones` once answered, listen `listen` s for keys.

    Listening ends early when the callee hangs up or types "#".
    """

    number: str
    tones: str
    listen: float = 20.0


@dataclass(frozen=True, slots=True)
class CallReport:
    """`answered` with the callee's `keys`; `ok` False when the modem failed."""

    ok: bool
    answered: bool = False
    outcome: str = ""
    keys: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ListSms:
    """Read the SMS stored on the SIM."""


@dataclass(frozen=True, slots=True)
class SmsListing:
    """`messages`: `{idx, number, time, text}` as reference-web-api 2.10 shows them."""

    ok: bool
    messages: tuple[dict[str, Any], ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteSms:
    index: int


@dataclass(frozen=True, slots=True)
class SmsDeleteReport:
    ok: bool
    error: str | None = None
    missing: bool = False  # no SMS is stored at that index


@dataclass(frozen=True, slots=True)
class GetModemStatus:
    """Ask for a `ModemStatus`. Answered from memory: never touches the port."""


@dataclass(frozen=True, slots=True)
class ModemStatus:
    """What the `gsm` actor last observed of its modem.

    `state`: `ok` (answered), `silent` (no answer in time), `absent` (the port
    cannot be opened or is gone) or `error` (answered with an error, e.g. SIM not
    ready); `error` is the driver's text (no phone numbers or PIN) when not ok;
    `checked_at` is the wall time of that observation. `registration` (an
    `arpi.drivers.gsm.Registration` value, e.g. "home", "searching") and `signal`
    (RSSI 0..31, None when unknown) come from the last successful health check, at
    `registered_at`; all three are None before the first one.
    """

    state: str
    error: str | None = None
    checked_at: datetime | None = None
    registration: str | None = None
    signal: int | None = None
    registered_at: datetime | None = None

    @property
    def registered(self) -> bool | None:
        """True on the home network or roaming; None when not known yet."""
        if self.registration is None:
            return None
        return self.registration in ("home", "roaming")


def _state_of(exc: Exception) -> str:
    """`silent`, `absent` or `error` for a modem failure."""
    if isinstance(exc, ModemTimeout):
        return "silent"
    if isinstance(exc.__cause__, (*PORT_ERRORS, ValueError)):
        return "absent"  # the driver wraps a port that cannot be opened or is gone
    return "error"


@dataclass(frozen=True, slots=True)
class _HealthCheck:
    pass


def _default_factory(actor: GsmActor) -> Callable[[], GsmModem]:
    """The modem of `ctx.drivers` (real port or the simulator's fake modem)."""

    def build() -> GsmModem:
        pin = actor._pin()
        options = {"pin": pin} if pin is not None else {}
        return actor.ctx.drivers.modem(**options)

    return build


class GsmActor(Actor):
    """See the module docstring. Runs under the `hardware` supervisor as `gsm`."""

    def setup(self) -> None:
        factory = self.options.get("modem_factory")
        self._factory: Callable[[], GsmModem] = (
            factory if callable(factory) else _default_factory(self)  # type: ignore[assignment]
        )
        self._interval = float(self.options.get("health_interval", 60.0))  # type: ignore[arg-type]
        self._modem: GsmModem | None = None
        self._sent_keys: OrderedDict[str, SmsReport] = OrderedDict()
        self._healthy = True
        self._timer = None
        self._status = ModemStatus("ok")
        self._start_modem()
        self._timer = self.tell_self_later(self._interval, _HealthCheck())

    def release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._modem is not None:
            self._modem.close()

    def handle(self, message: object) -> object:
        if isinstance(message, SendSms):
            return self._send_sms(message)
        if isinstance(message, PlaceCall):
            return self._call(message)
        if isinstance(message, ListSms):
            return self._list()
        if isinstance(message, DeleteSms):
            return self._delete(message)
        if isinstance(message, GetModemStatus):
            return self._status
        if isinstance(message, _HealthCheck):
            self._health()
            self._timer = self.tell_self_later(self._interval, _HealthCheck())
            return None
        return super().handle(message)

    # -- modem ------------------------------------------------------------------

    def _pin(self) -> str | None:
        db = self.ctx.db
        if db is None:
            return None
        try:
            conn = db.connect(application_name="arpi-gsm")
            try:
                with conn.cursor() as cur:
                    query = (
                        sql.Q.from_(option)
                        .select(option.value)
                        .where(option.name == sql.param())
                        .where(option.section == sql.param())
                    )
                    value = sql.fetch_value(cur, query, ("notifications", "gsm"))
            finally:
                conn.close()
        # the PIN is optional; any read failure means none
        except Exception as exc:
            self.log.warning("gsm_pin_unreadable", error=type(exc).__name__)
            return None
        pin = value.get("pin_code") if isinstance(value, dict) else None
        return pin if isinstance(pin, str) and pin.isdigit() else None

    def _start_modem(self) -> bool:
        try:
            if self._modem is None:
                self._modem = self._factory()
            self._modem.start()
        except (ModemError, ValueError) as exc:
            self._observed(exc)
            self._report(False, str(exc))
            return False
        self._observed(None)
        self._report(True, None)
        return True

    def _ready(self) -> GsmModem | None:
        if self._modem is not None and self._healthy:
            return self._modem
        return self._modem if self._start_modem() else None

    def _report(self, ok: bool, error: str | None) -> None:
        if ok and self._healthy:
            return
        if ok:
            self.log.info("gsm_modem_ready")
        else:
            self.log.error("gsm_modem_silent", error=error)
        self._healthy = ok
        self.ctx.bus.publish(
            UiEvent("gsm_state", {"ok": ok, "error": error}, admin_only=True)
        )

    def _observed(self, exc: Exception | None) -> None:
        """Record the outcome of a start, a health check or a failed request."""
        now = self.ctx.clock.wall()
        if exc is None:
            state, error = "ok", None
        else:
            state, error = _state_of(exc), str(exc) or type(exc).__name__
        self._status = ModemStatus(
            state,
            error,
            now,
            self._status.registration,
            self._status.signal,
            self._status.registered_at,
        )

    def _health(self) -> None:
        if self._modem is None or not self._healthy:
            if self._start_modem():
                self._read_network()
            return
        try:
            self._modem.health_check()
        except ModemError as exc:
            self.log.warning("gsm_health_check_failed", error=str(exc))
            if self._start_modem():  # a reset: close, reopen, initialise
                self._read_network()
            return
        self._observed(None)
        self._read_network()

    def _read_network(self) -> None:
        """Registration and signal quality after a successful check (a few AT
        commands, each bounded by the driver's command timeout)."""
        modem = self._modem
        if modem is None:
            return
        try:
            registration = modem.registration().value
            signal = modem.signal_quality()
        except (ModemError, ValueError) as exc:
            self.log.warning("gsm_network_unreadable", error=str(exc))
            if isinstance(exc, ModemTimeout):
                self._observed(exc)
                self._report(False, str(exc))
            return
        status = self._status
        self._status = ModemStatus(
            status.state,
            status.error,
            status.checked_at,
            registration,
            signal,
            self.ctx.clock.wall(),
        )

    def _failed(self, exc: Exception) -> str:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, ModemError):
            self._observed(exc)
            self._report(False, text)
        return text

    # -- requests ---------------------------------------------------------------

    def _send_sms(self, message: SendSms) -> SmsReport:
        if message.key is not None and message.key in self._sent_keys:
            return self._sent_keys[message.key]
        report = self._send_sms_now(message)
        if report.ok and message.key is not None:
            self._sent_keys[message.key] = report
            while len(self._sent_keys) > SENT_KEYS_KEPT:
                self._sent_keys.popitem(last=False)
        return report

    def _send_sms_now(self, message: SendSms) -> SmsReport:
        modem = self._ready()
        if modem is None:
            return SmsReport(False, error="modem not available")
        try:
            parts = modem.send_sms(message.number, message.text)
        except (ModemError, ValueError) as exc:
            self.log.warning(
                "sms_failed", number=mask_number(message.number), error=str(exc)
            )
            return SmsReport(False, error=self._failed(exc))
        return SmsReport(True, parts)

    def _call(self, message: PlaceCall) -> CallReport:
        modem = self._ready()
        if modem is None:
            return CallReport(False, error="modem not available")
        try:
            result = modem.call(
                message.number,
                message.tones,
                listen=message.listen,
                stop_when=lambda keys: keys.endswith("#"),
            )
        except (ModemError, ValueError) as exc:
            self.log.warning(
                "call_failed", number=mask_number(message.number), error=str(exc)
            )
            return CallReport(False, error=self._failed(exc))
        answered = result.outcome.value == "answered"
        return CallReport(True, answered, result.outcome.value, result.keys)

    def _list(self) -> SmsListing:
        modem = self._ready()
        if modem is None:
            return SmsListing(False, error="modem not available")
        try:
            stored = modem.list_sms()
        except (ModemError, ValueError) as exc:
            return SmsListing(False, error=self._failed(exc))
        messages = tuple(
            {
                "idx": sms.indexes[0],
                "number": sms.number,
                "time": (
                    sms.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    if sms.time is not None
                    else None
                ),
                "text": sms.text,
            }
            for sms in stored
        )
        return SmsListing(True, messages)

    def _delete(self, message: DeleteSms) -> SmsDeleteReport:
        modem = self._ready()
        if modem is None:
            return SmsDeleteReport(False, error="modem not available")
        try:
            stored = {s.indexes[0]: s.indexes for s in modem.list_sms()}
            if message.index not in stored:
                # The modem answered: nothing stored there is not a modem fault.
                return SmsDeleteReport(
                    False, error="no SMS at that index", missing=True
                )
            for index in stored[message.index]:
                modem.delete_sms(index)
        except (ModemError, ValueError) as exc:
            return SmsDeleteReport(False, error=self._failed(exc))
        return SmsDeleteReport(True)
