"""Environment locks: a dead (or forced) holder's lock released by ``golive unlock``."""

from __future__ import annotations

from typing import Literal

from golive.engine.events.base import Event

__all__ = ["LockReleased"]


class LockReleased(Event):
    """``golive unlock`` released this run's environment lock: its process was dead, or the release was forced."""

    event: Literal["lock_released"] = "lock_released"
    env: str
    scope: Literal["local", "server"]
    by: str
    reason: str
    forced: bool
    holder_alive: bool | None
    holder_pid: int
    holder_machine: str
    holder_since: str
