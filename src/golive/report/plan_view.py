"""A plan as rich tables for the terminal."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from golive.plan import Gate, Plan, ScheduleInfo, action_summary
from golive.runbook.types import format_duration
from golive.windows import when

__all__ = ["gate_text", "render_plan", "schedule_lines"]


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
    if plan.watch is not None and plan.watch.on_fail == "rollback":
        paths.add_row("the watch", " → ".join(plan.watch.compensations) or "nothing to undo")
    console.print(paths)
    if plan.watch is not None:
        watch = plan.watch
        then = "rolls every step back" if watch.on_fail == "rollback" else "pauses for golive resume / abort"
        console.print(
            f"[bold]watch after go-live[/] for {format_duration(watch.seconds)} (in the estimate); "
            f"a failing check {then}:"
        )
        for g in watch.gates:
            console.print(f"  {gate_text(g)}", markup=False, highlight=False)
    if plan.schedule is not None:
        for line in schedule_lines(plan.schedule, estimate_s=plan.estimate_s):
            console.print(line)
    for w in plan.warnings:
        console.print(f"[yellow]{w}[/]")
    files = sum(1 for i in plan.inputs if i.kind == "file")
    console.print(f"digest sha256:{plan.digest}  over {len(plan.inputs)} inputs ({files} files; --json lists them)")
    for i in plan.inputs:
        if i.note:  # an input golive could not follow: the reviewer should know the digest misses its content
            console.print(f"input {i.name}: {i.note}", style="yellow", markup=False, highlight=False)


def schedule_lines(info: ScheduleInfo, *, estimate_s: float) -> list[str]:
    """The window and freeze lines of the plan, in the runbook window's zone and UTC."""
    tz = ZoneInfo(info.tz)
    windows = "; ".join(f"{w.source}: {', '.join(w.allow)} {w.tz}" for w in info.windows) or "none"
    lines = [f"windows: {windows}"]
    if info.open:
        closes = f", closes {when(info.closes_at, tz)}" if info.closes_at else ""
        lines.append(f"[green]window open now[/]{closes}")
        if info.closes_at and (info.closes_at - info.now).total_seconds() < estimate_s:
            lines.append(f"[yellow]the estimate ({format_duration(estimate_s)}) outlasts the window[/]")
    else:
        nxt = when(info.next_open, tz) if info.next_open else "none within a year"
        lines.append(f"[bold red]window CLOSED now[/]: {info.reason}; next opening {nxt}")
    if info.freeze_now is not None:
        lines.append(f"[bold red]freeze now[/] until {when(info.freeze_now.end, tz)}: {info.freeze_now.reason}")
    for f in info.freezes_upcoming:
        lines.append(f"freeze upcoming: {when(f.start, tz)} to {when(f.end, tz)}: {f.reason}")
    return lines
