"""What Ansible and SSH steps share: they change hosts, batch by batch, and undo through a rollback action."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from golive.drivers.base import ActionResult
from golive.kinds.base import Kind, Stage, StepRun, StepUnit
from golive.runbook.models import AnsibleAction, RollbackAction, SshAction, StepBase
from golive.runbook.render import render, render_shell, render_tree

if TYPE_CHECKING:
    from golive.plan import Batch

__all__ = ["BatchedKind", "render_change"]

NO_HOSTS_S = 6.0  # a step planned without an environment: no batches to count


def render_change(
    action: AnsibleAction | SshAction, run: StepRun, *, hosts: list[str], context: dict[str, Any], timeout: float | None
) -> tuple[str, Any]:
    """The driver name and the rendered change of ``action`` on ``hosts``."""
    if isinstance(action, AnsibleAction):
        from golive.drivers.ansible import AnsibleChange

        return "ansible", AnsibleChange(
            playbook=run.root / render(action.playbook, context),
            hosts=hosts,
            extravars=render_tree(action.vars, context),
            forks=action.forks,
            tags=list(action.tags) or None,
            timeout=timeout,
        )
    from golive.drivers.ssh import SshChange

    commands = {h: [render_shell(c, {**context, "host": run.host(h)}) for c in action.commands] for h in hosts}
    return "ssh", SshChange(commands=commands, timeout=action.timeout, max_output=action.max_output)


class BatchedKind(Kind):
    staged: ClassVar[bool] = True
    batched: ClassVar[bool] = True

    def action_of(self, step: StepBase) -> AnsibleAction | SshAction:
        raise NotImplementedError

    def hosts_pattern(self, step: StepBase) -> str | None:
        return self.action_of(step).hosts

    def stage_count(self, step: StepBase) -> int:
        return max(1, len(getattr(step, "batches", None) or [1]))

    def per_batch_s(self, hosts: int) -> float:
        raise NotImplementedError

    def estimate(self, step: StepBase, *, batch_hosts: list[int], verify_s: float, history_s: float | None) -> float:
        per = [(history_s or 0.0) / max(1, len(batch_hosts)) or self.per_batch_s(n) for n in batch_hosts] or [
            NO_HOSTS_S
        ]
        return sum(p + verify_s + step.bake for p in per)

    # -------------------------------------------------------------- run

    def run(self, step: StepBase, run: StepRun) -> None:
        planned = run.planned
        skip = run.batches_done()
        todo = [b for b in planned.batches if b.index > skip]
        apply_batch, close = self.batch_applier(step, run, todo)
        try:
            run.stages(
                Stage(
                    index=b.index,
                    label=f"batch {b.index}",
                    hosts=list(b.hosts),
                    batch=b.index,
                    bake=step.bake,
                    apply=functools.partial(apply_batch, b),
                )
                for b in todo
            )
        finally:
            close()

    def batch_applier(
        self, step: StepBase, run: StepRun, todo: list[Batch]
    ) -> tuple[Callable[[Batch], ActionResult], Callable[[], None]]:
        """How one batch is applied (a process per batch here), and what to close at the step's end."""
        action = self.action_of(step)

        def apply(batch: Batch) -> ActionResult:
            ctx = run.context(batch={"index": batch.index, "hosts": list(batch.hosts)})
            driver, change = render_change(action, run, hosts=list(batch.hosts), context=ctx, timeout=step.timeout)
            result: ActionResult = run.driver(driver).apply(change, save=run.save)
            return result

        return apply, lambda: None

    # -------------------------------------------------------------- undo

    def undo(self, step: StepBase, unit: StepUnit, run: StepRun) -> ActionResult | None:
        rb = step.rollback
        assert isinstance(rb, RollbackAction)
        action = rb.ansible or rb.ssh
        assert action is not None
        context = run.context(batch={"index": unit.batch, "hosts": list(unit.hosts)})
        pattern_hosts = run.match(render(action.hosts, context))
        hosts = [h for h in pattern_hosts if h in unit.hosts] or pattern_hosts
        driver, change = render_change(action, run, hosts=hosts, context=context, timeout=step.timeout)
        result: ActionResult = run.driver(driver).apply(change, save=lambda record: None)
        return result
