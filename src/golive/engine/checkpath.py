"""``golive run --check``: the path the real run would take, step by step and batch by batch.

Nothing is changed and nothing is journaled. What can be tried without acting is tried:
Kubernetes steps are sent with ``dryRun=All``, Ansible steps run in check mode with diff
(engine/dryrun.py), ``check:`` steps measure for real (checks only read), and an SSH step's
``check_command`` (a read-only probe its author wrote) runs on each host in place of the
command, which is only printed, rendered per host. Approvals, pauses, bakes and the watch are
listed with what a person would be asked and how long they wait; notifications are printed,
not sent. Every step kind says something here: a kind without a line is a test failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from golive.checks.base import Outcome
from golive.engine.dryrun import DRY_RUN_ID, DryRunReport, step_context
from golive.runbook.models import (
    AnsibleStep,
    ApprovalStep,
    CheckStep,
    K8sStep,
    NotifyStep,
    PauseStep,
    SshStep,
)
from golive.runbook.render import HostRef, render
from golive.runbook.types import format_duration

if TYPE_CHECKING:
    from golive.context import RunContext
    from golive.plan import PlannedStep

__all__ = ["KIND_LINES", "CheckLine", "CheckPath", "check_path"]


@dataclass
class CheckLine:
    step: str
    kind: str
    what: str  # the predicted action, in words
    details: list[str] = field(default_factory=list)  # per batch / host lines
    stops: str | None = None  # where a real run would wait or stop
    refused: str | None = None  # what would be refused (exit 2)
    estimate_s: float = 0.0


@dataclass
class CheckPath:
    lines: list[CheckLine]
    estimate_s: float
    predicted_s: float
    watch: str | None = None

    @property
    def ok(self) -> bool:
        return not any(line.refused for line in self.lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "estimate_s": self.estimate_s,
            "predicted_s": self.predicted_s,
            "watch": self.watch,
            "steps": [line.__dict__ for line in self.lines],
        }


Describe = Callable[["RunContext", "PlannedStep", Any, dict[str, Any], "_Tools"], CheckLine]


@dataclass
class _Tools:
    report: DryRunReport
    gates: Callable[[], Any] | None  # a GateRunner factory with real probes, or None
    ssh: Callable[[list[str], str], dict[str, tuple[bool, str]]] | None  # hosts, command -> host: (ok, output)
    host_of: Callable[[str], HostRef]
    match: Callable[[str], list[str]]


def _batches(planned: PlannedStep) -> list[str]:
    return [f"batch {b.index}: {', '.join(b.hosts)}" for b in planned.batches]


def _gates(planned: PlannedStep) -> str:
    if not planned.gates:
        return ""
    return f"; gated on {len(planned.gates)} check(s) after each batch" + (
        f", baked {format_duration(planned.bake_s)}" if planned.bake_s else ""
    )


def _ansible(ctx: RunContext, planned: PlannedStep, step: Any, context: dict[str, Any], t: _Tools) -> CheckLine:
    assert isinstance(step, AnsibleStep)
    checked = next((a for a in t.report.ansible if a.step == planned.id), None)
    changes = f"check mode: would change {', '.join(checked.changed) or 'nothing'}" if checked else "not checked"
    refused = [p.message for p in t.report.problems if p.step == planned.id]
    return CheckLine(
        planned.id,
        "ansible",
        f"playbook {render(step.ansible.playbook, context)} on {len(planned.hosts)} host(s){_gates(planned)}",
        [*_batches(planned), changes],
        refused="; ".join(refused) or None,
    )


def _ssh(ctx: RunContext, planned: PlannedStep, step: Any, context: dict[str, Any], t: _Tools) -> CheckLine:
    assert isinstance(step, SshStep)
    details = list(_batches(planned))
    for host in planned.hosts:
        host_ctx = {**context, "host": t.host_of(host)}
        for command in step.ssh.commands:
            details.append(f"{host}: would run: {render(command, host_ctx)}")
    refused = None
    if step.ssh.check_command and t.ssh is not None:
        results = t.ssh(list(planned.hosts), render(step.ssh.check_command, context))
        failed = []
        for host, (ok, output) in sorted(results.items()):
            first = output.strip().splitlines()[0] if output.strip() else ""
            details.append(f"{host}: check_command {'ok' if ok else 'FAILED'}{': ' + first if first else ''}")
            if not ok:
                failed.append(host)
        if failed:
            refused = f"check_command failed on {', '.join(failed)}"
    elif not step.ssh.check_command:
        details.append("check_command: none, so nothing was tried on the hosts (add one: a read-only probe)")
    return CheckLine(
        planned.id,
        "ssh",
        f"{len(step.ssh.commands)} command(s) on {len(planned.hosts)} host(s){_gates(planned)}",
        details,
        refused=refused,
    )


def _k8s(ctx: RunContext, planned: PlannedStep, step: Any, context: dict[str, Any], t: _Tools) -> CheckLine:
    assert isinstance(step, K8sStep)
    problems = [p.message for p in t.report.problems if p.step == planned.id]
    a = step.k8s
    target = a.deployment or a.service or a.manifest
    strategy = a.strategy if isinstance(a.strategy, str) else type(a.strategy).__name__.lower()
    return CheckLine(
        planned.id,
        "k8s",
        f"{target} in {a.namespace} ({strategy}){_gates(planned)}",
        ["server dry-run (dryRun=All): " + ("refused" if problems else "accepted")],
        refused="; ".join(problems) or None,
    )


def _check(ctx: RunContext, planned: PlannedStep, step: Any, context: dict[str, Any], t: _Tools) -> CheckLine:
    assert isinstance(step, CheckStep)
    line = CheckLine(planned.id, "check", f"{len(step.check)} check(s), measured now for real (they only read)")
    if t.gates is None:
        line.details.append("not measured: no environment")
        return line
    outcome = t.gates().evaluate(
        list(step.check),
        hosts=[t.host_of(h) for h in planned.hosts],
        host_of=t.host_of,
        context=context,
        host_patterns=t.match,
    )
    line.details.append(
        f"{outcome.outcome.value.upper()}: {outcome.reason or f'{len(outcome.verdicts)} measurement(s)'}"
    )
    if outcome.outcome is not Outcome.PASS:
        line.stops = f"a real run would stop here: the check is {outcome.outcome.value}"
        line.refused = outcome.reason or outcome.outcome.value
    return line


def _approval(ctx: RunContext, planned: PlannedStep, step: Any, context: dict[str, Any], t: _Tools) -> CheckLine:
    assert isinstance(step, ApprovalStep)
    spec = step.approval
    message = render(spec.message, context) if spec.message else ""
    who = (
        f"{spec.approvers} approver(s)"
        + (f" of {', '.join(ctx.inventory.approvers)}" if ctx.inventory and ctx.inventory.approvers else "")
        + (", not the initiator" if planned.approval and planned.approval.exclude_initiator else "")
    )
    return CheckLine(
        planned.id,
        "approval",
        f"simulated: would wait for {who}" + (f": {message}" if message else ""),
        [f"times out after {format_duration(spec.timeout)}, then {spec.on_timeout}"],
        stops=f"waits for golive approve (up to {format_duration(spec.timeout)})",
    )


def _pause(ctx: RunContext, planned: PlannedStep, step: Any, context: dict[str, Any], t: _Tools) -> CheckLine:
    assert isinstance(step, PauseStep)
    if step.pause.duration is None:
        return CheckLine(
            planned.id, "pause", "simulated: would pause until golive resume", stops="waits for golive resume"
        )
    return CheckLine(planned.id, "pause", f"simulated: would wait {format_duration(step.pause.duration)}")


def _notify(ctx: RunContext, planned: PlannedStep, step: Any, context: dict[str, Any], t: _Tools) -> CheckLine:
    assert isinstance(step, NotifyStep)
    to = f" to {', '.join(step.notify.to)}" if step.notify.to else ""
    return CheckLine(planned.id, "notify", f"would say{to} (not sent): {render(step.notify.message, context)}")


KIND_LINES: dict[str, Describe] = {
    "ansible": _ansible,
    "ssh": _ssh,
    "k8s": _k8s,
    "check": _check,
    "approval": _approval,
    "pause": _pause,
    "notify": _notify,
}


def check_path(
    ctx: RunContext,
    report: DryRunReport,
    *,
    initiator: str,
    gates: Callable[[], Any] | None = None,
    ssh: Callable[[list[str], str], dict[str, tuple[bool, str]]] | None = None,
) -> CheckPath:
    plan = ctx.plan()

    def host_of(name: str) -> HostRef:
        address = ctx.inventory.connection(name).address if ctx.inventory else name
        return HostRef(name=name, address=address)

    inv = ctx.inventory

    def match(pattern: str) -> list[str]:
        return inv.match(pattern) if inv is not None else []

    tools = _Tools(report=report, gates=gates, ssh=ssh, host_of=host_of, match=match)
    lines = []
    for planned in plan.steps:
        step = ctx.loaded.runbook.step(planned.id)
        context = step_context(ctx, plan, planned, initiator=initiator or DRY_RUN_ID)
        started = time.monotonic()
        line = KIND_LINES[planned.kind](ctx, planned, step, context, tools)
        # A check measured now took what it will take; the rest is the plan's estimate.
        line.estimate_s = time.monotonic() - started if planned.kind == "check" and gates else planned.estimate_s
        lines.append(line)
    watch = None
    if plan.watch is not None:
        watch = f"would watch {format_duration(plan.watch.seconds)} after go-live on {len(plan.watch.gates)} check(s)"
    predicted = sum(line.estimate_s for line in lines) + (plan.watch.seconds if plan.watch else 0.0)
    return CheckPath(lines=lines, estimate_s=plan.estimate_s, predicted_s=predicted, watch=watch)
