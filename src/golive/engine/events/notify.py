"""Notifications: what was sent to whom, and what could not be (never a reason to stop a run)."""

from __future__ import annotations

from typing import Literal

from golive.engine.events.base import Event

__all__ = ["NotificationFailed", "NotificationSent"]


class NotificationSent(Event):
    """A channel took a message."""

    event: Literal["notification_sent"] = "notification_sent"
    channel: str
    notification: str
    attempts: int


class NotificationFailed(Event):
    """A channel did not take a message after its attempts (or it was dropped); the run went on."""

    event: Literal["notification_failed"] = "notification_failed"
    channel: str
    notification: str
    error: str
    attempts: int
