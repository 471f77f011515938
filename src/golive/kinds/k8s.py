"""``k8s:`` steps: a Deployment rolled, released in canary stages or blue-green, a manifest, a Service switch.

The kind turns the step into grey stages the engine applies, gates and bakes; every change
goes through the Kubernetes driver, which saves what undo needs before it changes
anything, so a k8s step undoes itself (the saved specs are put back, what it created is
deleted). How each strategy is staged is in :mod:`golive.kinds.k8s_release`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from golive.drivers.base import ActionResult
from golive.errors import DriverError, Issue
from golive.kinds.base import Kind, StepRun, StepUnit
from golive.runbook.models import BlueGreen, Canary, K8sStep, RollbackAction, StepBase
from golive.runbook.render import render

if TYPE_CHECKING:
    from golive.inventory import Inventory
    from golive.runbook.load import LoadedRunbook

__all__ = ["K8S_STAGE_S", "K8sKind"]

# What one stage (a change and its rollout) is planned to take, before history knows better.
K8S_STAGE_S = 10.0


class K8sKind(Kind):
    staged: ClassVar[bool] = True
    name: ClassVar[str] = "k8s"
    model: ClassVar[type[StepBase]] = K8sStep
    undoes_itself: ClassVar[bool] = True

    # -------------------------------------------------------------- plan

    def action(self, step: StepBase) -> dict[str, Any]:
        assert isinstance(step, K8sStep)
        return step.k8s.model_dump(mode="json", exclude_defaults=False, exclude_none=True)

    def files(self, step: StepBase) -> list[tuple[tuple[str | int, ...], str]]:
        assert isinstance(step, K8sStep)
        own = [(("k8s", "manifest"), step.k8s.manifest)] if step.k8s.manifest else []
        return [*own, *super().files(step)]

    def stage_count(self, step: StepBase) -> int:
        assert isinstance(step, K8sStep)
        strategy = step.k8s.strategy
        if step.k8s.deployment is not None and step.k8s.manifest is None:
            if isinstance(strategy, Canary):
                return len(strategy.canary)
            if isinstance(strategy, BlueGreen):
                return 2
        return 1

    def estimate(self, step: StepBase, *, batch_hosts: list[int], verify_s: float, history_s: float | None) -> float:
        """History, else each canary stage's change, gate and bake (``bake`` applies after every stage),
        plus a blue-green release's bake after its switch."""
        assert isinstance(step, K8sStep)
        strategy = step.k8s.strategy
        stages = len(strategy.canary) if isinstance(strategy, Canary) else 1
        extra = strategy.blue_green.bake if isinstance(strategy, BlueGreen) else 0.0
        return history_s or stages * (K8S_STAGE_S + verify_s + step.bake) + extra

    # -------------------------------------------------------------- validation

    def validate_env(self, loaded: LoadedRunbook, index: int, step: StepBase, inv: Inventory) -> list[Issue]:
        """The cluster the step names exists in the environment (or one is implied)."""
        assert isinstance(step, K8sStep)
        file, ctx, clusters = str(loaded.path), step.k8s.context, inv.clusters
        if not clusters:
            return [
                Issue(
                    file,
                    loaded.step_line(index, "k8s"),
                    f"env {inv.env!r} names no Kubernetes cluster",
                    f"add golive_clusters: to inventory/{inv.env}/group_vars/all.yml",
                )
            ]
        if ctx is not None and ctx not in clusters and "{" not in ctx:
            near = difflib.get_close_matches(ctx, list(clusters), n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            return [
                Issue(
                    file,
                    loaded.step_line(index, "k8s", "context"),
                    f"unknown cluster {ctx!r} in env {inv.env!r}",
                    f"{hint}clusters: {', '.join(clusters)}",
                )
            ]
        if ctx is None and len(clusters) > 1 and "default" not in clusters:
            return [
                Issue(
                    file,
                    loaded.step_line(index, "k8s"),
                    f"env {inv.env!r} has several clusters and the step names none",
                    f"set context: to one of {', '.join(clusters)}",
                )
            ]
        return []

    # -------------------------------------------------------------- run and undo

    def run(self, step: StepBase, run: StepRun) -> None:
        assert isinstance(step, K8sStep)
        from golive.kinds.k8s_release import Release  # the Kubernetes client takes seconds to import

        try:
            release = Release(step, run)
            stages = release.stages()
        except DriverError as exc:
            raise run.fail(str(exc)) from exc
        run.stages(stages)

    def undo(self, step: StepBase, unit: StepUnit, run: StepRun) -> ActionResult | None:
        """Put back what the step saved and delete what it created (or run its own rollback action)."""
        assert isinstance(step, K8sStep)
        rb = step.rollback
        if isinstance(rb, RollbackAction) and (rb.ansible or rb.ssh):
            return _rollback_action(rb, step, run)
        from golive.kinds.k8s_release import rendered_context

        driver = run.driver("k8s")
        result: ActionResult = driver.undo(run.saved(), context=rendered_context(step, run.context()))
        for kind, namespace, name in result.detail.get("restored", []):
            run.record("k8s_restored", kind=kind, namespace=namespace, name=name)
        for kind, namespace, name in result.detail.get("deleted", []):
            run.record("k8s_deleted", kind=kind, namespace=namespace, name=name)
        return result

    # -------------------------------------------------------------- dry run

    def dry_run(self, step: StepBase, context: dict[str, Any], *, root: Path, driver: Any) -> list[str]:
        """The step's first writes sent with dryRun=All; what the server refused (empty: accepted)."""
        assert isinstance(step, K8sStep)
        from golive.kinds.k8s_release import first_changes

        try:
            changes = first_changes(step, context, root=root, driver=driver)
        except DriverError as exc:
            return [str(exc)]
        problems: list[str] = []
        for change in changes:
            result: ActionResult = driver.check(change)
            problems += [r.message for r in result.results.values() if not r.ok]
        return problems


def _rollback_action(rb: RollbackAction, step: K8sStep, run: StepRun) -> ActionResult:
    """A rollback the runbook gives instead (an Ansible play or SSH commands on hosts)."""
    from golive.kinds.batched import render_change

    action = rb.ansible or rb.ssh
    assert action is not None
    context = run.context()
    hosts = run.match(render(action.hosts, context))
    driver, change = render_change(action, run, hosts=hosts, context=context, timeout=step.timeout)
    result: ActionResult = run.driver(driver).apply(change, save=lambda record: None)
    return result
