"""A plan as rich tables for the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from golive.plan import Gate, Plan, PlannedStep
from golive.runbook.types import format_duration

__all__ = ["action_text", "gate_text", "render_plan"]


def action_text(step: PlannedStep) -> str:
    """What a step does, in one line a person reads."""
    a = step.action
    if step.kind == "ansible":
        return f"playbook {a.get('playbook')} on {a.get('hosts')}"
    if step.kind == "ssh":
        return f"{len(a.get('commands', []))} command(s) on {a.get('hosts')}"
    if step.kind == "k8s":
        strategy = a.get("strategy")
        name = a.get("deployment") or a.get("service") or a.get("manifest")
        shape = strategy if isinstance(strategy, str) else ", ".join(f"{k} {v}" for k, v in (strategy or {}).items())
        return f"{name} in {a.get('namespace')} ({shape})"
    if step.kind == "approval" and step.approval:
        ap = step.approval
        excl = ", not the initiator" if ap.exclude_initiator else ""
        return f"{ap.approvers} approver(s){excl}; timeout {format_duration(ap.timeout_s)} -> {ap.on_timeout}"
    if step.kind == "pause":
        return f"pause {format_duration(a['duration'])}" if a.get("duration") else "pause until resumed"
    if step.kind == "notify":
        return str(a.get("message", ""))
    return f"{a.get('checks', 0)} check(s)"


def gate_text(g: Gate) -> str:
    return f"{g.kind} {g.target} [{g.limit}]" + (f" x{g.count}/{g.interval_s:g}s" if g.count > 1 else "")


def render_plan(plan: Plan, *, console: Console) -> None:
    head = (
        f"[bold]{plan.runbook}[/] env={plan.env or '-'}  params={plan.params}  "
        f"estimate≈{format_duration(plan.estimate_s)}"
    )
    console.print(head)
    steps = Table(title="Steps", show_lines=True)
    for col in ("#", "step", "owner", "what", "batches (hosts)", "gates", "bake", "rollback"):
        steps.add_column(col, overflow="fold")
    for s in plan.steps:
        batches = "\n".join(f"{b.index}: {', '.join(b.hosts)}" for b in s.batches) or (
            ", ".join(s.hosts) if s.hosts else "-"
        )
        gates = "\n".join(gate_text(g) for g in s.gates) or "-"
        console_rb = s.rollback.kind + (f": {s.rollback.detail}" if s.rollback.detail else "")
        steps.add_row(
            str(s.index + 1),
            s.id,
            s.owner or "-",
            action_text(s),
            batches,
            gates,
            format_duration(s.bake_s) if s.bake_s else "-",
            console_rb,
        )
    console.print(steps)
    paths = Table(title="Rollback path if a step fails", show_lines=False)
    for col in ("fails at", "compensations, in order"):
        paths.add_column(col, overflow="fold")
    for s in plan.steps:
        for fp in s.on_failure:
            comp = " → ".join(fp.compensations) or "nothing to undo"
            if fp.not_undone:
                comp += f"  [red](NOT undone: {', '.join(fp.not_undone)})[/]"
            at = s.id if fp.at == "step" else f"{s.id} {fp.at}"
            paths.add_row(at, comp)
    console.print(paths)
    for w in plan.warnings:
        console.print(f"[yellow]{w}[/]")
    console.print(f"digest sha256:{plan.digest}")
