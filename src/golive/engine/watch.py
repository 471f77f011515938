"""The watch after go-live: the runbook's ``watch:`` checks keep measuring once the last step is done.

The run is *watching* for ``for``: each round measures every check as a gate does (its
``count`` and ``interval``), then waits for the next round while honouring controls. A
failing check journals ``watch_alert`` and, with ``on_fail: rollback`` (the default), fails
the run, which rolls every step back in reverse order; with ``on_fail: pause`` it pauses for
a human (``golive resume`` watches on, ``golive abort`` rolls back). ``golive promote`` ends
the watch early and the run succeeds. The end is journaled as wall-clock time, so a resume
after a crash watches for the time left.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from golive.checks.base import Outcome, Verdict
from golive.engine.controls import StepFailed
from golive.engine.state import WATCH_STEP

if TYPE_CHECKING:
    from golive.engine.runner import Runner
    from golive.runbook.models import Watch

__all__ = ["WATCH_STEP", "watch"]

# Between rounds of measurements: short, so a promote or an abort is seen at once.
ROUND_GAP_S = 1.0


def watch(runner: Runner, spec: Watch) -> None:
    """Watch until the time is up or a promote; raise StepFailed when a check fails and on_fail is rollback."""
    steer, svc = runner.steer, runner.svc
    until = _until(runner, spec)
    if until is None:
        end = svc.now() + timedelta(seconds=spec.duration)
        steer.record(
            "watch_started",
            seconds=spec.duration,
            until=end.isoformat(),
            checks=len(spec.checks),
            on_fail=spec.on_fail,
        )
    else:
        end = until
    context: dict[str, Any] = {
        "params": runner.plan.params,
        "previous": runner.plan.previous,
        "env": runner.plan.env,
        "run": {"id": runner.run_id, "initiator": runner.initiator},
        "step": {"id": WATCH_STEP},
        "hosts": [],
    }
    how, by = "elapsed", None
    while True:
        left = (end - svc.now()).total_seconds()
        if left <= 0:
            break
        _round(runner, spec, context)
        left = (end - svc.now()).total_seconds()
        if left <= 0:
            break
        if steer.wait(min(left, ROUND_GAP_S), promotable=True) == "promoted":
            promoted = steer.take("promote")
            how, by = "promoted", promoted[-1].get("by") if promoted else None
            break
    steer.record("watch_ended", how=how, by=by)


def _until(runner: Runner, spec: Watch) -> datetime | None:
    """The end of a watch this run started before (a resume), else None."""
    started = runner.state.watch_until
    return datetime.fromisoformat(started) if started else None


def _round(runner: Runner, spec: Watch, context: dict[str, Any]) -> None:
    steer, svc = runner.steer, runner.svc

    def on_verdict(v: Verdict) -> None:
        steer.record("check_result", step=WATCH_STEP, batch=None, **v.as_dict())

    outcome = svc.gates(steer.stop_reason, on_verdict).evaluate(
        list(spec.checks), hosts=[], host_of=svc.host_of, context=context, host_patterns=svc.match
    )
    steer.check_abort()
    if outcome.outcome is Outcome.PASS:
        return
    action = "pause" if spec.on_fail == "pause" or outcome.outcome is Outcome.INCONCLUSIVE else "rollback"
    steer.record("watch_alert", outcome=outcome.outcome.value, reason=outcome.reason, action=action)
    if action == "rollback":
        raise StepFailed(WATCH_STEP, f"watch after go-live: {outcome.reason}", None)
    steer.wait_paused(f"watch after go-live: {outcome.reason}", step=WATCH_STEP)
