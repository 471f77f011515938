"""The step machine: carry out a Plan step by step, and undo what was done when it fails.

The runner knows nothing of Prefect, Ansible or SSH: it is handed ``Services`` (the
drivers, the gate runner, a clock and a sleep, and a ``task`` wrapper that turns a
callable into a Prefect task run) so that unit tests drive it with fakes on fake time.
What a step does is its kind's business (golive.kinds); grey stages, gates, bakes and
rollback are the engine's (stages.py, rollback.py). Every decision is journaled before it
takes effect, and the run's state is the journal folded (state.py), nothing kept beside it.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from golive.checks.base import Verdict
from golive.engine.controls import Aborted, Steering, StepFailed
from golive.engine.gates import GateRunner
from golive.engine.journal import Journal
from golive.engine.rollback import rollback
from golive.engine.state import Phase, RunState, StepUnit
from golive.engine.steprun import EngineStepRun
from golive.engine.watch import watch
from golive.engine.window import WindowGuard, window_check, window_start
from golive.exits import ExitCode
from golive.kinds import kind_of
from golive.plan import Plan, PlannedStep, action_summary
from golive.runbook.models import Runbook
from golive.runbook.render import HostRef

__all__ = ["Aborted", "Runner", "Services", "StepFailed", "current_user"]


@dataclass
class Services:
    """Everything the runner reaches outside itself; real ones in engine/services.py."""

    drivers: dict[str, Any]
    gates: Callable[[Callable[[], str | None], Callable[[Verdict], None]], GateRunner]
    host_of: Callable[[str], HostRef]
    match: Callable[[str], list[str]]
    clock: Callable[[], float] = field(default=lambda: __import__("time").monotonic())
    # Wall-clock time for change windows (clock above is monotonic, for durations).
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = field(default=lambda s: __import__("time").sleep(s))
    task: Callable[[str, Callable[[], Any]], Any] = field(default=lambda name, fn: fn())
    ask_rollback: Callable[[], bool] = field(default=lambda: True)
    approvers: Callable[[], list[str] | None] = field(default=lambda: None)
    # Where approvals must be signed: the allowed_signers file to verify them against (None: not required).
    signers: Callable[[], Path | None] = field(default=lambda: None)
    # What an operator's Ctrl-C or a supervisor's SIGTERM arrives as (Prefect adds its own).
    interrupts: tuple[type[BaseException], ...] = (KeyboardInterrupt,)
    # Shows an approval in the Prefect UI (engine/prefect_pause.py); None where there is no UI.
    approval_ui: Callable[[float, Callable[[], float]], Any] = field(default=lambda timeout, clock: None)


def current_user() -> str:
    return os.environ.get("GOLIVE_USER") or getpass.getuser()


class Runner:
    def __init__(
        self,
        *,
        plan: Plan,
        runbook: Runbook,
        journal: Journal,
        services: Services,
        root: Path,
        run_id: str,
        initiator: str | None = None,
        listener: Callable[[dict[str, Any]], None] | None = None,
        window: WindowGuard | None = None,
    ) -> None:
        self.plan = plan
        # Sends journal entries to people (golive.notify); drained when the run's body ends.
        self.notifier: Any = None
        # The runbook's secrets (golive.secrets), for templates as {{ secrets.NAME }}.
        self.secrets: dict[str, str] = {}
        self.window = window
        self.runbook = runbook
        self.svc = services
        self.root = root
        self.run_id = run_id
        self.initiator = initiator or current_user()
        self.steer = Steering(
            journal=journal,
            run_id=run_id,
            clock=services.clock,
            sleep=services.sleep,
            listener=listener or (lambda e: None),
        )
        # Kind-owned resources that outlive one step (an Ansible play started early, plays ending).
        self.resources: dict[str, Any] = {}
        self.ending: list[Any] = []

    # ------------------------------------------------------------ public faces

    @property
    def journal(self) -> Journal:
        return self.steer.journal

    @property
    def state(self) -> RunState:
        return self.steer.state

    @property
    def units(self) -> list[StepUnit]:
        return self.state.pending_units()

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        return self.steer.record(event, **fields)

    def context(self, planned: PlannedStep, **extra: Any) -> dict[str, Any]:
        return {
            "params": self.plan.params,
            "previous": self.plan.previous,
            "env": self.plan.env,
            "run": {"id": self.run_id, "initiator": self.initiator},
            "step": {"id": planned.id},
            "hosts": [self.svc.host_of(h) for h in planned.hosts],
            "secrets": self.secrets,
            **extra,
        }

    def step_run(self, planned: PlannedStep) -> EngineStepRun:
        return EngineStepRun(self, planned)

    # ------------------------------------------------------------ the run

    def start(self, *, meta: dict[str, Any] | None = None) -> int:
        self.record(
            "run_started",
            **(meta or {}),
            runbook=self.plan.runbook,
            file=self.plan.file,
            env=self.plan.env,
            params=self.plan.params,
            previous=self.plan.previous,
            digest=self.plan.digest,
            initiator=self.initiator,
            pid=os.getpid(),
            machine=socket.gethostname(),
            steps=[
                {"id": s.id, "kind": s.kind, "owner": s.owner, "action": action_summary(s), "estimate_s": s.estimate_s}
                for s in self.plan.steps
            ],
            inputs=[i.model_dump() for i in self.plan.inputs],
        )
        return self._run(0, opening=True)

    def resume(self, state: RunState, *, by: str) -> int:
        """Go on from the journal of a dead process: forward where it was going forward, else back."""
        self.steer.skip_to(state)
        if state.phase is Phase.ROLLING_BACK:
            # It was undoing a failed release: going forward would apply that release again.
            self.record("run_resumed", by=by, pid=os.getpid(), from_step=None, phase=state.phase.value)
            return self._finish_rollback(state.rollback_reason or "resumed rollback", ExitCode.FAILED)
        order = [s.id for s in self.plan.steps]
        start = state.first_unfinished_step()
        self.record(
            "run_resumed",
            by=by,
            pid=os.getpid(),
            from_step=order[start] if start < len(order) else None,
            phase=state.phase.value,
        )
        try:
            if start > 0:
                last = self.plan.steps[start - 1]
                self.svc.task(f"reverify:{last.id}", lambda: self.step_run(last).reverify())
        except (StepFailed, Aborted) as exc:
            return self._fail(exc)
        return self._run(start)

    def abort_dead(self, state: RunState, *, by: str, reason: str = "") -> int:
        """Undo what a dead process left applied (golive abort of a run nobody runs)."""
        self.steer.skip_to(state)
        self.record("control", action="abort", by=by, reason=reason)
        ok = rollback(self, f"aborted by {by}")
        code = ExitCode.FAILED if ok else ExitCode.ROLLBACK_FAILED
        self.record(
            "run_finished",
            status="rolled_back" if ok else "rollback_failed",
            exit_code=int(code),
            reason="aborted while no runner was alive",
        )
        return code

    def prewarm(self) -> None:
        """Let the first changing step start what is slow to start (an Ansible play), held."""
        for planned in self.plan.steps:
            step = self.runbook.step(planned.id)
            kind = kind_of(step)
            if kind.batched or step.changes_state:
                kind.prewarm(step, self.step_run(planned))
                return
            if step.kind not in ("check", "notify"):
                return

    def settle(self) -> None:
        """Stop what was started early and never used; wait for plays ending by themselves."""
        while self.resources:
            self.resources.popitem()[1].close()
        while self.ending:
            self.ending.pop().close()
        for driver in self.svc.drivers.values():
            tidy = getattr(driver, "tidy", None)  # what a killed process of this run left behind
            if tidy is not None:
                tidy()

    def _run(self, start: int, *, opening: bool = False) -> int:
        try:
            if opening:
                window_start(self, self.window)
            for planned in self.plan.steps[start:]:
                self.steer.check_abort()
                window_check(self, self.window, step=planned.id)
                self._run_step(planned)
            if self.runbook.watch is not None and self.state.watch_ended is None:
                self.svc.task("watch", lambda: watch(self, self.runbook.watch))  # type: ignore[arg-type]
        except (StepFailed, Aborted) as exc:
            return self._fail(exc)
        except BaseException as exc:
            if isinstance(exc, self.svc.interrupts):
                return self._interrupted()
            raise
        self.record("run_finished", status="succeeded", exit_code=int(ExitCode.OK))
        return ExitCode.OK

    def _run_step(self, planned: PlannedStep) -> None:
        step = self.runbook.step(planned.id)
        self.record("step_started", step=planned.id, index=planned.index, kind=planned.kind)
        self.svc.task(planned.id, lambda: kind_of(step).run(step, self.step_run(planned)))
        self.record("step_done", step=planned.id)

    def _fail(self, exc: StepFailed | Aborted) -> int:
        if isinstance(exc, StepFailed):
            self.record("step_failed", step=exc.step, batch=exc.batch, reason=exc.reason)
            reason = f"{exc.step}: {exc.reason}"
            code = ExitCode.FAILED
        else:
            reason, code = exc.reason, ExitCode(exc.exit_code)
            if not exc.rollback:
                self.record(
                    "run_finished",
                    status="refused" if code == ExitCode.REFUSED else "aborted",
                    exit_code=int(code),
                    reason=reason,
                )
                return code
        return self._finish_rollback(reason, code)

    def _finish_rollback(self, reason: str, code: int) -> int:
        ok = rollback(self, reason)
        if not ok:
            code = ExitCode.ROLLBACK_FAILED
        self.record(
            "run_finished", status="rolled_back" if ok else "rollback_failed", exit_code=int(code), reason=reason
        )
        return code

    def _interrupted(self) -> int:
        try:
            do_rollback = self.svc.ask_rollback()
        except (KeyboardInterrupt, EOFError):
            do_rollback = False
        if do_rollback:
            ok = rollback(self, "interrupted (Ctrl-C or SIGTERM)")
            self.record(
                "run_finished",
                status="rolled_back" if ok else "rollback_failed",
                exit_code=int(ExitCode.INTERRUPTED),
                reason="interrupted",
            )
        else:
            self.record(
                "run_finished",
                status="interrupted",
                exit_code=int(ExitCode.INTERRUPTED),
                reason=f"interrupted; `golive resume {self.run_id}` continues",
            )
        return ExitCode.INTERRUPTED
