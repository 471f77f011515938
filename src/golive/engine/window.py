"""Change windows in a run: refuse to start outside, warn of an overrun, pause at the close.

A run starts only while every window is open and no freeze holds (``execute_new``
refuses otherwise, exit 4, before a run directory exists), unless it is started with
``--break-glass``: then it is journaled loudly and, in a protected env, waits for one
approval by someone other than the initiator. Mid-run, the window is looked at before
every step and every batch or stage; the first time it is closed the run pauses for a
human, whose ``resume`` lets it go on outside the window (once: it does not pause again).
Time comes from ``Services.now`` so unit tests use a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from golive.engine.approvals import await_approval
from golive.engine.controls import Aborted
from golive.exits import ExitCode
from golive.plan import Approval, PlannedStep, RollbackInfo
from golive.windows import Schedule, Status, display_zone, when

if TYPE_CHECKING:
    from golive.engine.runner import Runner

__all__ = ["BREAK_GLASS_STEP", "WindowGuard", "closed_message", "window_check", "window_start"]

BREAK_GLASS_STEP = "break-glass"
BREAK_GLASS_TIMEOUT_S = 3600.0


@dataclass
class WindowGuard:
    """What the runner knows of its windows: the schedule, a break-glass reason, what was said."""

    schedule: Schedule
    break_glass: str | None = None
    protected: bool = False
    closes_at: datetime | None = None
    acknowledged: bool = False  # a human chose to go on outside the window (break-glass, a resume)


def closed_message(schedule: Schedule, status: Status) -> str:
    """The refusal an operator reads: why, and the next allowed time in the window's zone and UTC."""
    nxt = when(status.next_open, display_zone(schedule)) if status.next_open else "none within a year"
    return (
        f"the change window is closed: {status.reason}; next allowed start {nxt}. Nothing was run; "
        "start it then, or run with --break-glass --reason TEXT"
    )


def window_start(runner: Runner, guard: WindowGuard | None) -> None:
    """At the start of a run: break-glass journaled (and approved where protected), overrun warned."""
    if guard is None:
        return
    status = guard.schedule.status(runner.svc.now())
    guard.closes_at = status.closes_at
    if guard.break_glass is not None:
        _break_glass(runner, guard, status)
        return
    if not status.open:  # execute_new refused this already; a schedule that moved since lands here
        raise Aborted(closed_message(guard.schedule, status), rollback=False, exit_code=ExitCode.REFUSED)
    estimate = runner.plan.estimate_s
    if status.closes_at is not None and status.now + timedelta(seconds=estimate) > status.closes_at:
        runner.record(
            "window_overrun",
            estimate_s=estimate,
            closes_at=status.closes_at.isoformat(),
            expected_end=(status.now + timedelta(seconds=estimate)).isoformat(),
        )


def _break_glass(runner: Runner, guard: WindowGuard, status: Status) -> None:
    guard.acknowledged = True
    runner.record(
        "break_glass",
        by=runner.initiator,
        reason=guard.break_glass or "",
        window_open=status.open,
        window=status.reason,
        protected=guard.protected,
    )
    if guard.protected:
        planned = PlannedStep(
            index=-1,
            id=BREAK_GLASS_STEP,
            kind="approval",
            owner=None,
            action={},
            approval=Approval(
                approvers=1, exclude_initiator=True, timeout_s=BREAK_GLASS_TIMEOUT_S, on_timeout="reject"
            ),
            rollback=RollbackInfo(kind="nothing-to-undo"),
            estimate_s=0.0,
        )
        await_approval(runner, planned=planned, message=f"break-glass by {runner.initiator}: {guard.break_glass}")


def window_check(runner: Runner, guard: WindowGuard | None, *, step: str | None) -> None:
    """Before a step, batch or stage starts: past the close, pause once for a human."""
    if guard is None or guard.acknowledged:
        return
    status = guard.schedule.status(runner.svc.now())
    if status.open:
        return
    guard.acknowledged = True
    runner.record(
        "window_closed",
        closed_at=guard.closes_at.isoformat() if guard.closes_at and not status.freeze else None,
        reason=status.reason,
        next_open=status.next_open.isoformat() if status.next_open else None,
        step=step,
    )
    runner.steer.wait_paused(
        f"the change window closed ({status.reason}): resume to go on outside it, abort to roll back", step=step
    )
