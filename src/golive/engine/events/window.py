"""Time around a run: its change window (overrun, closed mid-run, break-glass) and the watch after go-live."""

from __future__ import annotations

from typing import Literal

from golive.engine.events.base import Event

__all__ = ["BreakGlass", "WatchAlert", "WatchEnded", "WatchStarted", "WindowClosed", "WindowOverrun"]


class WindowOverrun(Event):
    """At start: the plan's estimate ends after the window closes (a warning; the run goes on)."""

    event: Literal["window_overrun"] = "window_overrun"
    estimate_s: float
    closes_at: str
    expected_end: str


class WindowClosed(Event):
    """The window closed (or a freeze began) mid-run: the run pauses before its next step or stage."""

    event: Literal["window_closed"] = "window_closed"
    closed_at: str | None
    reason: str
    next_open: str | None
    step: str | None


class BreakGlass(Event):
    """The run started with ``--break-glass``: outside its window or in a freeze, on purpose."""

    event: Literal["break_glass"] = "break_glass"
    by: str
    reason: str
    window_open: bool
    window: str
    protected: bool


class WatchStarted(Event):
    """The last step is done; the release is watched (``watch:``) before the run may succeed."""

    event: Literal["watch_started"] = "watch_started"
    seconds: float
    until: str  # wall-clock end (ISO 8601, UTC): a resume watches for the time left
    checks: int
    on_fail: Literal["rollback", "pause"]


class WatchAlert(Event):
    """A check failed (or could not measure) while the release was watched."""

    event: Literal["watch_alert"] = "watch_alert"
    outcome: Literal["fail", "inconclusive"]
    reason: str
    action: Literal["rollback", "pause"]


class WatchEnded(Event):
    """The watch is over and the release stands: its time elapsed, or someone promoted it early."""

    event: Literal["watch_ended"] = "watch_ended"
    how: Literal["elapsed", "promoted"]
    by: str | None = None
