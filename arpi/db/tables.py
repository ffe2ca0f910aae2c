"""pypika `Table` objects for every table of the schema (sql/migrations/)."""

from __future__ import annotations

from pypika import Table

__all__ = [
    "alert",
    "alert_sensor",
    "area",
    "arm",
    "arm_bypass",
    "arm_sensor",
    "auth_throttle",
    "card",
    "disarm",
    "entry_delay",
    "keypad",
    "keypad_type",
    "notification_outbox",
    "option",
    "output",
    "runtime_state",
    "sensor",
    "sensor_type",
    "user",
    "zone",
]

# The ArPI data model (reference-web-api.md section 1).
sensor_type = Table("sensor_type")
sensor = Table("sensor")
zone = Table("zone")
area = Table("area")
alert = Table("alert")
alert_sensor = Table("alert_sensor")
arm = Table("arm")
disarm = Table("disarm")
arm_sensor = Table("arm_sensor")
user = Table("user")  # quoted by pypika: "user" is a reserved word
card = Table("card")
keypad = Table("keypad")
keypad_type = Table("keypad_type")
output = Table("output")
option = Table("option")

# Durable runtime state.
runtime_state = Table("runtime_state")
entry_delay = Table("entry_delay")
arm_bypass = Table("arm_bypass")
notification_outbox = Table("notification_outbox")
auth_throttle = Table("auth_throttle")
