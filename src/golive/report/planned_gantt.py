"""The planned timeline of a run: steps laid end to end on the plan's estimates.

Rows are plain data (step id, owner, start, duration, batches) for the document's tables;
``planned_gantt`` hands them to the one Gantt renderer (golive.report.gantt) that also
draws a finished run's report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from golive.plan import Plan
from golive.report.gantt import Bar, Gantt, Row

__all__ = ["GanttBatch", "GanttRow", "owner_colours", "planned_gantt", "planned_rows"]

# Colour-blind-safe hues, picked per owner so one owner's steps read as one colour.
PALETTE = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb")


@dataclass(frozen=True)
class GanttBatch:
    label: str
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class GanttRow:
    step: str
    owner: str | None
    start_s: float
    duration_s: float
    batches: list[GanttBatch] = field(default_factory=list)


def planned_rows(plan: Plan) -> list[GanttRow]:
    """Steps laid end to end on their estimates; a batched step's time shared evenly by its batches."""
    rows: list[GanttRow] = []
    t = 0.0
    for s in plan.steps:
        share = s.estimate_s / len(s.batches) if s.batches else 0.0
        batches = [
            GanttBatch(label=f"batch {b.index}", start_s=t + i * share, duration_s=share)
            for i, b in enumerate(s.batches)
        ]
        rows.append(GanttRow(step=s.id, owner=s.owner, start_s=t, duration_s=s.estimate_s, batches=batches))
        t += s.estimate_s
    return rows


def owner_colours(owners: list[str | None]) -> dict[str | None, str]:
    """One colour per owner, in order of first appearance, so the first owners never share one."""
    out: dict[str | None, str] = {}
    for owner in owners:
        if owner not in out:
            out[owner] = PALETTE[len(out) % len(PALETTE)]
    return out


def planned_gantt(rows: list[GanttRow], *, title: str) -> Gantt:
    """The rows as a chart: a planned bar per step, a bar per batch inside it."""
    return Gantt(
        title=title,
        rows=[
            Row(
                label=r.step,
                owner=r.owner,
                bars=[Bar(r.start_s, r.start_s + r.duration_s, "planned")]
                + [Bar(b.start_s, b.start_s + b.duration_s, "batch", b.label) for b in r.batches],
            )
            for r in rows
        ],
    )
