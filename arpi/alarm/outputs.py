"""Output triggers: area, system and button signals with delay, duration and default.

Each output is driven only by its own trigger (DECISIONS F19): an `area` output by
its area being armed (start) or disarmed (stop), a `system` output by the system
becoming armed (start, at the end of the exit delay) or disarmed (stop), a `button`
output by its own press (start) and release (stop). A start waits `delay` seconds,
then drives the output to the opposite of `default_state`; with `duration` above 0 it
returns to the default after that long, with 0 it holds until the stop event, which
releases it at once. A stop also ends a pending delay or a running duration. A new
start of a running output restarts it. Channel 0 (the siren) is never an output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from arpi.alarm.config import SIREN_CHANNEL, Output
from arpi.alarm.effects import (
    CancelTimer,
    Effect,
    Publish,
    RecordOutputState,
    SetOutput,
    SetTimer,
)
from arpi.alarm.states import ArmState, TriggerType

__all__ = ["OutputController", "output_timer_token"]

TOKEN_PREFIX = "output:"


def output_timer_token(output_id: int) -> str:
    """The timer token of one output."""
    return f"{TOKEN_PREFIX}{output_id}"


@dataclass(slots=True)
class _Run:
    activate_at: float
    release_at: float | None  # set once active when the duration is finite
    active: bool = False


class OutputController:
    """Signals of the configured outputs; single-threaded, time passed in.

    Every method returns effects: `SetOutput` for the outputs actor, the
    `output_state_change` / `outputs_state_change` events (F21) with `{id, state}`,
    `RecordOutputState`, and timers named by `output_timer_token`. Disabled outputs
    and outputs without a channel are never driven.
    """

    def __init__(self, outputs: Iterable[Output]) -> None:
        self._outputs: dict[int, Output] = {}
        for output in outputs:
            if output.channel == SIREN_CHANNEL:  # Output already refuses it
                raise ValueError(f"output {output.id} uses the siren channel")
            self._outputs[output.id] = output
        self._runs: dict[int, _Run] = {}

    # -- queries ---------------------------------------------------------------

    def state(self, output_id: int) -> bool:
        """Whether the output's signal is running (the live `output.state`)."""
        return output_id in self._runs

    def next_deadline(self) -> float | None:
        """The earliest pending activation or release, or None."""
        times = [
            r.release_at if r.active else r.activate_at
            for r in self._runs.values()
            if not r.active or r.release_at is not None
        ]
        return min(times, default=None)

    # -- events ----------------------------------------------------------------

    def load(self) -> list[Effect]:
        """Drive every usable output to its default state (after a config load)."""
        effects: list[Effect] = []
        for output in self._outputs.values():
            if output.enabled and output.channel is not None:
                effects.append(SetOutput(output.channel, output.default_state))
                effects.append(RecordOutputState(output.id, False))
        return effects

    def resume(
        self, areas: Mapping[int, ArmState], system_armed: bool, now: float
    ) -> list[Effect]:
        """After a restart: endless outputs whose start condition holds are on again.

        Finite signals are not resumed: their time ran while the process was down.
        """
        effects: list[Effect] = []
        for output in self._usable():
            if output.duration > 0:
                continue
            held = (
                output.trigger_type is TriggerType.AREA
                and areas.get(output.area_id, ArmState.DISARM) is not ArmState.DISARM
            ) or (output.trigger_type is TriggerType.SYSTEM and system_armed)
            if held:
                self._runs[output.id] = _Run(
                    activate_at=now, release_at=None, active=True
                )
                effects.append(SetOutput(output.channel, not output.default_state))
                effects.extend(self._state_effects(output.id, True))
        return effects

    def area_armed(self, area_id: int, now: float) -> list[Effect]:
        """Start the area outputs of `area_id`."""
        return self._start_all(
            (
                o
                for o in self._usable()
                if o.trigger_type is TriggerType.AREA and o.area_id == area_id
            ),
            now,
        )

    def area_disarmed(self, area_id: int, now: float) -> list[Effect]:
        """Stop the area outputs of `area_id`."""
        return self._stop_all(
            o
            for o in self._usable()
            if o.trigger_type is TriggerType.AREA and o.area_id == area_id
        )

    def system_armed(self, now: float) -> list[Effect]:
        """Start every system output."""
        return self._start_all(
            (o for o in self._usable() if o.trigger_type is TriggerType.SYSTEM), now
        )

    def system_disarmed(self, now: float) -> list[Effect]:
        """Stop every system output."""
        return self._stop_all(
            o for o in self._usable() if o.trigger_type is TriggerType.SYSTEM
        )

    def button(self, output_id: int, pressed: bool, now: float) -> list[Effect] | None:
        """Press (start) or release (stop) a button output.

        Returns None when `output_id` is not an enabled button output with a channel.
        """
        output = self._outputs.get(output_id)
        if (
            output is None
            or output.trigger_type is not TriggerType.BUTTON
            or not output.enabled
            or output.channel is None
        ):
            return None
        return self._start(output, now) if pressed else self._stop(output)

    def tick(self, now: float) -> list[Effect]:
        """Activate and release whatever is due at `now`."""
        effects: list[Effect] = []
        for output_id, run in list(self._runs.items()):
            output = self._outputs[output_id]
            if not run.active and now >= run.activate_at:
                effects.extend(self._activate(output, run))
            if run.active and run.release_at is not None and now >= run.release_at:
                effects.extend(self._finish(output))
        return effects

    # -- internals -------------------------------------------------------------

    def _usable(self) -> Iterable[Output]:
        return (
            o for o in self._outputs.values() if o.enabled and o.channel is not None
        )

    def _start_all(self, outputs: Iterable[Output], now: float) -> list[Effect]:
        effects: list[Effect] = []
        for output in list(outputs):
            effects.extend(self._start(output, now))
        return effects

    def _stop_all(self, outputs: Iterable[Output]) -> list[Effect]:
        effects: list[Effect] = []
        for output in list(outputs):
            effects.extend(self._stop(output))
        return effects

    def _start(self, output: Output, now: float) -> list[Effect]:
        effects: list[Effect] = []
        was_running = output.id in self._runs
        if was_running:
            effects.extend(self._stop(output, publish=False))
        run = _Run(activate_at=now + output.delay, release_at=None)
        self._runs[output.id] = run
        if not was_running:
            effects.extend(self._state_effects(output.id, True))
        if output.delay <= 0:
            effects.extend(self._activate(output, run))
        else:
            effects.append(SetTimer(output_timer_token(output.id), run.activate_at))
        return effects

    def _activate(self, output: Output, run: _Run) -> list[Effect]:
        assert output.channel is not None
        run.active = True
        effects: list[Effect] = [SetOutput(output.channel, not output.default_state)]
        if output.duration > 0:
            run.release_at = run.activate_at + output.duration
            effects.append(SetTimer(output_timer_token(output.id), run.release_at))
        return effects

    def _finish(self, output: Output) -> list[Effect]:
        assert output.channel is not None
        del self._runs[output.id]
        return [
            SetOutput(output.channel, output.default_state),
            *self._state_effects(output.id, False),
        ]

    def _stop(self, output: Output, *, publish: bool = True) -> list[Effect]:
        run = self._runs.pop(output.id, None)
        if run is None:
            return []
        assert output.channel is not None
        effects: list[Effect] = [CancelTimer(output_timer_token(output.id))]
        if run.active:
            effects.append(SetOutput(output.channel, output.default_state))
        if publish:
            effects.extend(self._state_effects(output.id, False))
        return effects

    @staticmethod
    def _state_effects(output_id: int, state: bool) -> list[Effect]:
        payload = {"id": output_id, "state": state}
        return [
            RecordOutputState(output_id, state),
            Publish("output_state_change", payload),
            Publish("outputs_state_change", payload),
        ]
