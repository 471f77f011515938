"""Steps, host batches, gates and bakes as they run."""

from __future__ import annotations

from typing import Any, Literal

from golive.engine.events.base import Event, HostOutcome

__all__ = [
    "ActionResult",
    "BakeDone",
    "BakePromoted",
    "BakeStarted",
    "BatchDone",
    "BatchStarted",
    "CheckResult",
    "GateFailed",
    "GatePassed",
    "GateSkipped",
    "HostsTolerated",
    "ReverifyStarted",
    "StageDone",
    "StageStarted",
    "StepDone",
    "StepFailed",
    "StepStarted",
]

Verdict = Literal["pass", "fail", "inconclusive"]


class StepStarted(Event):
    event: Literal["step_started"] = "step_started"
    step: str
    index: int
    kind: str


class StepDone(Event):
    event: Literal["step_done"] = "step_done"
    step: str


class StepFailed(Event):
    event: Literal["step_failed"] = "step_failed"
    step: str
    batch: int | None
    reason: str


class ReverifyStarted(Event):
    """A resumed run measures the last finished step's checks again before going on."""

    event: Literal["reverify_started"] = "reverify_started"
    step: str
    checks: int


class BatchStarted(Event):
    event: Literal["batch_started"] = "batch_started"
    step: str
    batch: int
    hosts: list[str]
    unit_batch: int | None


class ActionResult(Event):
    """What an Ansible or SSH action did, per host: a batch's action or a rollback action."""

    event: Literal["action_result"] = "action_result"
    step: str
    batch: int | None
    ok: bool
    hosts: dict[str, HostOutcome]
    unit: str | None = None
    artifacts: str | None = None
    rollback: bool | None = None


class HostsTolerated(Event):
    event: Literal["hosts_tolerated"] = "hosts_tolerated"
    step: str
    batch: int
    hosts: list[str]
    max_fail: int


class BatchDone(Event):
    event: Literal["batch_done"] = "batch_done"
    step: str
    batch: int
    hosts: list[str]
    failed_hosts: list[str]


class StageStarted(Event):
    """A grey stage that is not a host batch begins (a canary stage, a blue-green switch)."""

    event: Literal["stage_started"] = "stage_started"
    step: str
    stage: int
    label: str
    detail: dict[str, Any] = {}


class StageDone(Event):
    """The stage was applied, its gate passed and its bake is over."""

    event: Literal["stage_done"] = "stage_done"
    step: str
    stage: int
    label: str


class CheckResult(Event):
    """One measurement of one check on one target (a Verdict)."""

    event: Literal["check_result"] = "check_result"
    step: str
    batch: int | None
    outcome: Verdict
    check: str
    target: str
    observed: str
    limit: str
    host: str | None
    value: float | None
    message: str


class GatePassed(Event):
    event: Literal["gate_passed"] = "gate_passed"
    step: str
    batch: int | None
    checks: int
    measurements: int


class GateFailed(Event):
    event: Literal["gate_failed"] = "gate_failed"
    step: str
    batch: int | None
    outcome: Literal["fail", "inconclusive"]
    reason: str


class GateSkipped(Event):
    event: Literal["gate_skipped"] = "gate_skipped"
    step: str
    batch: int | None
    by: str | None
    reason: str


class BakeStarted(Event):
    event: Literal["bake_started"] = "bake_started"
    step: str
    batch: int | None
    seconds: float


class BakePromoted(Event):
    event: Literal["bake_promoted"] = "bake_promoted"
    step: str
    batch: int | None
    by: str | None


class BakeDone(Event):
    event: Literal["bake_done"] = "bake_done"
    step: str
    batch: int | None
    how: Literal["elapsed", "promoted"]
