"""Change windows: a run that may outlast its window, a window that closed mid-run, break-glass."""

from __future__ import annotations

from typing import Literal

from golive.engine.events.base import Event

__all__ = ["BreakGlass", "WindowClosed", "WindowOverrun"]


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
