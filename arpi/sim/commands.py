"""The simulator's command language, shared by the console and scenario files.

One command per line, words separated by blanks (see `HELP`). `run_command`
carries out an action and returns a short text; `check_expectation` evaluates an
`expect ...` line and returns (ok, what was seen). Both run on the asyncio loop.
"""

from __future__ import annotations

import math
import re
from typing import Any

from arpi.sim.control import MODEM_MODES, POWER_SOURCES, Simulator, SimulatorError
from arpi.sim.lines import STATES

__all__ = ["HELP", "CommandError", "check_expectation", "run_command", "split_words"]

HELP = """\
open N | close N | cut N | short N   put sensor line N (0..14) active, idle, cut, short
line N STATE                         idle active a_active b_active both_active cut short
level N X                            raw level X (0..1 of VREF) on line N
power network|battery                mains on, or running on battery
keys 1234#                           type on the Wiegand keypad
card NUMBER                          show a card to the reader
gsm ok|slow|silent|error|absent      the fake modem's behaviour
advance SECONDS                      move a manual clock forward (also: +SECONDS)
arm away|stay [AREA_ID] | disarm [AREA_ID]   as the web UI would (no user)
fault ACTOR crash|hang               inject a fault into a running actor
sms | mail | status | help | quit
expect state S | arm A | siren on|off | output N on|off | line N STATE |
       power P | sms COUNT | sms-contains TEXT | mail COUNT | mail-contains TEXT"""

ASK_TIMEOUT = 5.0


_COMMENT = re.compile(r"(?:^|\s)#.*$")


def split_words(line: str) -> list[str]:
    """The words of one line; `#` starts a comment at the start of a word only
    (so `keys 1234#` keeps its `#`)."""
    return _COMMENT.sub("", line).split()


class CommandError(ValueError):
    """A command that cannot be understood or carried out; the text says why."""


def _int(word: str, what: str) -> int:
    try:
        return int(word)
    except ValueError:
        raise CommandError(f"{what} must be a whole number, got {word!r}") from None


def _float(word: str, what: str) -> float:
    try:
        value = float(word)
    except ValueError:
        raise CommandError(f"{what} must be a number, got {word!r}") from None
    if math.isnan(value) or math.isinf(value):
        raise CommandError(f"{what} must be a finite number")
    return value


def _need(words: list[str], count: int, usage: str) -> None:
    if len(words) != count:
        raise CommandError(f"usage: {usage}")


async def run_command(sim: Simulator, words: list[str]) -> str:
    """Carry out one command; returns a one-line result. Raises CommandError."""
    if not words:
        return ""
    verb, args = words[0].lower(), words[1:]
    if verb.startswith("+") and len(verb) > 1:
        verb, args = "advance", [verb[1:], *args]
    try:
        return await _run(sim, verb, args)
    except SimulatorError as exc:
        raise CommandError(str(exc)) from None


async def _run(sim: Simulator, verb: str, args: list[str]) -> str:
    named = {"open": "active", "close": "idle", "cut": "cut", "short": "short"}
    if verb in named:
        _need(args, 1, f"{verb} CHANNEL")
        view = await sim.set_channel_state(_int(args[0], "channel"), named[verb])
        return f"line {view['channel']}: {view['state']} ({view['level']})"
    if verb == "line":
        _need(args, 2, "line CHANNEL STATE")
        if args[1] not in STATES:
            raise CommandError(f"state must be one of {', '.join(STATES)}")
        view = await sim.set_channel_state(_int(args[0], "channel"), args[1])
        return f"line {view['channel']}: {view['state']} ({view['level']})"
    if verb == "level":
        _need(args, 2, "level CHANNEL LEVEL")
        view = await sim.set_channel_level(
            _int(args[0], "channel"), _float(args[1], "level")
        )
        return f"line {view['channel']}: {view['state']} ({view['level']})"
    if verb == "power":
        _need(args, 1, "power network|battery")
        source = {"mains": "network", "on": "network", "off": "battery"}.get(
            args[0], args[0]
        )
        if source not in POWER_SOURCES:
            raise CommandError("power must be network or battery")
        sim.set_power(source)
        return f"power: {source}"
    if verb == "keys":
        _need(args, 1, "keys 1234#")
        sim.press_keys(args[0])
        return f"typed {len(args[0])} keys"
    if verb == "card":
        _need(args, 1, "card NUMBER")
        sim.show_card(args[0])
        return "card shown"
    if verb == "gsm":
        _need(args, 1, "gsm " + "|".join(MODEM_MODES))
        sim.set_gsm_mode(args[0])
        return f"modem: {args[0]}"
    if verb == "advance":
        _need(args, 1, "advance SECONDS")
        await sim.advance(_float(args[0], "seconds"))
        return f"clock: {sim.clock_view()['wall']}"
    if verb == "fault":
        _need(args, 2, "fault ACTOR crash|hang")
        sim.inject_fault(args[0], args[1])
        return f"{args[1]} sent to {args[0]}"
    if verb in ("arm", "disarm"):
        return await _arm(sim, verb, args)
    if verb == "sms":
        messages = sim.gsm_messages()
        lines = [f"{m['number']}: {m['text']}" for m in messages["sms"]]
        lines += [
            f"call {c['number']} answered={c['answered']}" for c in messages["calls"]
        ]
        return "\n".join(lines) or "no SMS or calls"
    if verb == "mail":
        mails = sim.mail_messages()
        return "\n".join(f"{', '.join(m['to'])}: {m['subject']}" for m in mails) or (
            "no mail"
        )
    if verb == "status":
        return sim.status_line()
    if verb == "help":
        return HELP
    raise CommandError(f"unknown command {verb!r} (try help)")


async def _arm(sim: Simulator, verb: str, args: list[str]) -> str:
    from arpi.http.alarm_api import Arm, Disarm, arm_refusal

    area_id: int | None = None
    if verb == "arm":
        if not args or args[0] not in ("away", "stay") or len(args) > 2:
            raise CommandError("usage: arm away|stay [AREA_ID]")
        if len(args) == 2:
            area_id = _int(args[1], "area id")
        message: Any = Arm(
            mode=f"arm_{args[0]}",
            area_id=area_id,
            user_id=None,
            use_delay=False,
            force=False,
        )
    else:
        if len(args) > 1:
            raise CommandError("usage: disarm [AREA_ID]")
        if args:
            area_id = _int(args[0], "area id")
        message = Disarm(area_id=area_id, user_id=None)
    result = await _ask(sim, "alarm", message)
    refusal = arm_refusal(result)
    if refusal is not None:
        raise CommandError(f"{verb} refused: {refusal[0]}")
    return f"{verb}: ok"


async def _ask(sim: Simulator, name: str, message: Any) -> Any:
    from arpi.actors import ActorUnavailable, AskTimeout

    try:
        return await sim.ctx.directory.address(name).ask_async(message, ASK_TIMEOUT)
    except (ActorUnavailable, AskTimeout) as exc:
        raise CommandError(f"{name} is not available: {exc}") from None


async def _alarm_status(sim: Simulator) -> Any:
    from arpi.http.alarm_api import GetAlarmStatus

    return await _ask(sim, "alarm", GetAlarmStatus())


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))


async def check_expectation(sim: Simulator, words: list[str]) -> tuple[bool, str]:
    """Evaluate `expect WHAT VALUE...` (words after `expect`): (holds, what is seen).

    Raises CommandError for an expectation that cannot be understood.
    """
    if len(words) < 2:
        raise CommandError("usage: expect WHAT VALUE")
    what, args = words[0].lower(), words[1:]
    if what == "state":
        status = await _alarm_status(sim)
        seen = _text(getattr(status, "monitoring_state", None))
        return seen == args[0], seen
    if what == "arm":
        status = await _alarm_status(sim)
        seen = _text(getattr(status, "arm_state", None))
        return seen == args[0], seen
    if what == "siren":
        seen = "on" if sim.outputs_view()[0]["on"] else "off"
        return seen == args[0], seen
    if what == "output":
        _need(args, 2, "expect output CHANNEL on|off")
        channel = _int(args[0], "output channel")
        if not 0 <= channel <= 7:
            raise CommandError("output channel must be 0..7")
        seen = "on" if sim.outputs_view()[channel]["on"] else "off"
        return seen == args[1], seen
    if what == "line":
        _need(args, 2, "expect line CHANNEL STATE")
        view = sim.channel_view(_int(args[0], "channel"))
        return view["state"] == args[1], view["state"]
    if what == "power":
        return sim.power == args[0], sim.power
    if what in ("sms", "mail"):
        count = len(sim.gsm_messages()["sms"] if what == "sms" else sim.mail_messages())
        return count == _int(args[0], f"{what} count"), str(count)
    if what in ("sms-contains", "mail-contains"):
        needle = " ".join(args)
        if what == "sms-contains":
            texts = [m["text"] for m in sim.gsm_messages()["sms"]]
        else:
            texts = [f"{m['subject']}\n{m['body']}" for m in sim.mail_messages()]
        found = any(needle in text for text in texts)
        seen = f"{len(texts)} messages" + ("" if found else f" without {needle!r}")
        return found, seen
    raise CommandError(f"unknown expectation {what!r}")
