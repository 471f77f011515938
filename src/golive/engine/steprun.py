"""The engine's side of the step-kind contract: what a kind may ask of the engine while its step runs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from golive.drivers.base import UndoRecord
from golive.engine import approvals, stages
from golive.engine.controls import StepFailed
from golive.kinds.base import Stage

if TYPE_CHECKING:
    from golive.engine.runner import Runner
    from golive.plan import PlannedStep

__all__ = ["EngineStepRun"]


class EngineStepRun:
    """One step of one run, as its kind sees it (golive.kinds.base.StepRun)."""

    def __init__(self, runner: Runner, planned: PlannedStep) -> None:
        self.runner = runner
        self.planned = planned

    @property
    def root(self) -> Path:
        return self.runner.root

    @property
    def step_id(self) -> str:
        return self.planned.id

    @property
    def resources(self) -> dict[str, Any]:
        """What a kind keeps beyond one call (a play started early), settled when the run ends."""
        return self.runner.resources

    def ending(self, resource: Any) -> None:
        """A resource that ends by itself (a play past its last batch): waited for before exit."""
        self.runner.ending.append(resource)

    def context(self, **extra: Any) -> dict[str, Any]:
        return self.runner.context(self.planned, **extra)

    def record(self, event: str, **fields: Any) -> None:
        self.runner.record(event, step=self.planned.id, **fields)

    def save(self, record: UndoRecord) -> None:
        self.runner.record("undo_saved", step=self.planned.id, record=record.as_dict())

    def saved(self) -> list[UndoRecord]:
        self.runner.steer.poll()
        return list(self.runner.state.undo_records.get(self.planned.id, []))

    def stages(self, items: Iterable[Stage]) -> None:
        step = self.runner.runbook.step(self.planned.id)
        stages.run_stages(self.runner, step, self.planned, items, context=self.context)

    def gate(self, checks: list[Any], *, hosts: list[str], batch: int | None) -> None:
        stages.gate(self.runner, checks, planned=self.planned, hosts=hosts, batch=batch, context=self.context())

    def wait(self, seconds: float, *, promotable: bool = False) -> str:
        return self.runner.steer.wait(seconds, promotable=promotable)

    def pause(self, reason: str) -> None:
        self.runner.steer.wait_paused(reason, step=self.planned.id)

    def await_approval(self, message: str | None) -> None:
        approvals.await_approval(self.runner, planned=self.planned, message=message)

    def driver(self, name: str) -> Any:
        try:
            return self.runner.svc.drivers[name]
        except KeyError:
            raise self.fail(f"no {name} driver configured for this run") from None

    def match(self, pattern: str) -> list[str]:
        return self.runner.svc.match(pattern)

    def host(self, name: str) -> Any:
        return self.runner.svc.host_of(name)

    def fail(self, reason: str, batch: int | None = None) -> Exception:
        return StepFailed(self.planned.id, reason, batch)

    def batches_done(self) -> int:
        """The last batch a dead process finished (resume goes on after it), else 0."""
        st = self.runner.state.steps.get(self.planned.id)
        return max(st.batches_done, default=0) if st else 0

    def reverify(self) -> None:
        """After a resume: measure the last finished step's gates again before going on."""
        step = self.runner.runbook.step(self.planned.id)
        checks = list(getattr(step, "check", [])) + list(step.verify)
        hosts = [h for h in self.planned.hosts if h not in self.runner.state.failed_hosts(self.planned.id)]
        self.runner.record("reverify_started", step=self.planned.id, checks=len(checks))
        self.gate(checks, hosts=hosts, batch=None)
