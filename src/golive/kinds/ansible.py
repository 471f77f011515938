"""``ansible:`` steps: a playbook on a host pattern, batch by batch, in one ansible-playbook when it can."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from golive.drivers.base import ActionResult
from golive.kinds.base import StepRun
from golive.kinds.batched import BatchedKind, render_change
from golive.runbook.models import AnsibleAction, AnsibleStep, StepBase
from golive.runbook.render import render, render_tree

if TYPE_CHECKING:
    from golive.plan import Batch

__all__ = ["AnsibleKind"]

BATCH_BASE_S = 6.0
PER_HOST_S = 1.0
PREWARMED = "ansible-prewarmed:"


class AnsibleKind(BatchedKind):
    name: ClassVar[str] = "ansible"
    model: ClassVar[type[StepBase]] = AnsibleStep

    def action_of(self, step: StepBase) -> AnsibleAction:
        assert isinstance(step, AnsibleStep)
        return step.ansible

    def action(self, step: StepBase) -> dict[str, Any]:
        return self.action_of(step).model_dump(mode="json", exclude_defaults=True)

    def files(self, step: StepBase) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("ansible", "playbook"), self.action_of(step).playbook), *super().files(step)]

    def per_batch_s(self, hosts: int) -> float:
        return BATCH_BASE_S + PER_HOST_S * hosts

    def prewarm(self, step: StepBase, run: StepRun) -> None:
        """Start the step's play now, held before its first batch: Ansible's start overlaps Prefect's."""
        rolling = self._rolling(step, run, list(run.planned.batches))
        if rolling is not None:
            rolling.prestart()
            run.resources[PREWARMED + run.step_id] = rolling

    def batch_applier(
        self, step: StepBase, run: StepRun, todo: list[Batch]
    ) -> tuple[Callable[[Batch], ActionResult], Callable[[], None]]:
        rolling = run.resources.pop(PREWARMED + run.step_id, None) or self._rolling(step, run, todo)
        if rolling is None:
            return super().batch_applier(step, run, todo)

        def apply(batch: Batch) -> ActionResult:
            result: ActionResult = rolling.run_batch(batch.index, timeout=step.timeout)
            return result

        def close() -> None:
            if rolling.ending():
                run.ending(rolling)  # no batch left: the run goes on while Ansible ends
            else:
                rolling.close()  # a failed batch stops the play at its gate, before rollback starts

        return apply, close

    def _rolling(self, step: StepBase, run: StepRun, todo: list[Batch]) -> Any:
        """One Ansible process for the step's batches, when the action is the same for every batch."""
        rolling_playbook = getattr(run.driver("ansible"), "rolling", None)
        if rolling_playbook is None or len(todo) < 2:
            return None
        action = self.action_of(step)
        renders = [
            (render(action.playbook, ctx), render_tree(action.vars, ctx))
            for ctx in (run.context(batch={"index": b.index, "hosts": list(b.hosts)}) for b in todo[:2])
        ]
        if renders[0] != renders[1]:
            session, why = None, "its playbook or vars differ per batch"
        else:
            ctx = run.context(batch={"index": todo[0].index, "hosts": list(todo[0].hosts)})
            _, change = render_change(
                action, run, hosts=[h for b in todo for h in b.hosts], context=ctx, timeout=step.timeout
            )
            session, why = rolling_playbook(change, batches=[(b.index, list(b.hosts)) for b in todo], match=run.match)
        import structlog  # ~0.1 s to import: validate and plan need none of it

        structlog.get_logger(__name__).info(
            "ansible_batches", step=run.step_id, one_process=session is not None, why_not=why or None
        )
        return session
