"""A run's life: start, resume, end, refusals, controls from other processes, pauses, notices."""

from __future__ import annotations

from typing import Any, Literal

from golive.engine.events.base import Event, InputRef, StepRef

__all__ = [
    "Control",
    "FaultInjected",
    "JournalDamaged",
    "Notified",
    "Paused",
    "RehearsalFinished",
    "RehearsalStarted",
    "ResumeRefused",
    "RunFinished",
    "RunRefused",
    "RunResumed",
    "RunStarted",
    "StaleRunForced",
    "Unpaused",
]


class RunStarted(Event):
    """First entry of a run: what runs, where, for whom, and what a later process needs to rebuild it."""

    event: Literal["run_started"] = "run_started"
    runbook: str
    file: str
    env: str | None
    params: dict[str, Any]
    previous: dict[str, Any]
    digest: str
    initiator: str
    pid: int
    machine: str
    steps: list[StepRef]
    file_abs: str | None = None
    inventory_path: str | None = None
    cli_params: dict[str, Any] | None = None
    # Each input's hash, so that a refused resume (or change) names what differs.
    inputs: list[InputRef] | None = None
    change_id: str | None = None
    # The env's previous run, found dead and unfinished, that --after-crash let this one start after.
    after_crash: str | None = None


class RunResumed(Event):
    """A new process took over a run whose process died."""

    event: Literal["run_resumed"] = "run_resumed"
    by: str
    pid: int
    from_step: str | None
    phase: str | None = None


class RunFinished(Event):
    """Last entry of a run (a late control may still follow it)."""

    event: Literal["run_finished"] = "run_finished"
    status: Literal["succeeded", "rolled_back", "rollback_failed", "aborted", "refused", "interrupted"]
    exit_code: int
    reason: str | None = None


class RunRefused(Event):
    """A run that could not start (its environment or run is locked)."""

    event: Literal["run_refused"] = "run_refused"
    reason: str


class ResumeRefused(Event):
    """``golive resume`` of a dead run whose runbook or inputs changed since it started."""

    event: Literal["resume_refused"] = "resume_refused"
    reason: str
    was: str
    now: str
    changed: list[str] | None = None


class StaleRunForced(Event):
    """``golive resume``/``abort --force-stale`` of a dead run older than its env's newest run."""

    event: Literal["stale_run_forced"] = "stale_run_forced"
    action: Literal["resume", "abort"]
    by: str
    reason: str
    newer_run_id: str
    newer_runbook: str | None
    newer_status: str


class Control(Event):
    """A request to the live runner, appended by another process or taken from the Prefect UI."""

    event: Literal["control"] = "control"
    action: Literal["abort", "pause", "resume", "promote", "approve", "reject"]
    by: str
    reason: str | None = None
    comment: str | None = None
    digest: str | None = None
    step: str | None = None
    source: str | None = None
    signature: str | None = None  # an SSH signature over the run, step, plan digest and decision


class JournalDamaged(Event):
    """The live runner met a line golive did not write; it skips it and goes on."""

    event: Literal["journal_damaged"] = "journal_damaged"
    line: int
    reason: str


class Paused(Event):
    """The run waits for a human: an inconclusive gate, a pause step or a pause request."""

    event: Literal["paused"] = "paused"
    step: str | None
    reason: str
    howto: str


class Unpaused(Event):
    """A resume request ended a pause."""

    event: Literal["unpaused"] = "unpaused"
    step: str | None
    by: str | None


class Notified(Event):
    """A notify step's message, rendered."""

    event: Literal["notified"] = "notified"
    step: str
    message: str
    to: list[str] | None = None  # the env's notification channels it is sent to


class RehearsalStarted(Event):
    """The run is a rehearsal (golive rehearse): these faults will be injected at their points."""

    event: Literal["rehearsal_started"] = "rehearsal_started"
    faults: list[str]


class FaultInjected(Event):
    """A rehearsal's fault fired, at the engine's boundary (a driver or the gate), never in the runbook."""

    event: Literal["fault_injected"] = "fault_injected"
    step: str
    fault: str


class RehearsalFinished(Event):
    """How the rehearsal ended against what it should have (restored; or exit 3 for rollback-fail)."""

    event: Literal["rehearsal_finished"] = "rehearsal_finished"
    expected: bool
    outcome: str
    detect_s: float | None
    restore_s: float | None
    not_restored: list[str]
