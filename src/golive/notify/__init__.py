"""Telling people: the env's channels (golive_notify), messages from journal entries, delivery via Apprise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from golive.notify.channels import EVENTS, Channel, ChannelError, channels_of, notify_issues
from golive.notify.deliver import DeliveryFailed, Notifier, apprise_send, redact
from golive.notify.messages import Message, event_of, render

if TYPE_CHECKING:
    from golive.inventory import Inventory

__all__ = [
    "EVENTS",
    "Channel",
    "ChannelError",
    "DeliveryFailed",
    "Message",
    "Notifier",
    "apprise_send",
    "channels_of",
    "env_channels",
    "event_of",
    "notifier_for",
    "notify_issues",
    "redact",
    "render",
]


def env_channels(inventory: Inventory | None) -> dict[str, Channel]:
    if inventory is None:
        return {}
    base = inventory.path if inventory.path.is_dir() else inventory.path.parent
    return channels_of(inventory.settings, base=Path(base))


def notifier_for(inventory: Inventory | None, *, journal: Callable[..., Any], run: dict[str, Any]) -> Notifier | None:
    """The run's notifier, or None where the env names no channel."""
    channels = env_channels(inventory)
    return Notifier(channels, journal=journal, run=run) if channels else None
