"""A plan as rich tables for the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from golive.plan import Plan, action_summary
from golive.runbook.types import format_duration

__all__ = ["render_plan"]


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
        gates = (
            "\n".join(
                f"{g.kind} {g.target} [{g.limit}]" + (f" x{g.count}/{g.interval_s:g}s" if g.count > 1 else "")
                for g in s.gates
            )
            or "-"
        )
        console_rb = s.rollback.kind + (f": {s.rollback.detail}" if s.rollback.detail else "")
        steps.add_row(
            str(s.index + 1),
            s.id,
            s.owner or "-",
            action_summary(s),
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
