"""Grey stages, owned by the engine: host batches, canary stages and blue-green switches alike.

Each stage is applied by its kind (``Stage.apply``), then judged here: per-host failures
against ``max_fail``, the step's ``verify`` gate, a bake during which analysis checks keep
measuring, and between stages the controls (pause, promote, abort). One code path, so a
canary stage bakes, promotes and aborts exactly like a host batch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from golive.checks.base import Outcome, Verdict
from golive.drivers.base import ActionResult, HostResult
from golive.engine.controls import Aborted, StepFailed
from golive.engine.window import window_check
from golive.errors import DriverError, TransientError
from golive.kinds.base import Stage, StepUnit

if TYPE_CHECKING:
    from golive.engine.runner import Runner
    from golive.plan import PlannedStep
    from golive.runbook.models import StepBase

__all__ = ["bake", "gate", "run_stages"]


def gate(
    runner: Runner,
    checks: list[Any],
    *,
    planned: PlannedStep,
    hosts: list[str],
    batch: int | None,
    context: dict[str, Any],
    baking: bool = False,
) -> None:
    """Measure ``checks``: PASS goes on, FAIL raises StepFailed, INCONCLUSIVE pauses for a human.

    ``baking``: a round during a bake, whose passes are not journaled as gates (their measurements are).
    """
    if not checks:
        return
    steer, svc = runner.steer, runner.svc

    def on_verdict(v: Verdict) -> None:
        steer.record("check_result", step=planned.id, batch=batch, **v.as_dict())

    outcome = svc.gates(steer.stop_reason, on_verdict).evaluate(
        checks,
        hosts=[svc.host_of(h) for h in hosts],
        host_of=svc.host_of,
        context=context,
        host_patterns=svc.match,
    )
    if outcome.outcome is Outcome.PASS:
        if baking:
            return
        steer.record(
            "gate_passed", step=planned.id, batch=batch, checks=len(checks), measurements=len(outcome.verdicts)
        )
        return
    if steer.abort_reason:
        raise Aborted(steer.abort_reason)
    steer.record("gate_failed", step=planned.id, batch=batch, outcome=outcome.outcome.value, reason=outcome.reason)
    if outcome.outcome is Outcome.FAIL:
        raise StepFailed(planned.id, f"gate failed: {outcome.reason}", batch)
    by = steer.wait_paused(f"gate inconclusive: {outcome.reason}", step=planned.id)
    steer.record("gate_skipped", step=planned.id, batch=batch, by=by, reason=outcome.reason)


def bake(
    runner: Runner,
    step: StepBase,
    planned: PlannedStep,
    *,
    seconds: float,
    hosts: list[str],
    batch: int | None,
    context: dict[str, Any],
) -> None:
    """Wait ``seconds`` while the step's gate keeps measuring, round after round; a promote ends it early.

    A service that dies during the bake fails the stage (and the run rolls back) instead of
    going unnoticed until after the release: every ``verify`` check measures again on the
    stage's healthy hosts, not only the analysis (Prometheus, Kubernetes) checks.
    """
    if seconds <= 0:
        return
    steer = runner.steer
    steer.record("bake_started", step=planned.id, batch=batch, seconds=seconds)
    analysis = list(step.verify)
    end = runner.svc.clock() + seconds
    how = "elapsed"
    while True:
        left = end - runner.svc.clock()
        if left <= 0:
            break
        if analysis:
            gate(runner, analysis, planned=planned, hosts=hosts, batch=batch, context=context, baking=True)
            left = end - runner.svc.clock()
        how = steer.wait(min(left, 1.0) if analysis else left, promotable=True)
        if how == "promoted":
            promoted = steer.take("promote")
            steer.record("bake_promoted", step=planned.id, batch=batch, by=promoted[-1].get("by") if promoted else None)
            break
    steer.record("bake_done", step=planned.id, batch=batch, how=how)


def run_stages(
    runner: Runner,
    step: StepBase,
    planned: PlannedStep,
    stages: Iterable[Stage],
    *,
    context: Callable[..., dict[str, Any]],
) -> None:
    """Apply, judge, gate and bake each stage in turn; the first failure raises StepFailed."""
    for stage in stages:
        runner.steer.check_abort()
        window_check(runner, runner.window, step=planned.id)  # never a new batch past the close unasked
        runner.steer.forget_promote()  # a promote counts for the bake it was sent in, not a later one
        ctx = context(batch={"index": stage.index, "hosts": list(stage.hosts)}) if stage.batch else context()
        run = functools.partial(_one_stage, runner, step, planned, stage, ctx)
        if stage.batch is not None and len(planned.batches) > 1:
            runner.svc.task(f"{planned.id}[batch {stage.index}]", run)
        else:
            run()  # the step's own task run is the stage


def _one_stage(runner: Runner, step: StepBase, planned: PlannedStep, stage: Stage, ctx: dict[str, Any]) -> None:
    steer = runner.steer
    unit = StepUnit(planned.id, stage.batch if len(planned.batches) > 1 else None, tuple(stage.hosts))
    if stage.batch is not None:
        steer.record("batch_started", step=planned.id, batch=stage.index, hosts=stage.hosts, unit_batch=unit.batch)
    else:
        steer.record("stage_started", step=planned.id, stage=stage.index, label=stage.label, detail=stage.detail)
    result = _apply(runner, step, planned, stage)
    if result is not None:
        _judge(runner, planned, stage, unit, result)
    failed = runner.steer.state.failed_hosts(planned.id)
    healthy = [h for h in stage.hosts if h not in failed]
    if stage.gate:
        gate(runner, list(step.verify), planned=planned, hosts=healthy, batch=stage.batch, context=ctx)
    bake(runner, step, planned, seconds=stage.bake, hosts=healthy, batch=stage.batch, context=ctx)
    if stage.batch is not None:
        steer.record(
            "batch_done",
            step=planned.id,
            batch=stage.index,
            hosts=stage.hosts,
            failed_hosts=sorted(failed & set(stage.hosts)),
        )
    else:
        steer.record("stage_done", step=planned.id, stage=stage.index, label=stage.label)


def _apply(runner: Runner, step: StepBase, planned: PlannedStep, stage: Stage) -> ActionResult | None:
    """The stage's change, retried on transient faults within the step's ``retries``."""
    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(step.retries + 1),
        wait=wait_exponential(multiplier=0.5, max=10),
        sleep=runner.svc.sleep,
        reraise=True,
    )
    try:
        return retrying(stage.apply)
    except TransientError as exc:
        if not stage.hosts:  # no host to count it against: the stage failed
            raise StepFailed(planned.id, f"{type(exc).__name__}: {exc}", stage.batch) from exc
        # Nobody answered, so nothing changed: count it like per-host unreachable results.
        return ActionResult(
            results={h: HostResult(h, ok=False, unreachable=True, message=str(exc)) for h in stage.hosts}
        )
    except DriverError as exc:
        raise StepFailed(planned.id, f"{type(exc).__name__}: {exc}", stage.batch) from exc


def _judge(
    runner: Runner,
    planned: PlannedStep,
    stage: Stage,
    unit: StepUnit,
    result: ActionResult,
) -> None:
    steer = runner.steer
    steer.record(
        "action_result",
        step=planned.id,
        batch=stage.batch,
        ok=result.ok,
        unit=unit.name,
        **({"artifacts": result.detail["artifact_dir"]} if result.detail.get("artifact_dir") else {}),
        hosts={
            h: {"ok": r.ok, "changed": r.changed, "unreachable": r.unreachable, "message": r.message}
            for h, r in result.results.items()
        },
    )
    failed = steer.state.failed_hosts(planned.id)  # this stage's and the step's earlier ones
    if len(failed) > planned.max_fail:
        raise StepFailed(
            planned.id, f"{len(failed)} host(s) failed, max_fail {planned.max_fail}: {result.summary()}", stage.batch
        )
    if result.failed_hosts:
        steer.record(
            "hosts_tolerated",
            step=planned.id,
            batch=stage.batch,
            hosts=sorted(result.failed_hosts),
            max_fail=planned.max_fail,
        )
