"""Line states <-> levels: every simulated level classifies as the state asked for."""

from __future__ import annotations

import pytest

from arpi.alarm.lines import LineState
from arpi.drivers.wiring import ChannelType, Contact, LineClassifier, Wiring
from arpi.sim.lines import (
    LineStateError,
    channel_wirings,
    classify_channel,
    level_for,
    wiring_of_row,
)

SINGLE = [
    Wiring(ChannelType.NORMAL, contact, eol)
    for contact in (Contact.NC, Contact.NO)
    for eol in (1, 2)
]


@pytest.mark.parametrize("wiring", SINGLE, ids=str)
def test_single_sensor_levels_classify_as_asked(wiring: Wiring) -> None:
    classifier = LineClassifier(wiring)
    assert classifier.classify(level_for(3, wiring, "idle")) is LineState.IDLE
    assert classifier.classify(level_for(3, wiring, "active")) is LineState.ACTIVE
    for fault in ("cut", "short"):
        # A fault level equal to the active level reads ACTIVE (internals.md).
        assert classifier.classify(level_for(3, wiring, fault)) in (
            LineState.ACTIVE,
            LineState[fault.upper()],
        )
    with pytest.raises(LineStateError, match="dual"):
        level_for(3, wiring, "a_active")


@pytest.mark.parametrize("contact", [Contact.NC, Contact.NO])
def test_dual_lines_move_a_and_b_separately(contact: Contact) -> None:
    a = LineClassifier(Wiring(ChannelType.CHANNEL_A, contact))
    b = LineClassifier(Wiring(ChannelType.CHANNEL_B, contact))
    wiring = Wiring(ChannelType.CHANNEL_A, contact)
    expected = {
        "idle": (LineState.IDLE, LineState.IDLE),
        "a_active": (LineState.ACTIVE, LineState.IDLE),
        "b_active": (LineState.IDLE, LineState.ACTIVE),
        "both_active": (LineState.ACTIVE, LineState.ACTIVE),
    }
    for state, (want_a, want_b) in expected.items():
        level = level_for(3, wiring, state)
        assert (a.classify(level), b.classify(level)) == (want_a, want_b), state


def test_basic_lines_use_their_reference_and_board_2_is_binary() -> None:
    basic = Wiring(ChannelType.BASIC, reference=0.42)
    classifier = LineClassifier(basic)
    assert level_for(3, basic, "idle") == 0.42
    assert classifier.classify(level_for(3, basic, "active")) is LineState.ACTIVE
    assert level_for(2, Wiring(ChannelType.BASIC, reference=0.0), "idle") == 0.0
    assert level_for(2, Wiring(ChannelType.BASIC, reference=1.0), "active") == 0.0
    with pytest.raises(LineStateError, match="board 3"):
        level_for(2, basic, "cut")
    with pytest.raises(LineStateError, match="state"):
        level_for(3, basic, "ajar")


def test_rows_group_by_channel_and_views_name_each_sensor() -> None:
    rows = [
        {
            "id": 2,
            "name": "B side",
            "channel": 0,
            "channel_type": "channel_b",
            "sensor_contact_type": "NC",
            "sensor_eol_count": "single",
            "reference_value": None,
        },
        {
            "id": 1,
            "name": "A side",
            "channel": 0,
            "channel_type": "channel_a",
            "sensor_contact_type": "NC",
            "sensor_eol_count": "single",
            "reference_value": None,
        },
        {
            "id": 3,
            "name": "Off",
            "channel": -1,
            "channel_type": "normal",
            "sensor_contact_type": "NO",
            "sensor_eol_count": "single",
            "reference_value": None,
        },
    ]
    wired = channel_wirings(rows)
    assert list(wired) == [0]
    assert wired[0].wiring.channel_type is ChannelType.CHANNEL_A
    assert wired[0].dual
    level = level_for(3, wired[0].wiring, "b_active")
    state, per_sensor = classify_channel(3, wired[0], level)
    assert state == "b_active"
    assert per_sensor == {1: "idle", 2: "active"}
    assert classify_channel(3, None, 0.3)[0] == "fault"
    assert (
        wiring_of_row(
            {
                "channel_type": "normal",
                "sensor_contact_type": "NC",
                "sensor_eol_count": "double",
            }
        ).eol_count
        == 2
    )
