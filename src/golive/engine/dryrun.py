"""Dry runs: what the Kubernetes API server and Ansible's check mode say about a plan.

``server_dry_run`` sends every k8s step's first write with ``dryRun=All`` (the server runs
admission and validation, stores nothing); ``ansible_check`` runs every ansible step's
playbook with ``--check`` on the step's hosts. Neither writes a journal nor changes state.
Steps are checked one by one against the *current* state, so a step that only works after
an earlier one (a namespace an earlier step creates, a file a playbook writes) is
reported as it would fail now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from golive.errors import DriverError, RunbookError
from golive.runbook.models import AnsibleStep, K8sStep, SshStep
from golive.runbook.render import HostRef, render, render_tree

if TYPE_CHECKING:
    from golive.context import RunContext
    from golive.drivers.k8s import K8sDriver
    from golive.plan import Plan, PlannedStep

__all__ = ["AnsibleCheck", "DryRunProblem", "DryRunReport", "ansible_check", "server_dry_run", "step_context"]

log = structlog.get_logger(__name__)

DRY_RUN_ID = "dry-run"


@dataclass(frozen=True)
class DryRunProblem:
    """One thing the server (or a check-mode playbook) refused, tied to the runbook line."""

    file: str
    line: int | None
    step: str
    message: str

    def render(self) -> str:
        return f"{self.file}:{self.line or 0}: step {self.step}: {self.message}"


@dataclass(frozen=True)
class AnsibleCheck:
    """An ansible step run in check mode: the hosts it would change and the hosts it failed on."""

    step: str
    hosts: list[str]
    changed: list[str]
    failed: dict[str, str]


@dataclass
class DryRunReport:
    problems: list[DryRunProblem] = field(default_factory=list)
    accepted: int = 0
    ansible: list[AnsibleCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def step_context(ctx: RunContext, plan: Plan, planned: PlannedStep, *, initiator: str) -> dict[str, Any]:
    """The template context a step gets in a run (as ``Runner._context`` builds it), for run id ``dry-run``."""
    hosts: list[HostRef] = []
    if ctx.inventory is not None:
        hosts = [HostRef(name=h, address=ctx.inventory.connection(h).address) for h in planned.hosts]
    return {
        "params": plan.params,
        "previous": plan.previous,
        "env": plan.env,
        "run": {"id": DRY_RUN_ID, "initiator": initiator},
        "step": {"id": planned.id},
        "hosts": hosts,
        "secrets": _secrets(ctx),
    }


def _secrets(ctx: RunContext) -> dict[str, str]:
    """The runbook's secrets for templates (registered for redaction); those not readable now stay unset."""
    from golive.secrets import resolve

    try:
        return resolve(ctx.loaded, root=ctx.root)
    except RunbookError:
        return {}


def _step_index(ctx: RunContext, step_id: str) -> int:
    return next(i for i, s in enumerate(ctx.loaded.runbook.steps) if s.id == step_id)


def server_dry_run(ctx: RunContext, *, k8s: K8sDriver | None = None, initiator: str = DRY_RUN_ID) -> DryRunReport:
    """Dry-run every k8s step of the plan on its cluster; one problem per message the server sent."""
    plan = ctx.plan()
    report = DryRunReport()
    steps = [(p, ctx.loaded.runbook.step(p.id)) for p in plan.steps]
    k8s_steps = [(p, s) for p, s in steps if isinstance(s, K8sStep)]
    if not k8s_steps:
        return report
    own = k8s is None
    if k8s is None:
        from golive.drivers.k8s import K8sDriver

        k8s = K8sDriver(inventory=ctx.inventory)
    from golive.kinds.k8s import K8sKind

    file = str(ctx.loaded.path)
    try:
        for planned, step in k8s_steps:
            assert isinstance(step, K8sStep)
            context = step_context(ctx, plan, planned, initiator=initiator)
            line = ctx.loaded.step_line(_step_index(ctx, planned.id), "k8s")
            messages = K8sKind().dry_run(step, context, root=ctx.root, driver=k8s)
            log.info("k8s_dry_run", step=planned.id, problems=len(messages))
            report.problems += [DryRunProblem(file, line, planned.id, m) for m in messages]
            if not messages:
                report.accepted += 1
    finally:
        if own:
            k8s.close()
    return report


def ansible_check(ctx: RunContext, *, work_dir: Path, initiator: str = DRY_RUN_ID) -> DryRunReport:
    """Run every ansible step's playbook in check mode on all the step's hosts; failed hosts are problems."""
    from golive.drivers.ansible import run_playbook

    plan = ctx.plan()
    report = DryRunReport()
    if ctx.inventory is None:
        return report
    file = str(ctx.loaded.path)
    for planned in plan.steps:
        step = ctx.loaded.runbook.step(planned.id)
        if not isinstance(step, AnsibleStep):
            continue
        context = step_context(ctx, plan, planned, initiator=initiator)
        line = ctx.loaded.step_line(_step_index(ctx, planned.id), "ansible")
        try:
            result = run_playbook(
                playbook=ctx.root / render(step.ansible.playbook, context),
                inventory=ctx.inventory.path,
                hosts=list(planned.hosts),
                extravars=render_tree(step.ansible.vars, context),
                forks=step.ansible.forks,
                tags=step.ansible.tags,
                check=True,
                timeout=step.timeout,
                work_dir=work_dir,
            )
        except DriverError as exc:
            report.problems.append(DryRunProblem(file, line, planned.id, str(exc)))
            continue
        failed = {h: r.message for h, r in result.results.items() if not r.ok}
        changed = sorted(h for h, r in result.results.items() if r.ok and r.changed)
        report.ansible.append(AnsibleCheck(planned.id, list(planned.hosts), changed, failed))
        report.problems += [DryRunProblem(file, line, planned.id, f"{h}: {m}") for h, m in sorted(failed.items())]
        log.info("ansible_check", step=planned.id, changed=len(changed), failed=len(failed))
    return report


def unchecked_steps(ctx: RunContext) -> list[str]:
    """Steps a dry run cannot try without acting (ssh commands run for real or not at all)."""
    return [s.id for s in ctx.loaded.runbook.steps if isinstance(s, SshStep)]


__all__ += ["unchecked_steps"]
