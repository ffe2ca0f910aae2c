"""Notifications: subscriptions, texts, the durable outbox, SMTP and call handling.

The `notifier` actor (arpi/actors/notifier.py) delivers what this package queues.
"""

from arpi.notify.outbox import OutboxRow, enqueue_notifications
from arpi.notify.subscriptions import (
    EVENTS,
    TARGETS,
    NotificationConfig,
    load_config,
    parse_config,
)
from arpi.notify.texts import Texts, render

__all__ = [
    "EVENTS",
    "TARGETS",
    "NotificationConfig",
    "OutboxRow",
    "Texts",
    "enqueue_notifications",
    "load_config",
    "parse_config",
    "render",
]
