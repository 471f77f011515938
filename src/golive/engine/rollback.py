"""Rollback, owned by the engine: undo every applied unit, newest first, and stop where it cannot.

Each compensation is its kind's ``undo`` of one unit, retried through tenacity on
transient faults only, bounded in attempts and in time: one layer of retry. A permanent
failure (a playbook that fails, an object that cannot be restored) is not tried again;
the rollback stops there and says what is not restored (exit 3).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay, wait_exponential

from golive.errors import DriverError, PermanentError, TransientError
from golive.kinds import kind_of
from golive.kinds.base import StepUnit
from golive.runbook.models import NoRollback

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from golive.engine.runner import Runner

__all__ = ["COMPENSATION_ATTEMPTS", "COMPENSATION_MAX_S", "rollback"]

COMPENSATION_ATTEMPTS = 3
COMPENSATION_MAX_S = 600.0


def rollback(runner: Runner, reason: str) -> bool:
    """Undo every pending unit, newest first. False when something could not be restored."""
    steer = runner.steer
    units = list(reversed(steer.state.pending_units()))
    if steer.state.rollback_reason is None:
        steer.record("rollback_started", reason=reason, units=[u.name for u in units])
    else:  # a rollback a dead process began: go on with what it had not undone
        steer.record("rollback_resumed", reason=reason, units=[u.name for u in units])
    restored: list[str] = []
    for i, unit in enumerate(units):
        step = runner.runbook.step(unit.step)
        kind = kind_of(step)
        if isinstance(step.rollback, NoRollback):
            steer.record("compensation_skipped", unit=unit.name, why=step.rollback.none)
            continue
        if not unit.hosts and kind.batched:
            # Every host of the batch was unreachable: nothing on them changed, nothing to undo.
            steer.record("compensation_skipped", unit=unit.name, why="no host of this unit was reached")
            continue
        if kind.missing_rollback(step):
            rest = [u.name for u in units[i:]]
            steer.record("compensation_missing", unit=unit.name, step=unit.step)
            steer.record(
                "rollback_failed",
                restored=restored,
                not_restored=rest,
                reason=f"step {unit.step} changed state and has no rollback",
            )
            return False
        steer.record("compensation_started", unit=unit.name, step=unit.step, batch=unit.batch, hosts=list(unit.hosts))
        try:
            runner.svc.task(unit.name, functools.partial(_compensate, runner, unit))
        except Exception as exc:
            rest = [u.name for u in units[i:]]
            steer.record("rollback_failed", restored=restored, not_restored=rest, reason=f"{unit.name}: {exc}")
            return False
        restored.append(unit.name)
        steer.record("compensation_done", unit=unit.name)
    steer.record("rollback_done", restored=restored)
    return True


def _compensate(runner: Runner, unit: StepUnit) -> None:
    """One unit's undo, retried on transient faults only."""
    step = runner.runbook.step(unit.step)

    def failed(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        runner.steer.record("compensation_failed", unit=unit.name, attempt=state.attempt_number, error=str(exc))

    def once() -> None:
        try:
            result = kind_of(step).undo(step, unit, runner.step_run(runner.plan.step(unit.step)))
        except DriverError:
            raise
        except Exception as exc:  # a bug or an unexpected library error: not worth a retry
            raise DriverError(f"{type(exc).__name__}: {exc}") from exc
        if result is not None:
            runner.steer.record(
                "action_result",
                step=unit.step,
                batch=unit.batch,
                rollback=True,
                ok=result.ok,
                hosts={h: {"ok": r.ok, "message": r.message} for h, r in result.results.items()},
            )
            if not result.ok:
                unreached = all(result.results[h].unreachable for h in result.failed_hosts)
                # A host that did not answer may answer the next time; one that refused will refuse again.
                raise (TransientError if unreached else PermanentError)(result.summary())

    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(COMPENSATION_ATTEMPTS) | stop_after_delay(COMPENSATION_MAX_S),
        wait=wait_exponential(multiplier=1, max=5),
        sleep=runner.svc.sleep,
        after=failed,
        reraise=True,
    )
    try:
        retrying(once)
    except DriverError as exc:
        if not isinstance(exc, TransientError):
            failed_once(runner, unit, exc)
        raise


def failed_once(runner: Runner, unit: StepUnit, exc: Exception) -> None:
    """A permanent failure is journaled like a failed attempt (tenacity's ``after`` only sees retries)."""
    runner.steer.record("compensation_failed", unit=unit.name, attempt=1, error=str(exc), permanent=True)
