"""The planned timeline of a run as an SVG Gantt chart: one row per step, batches inside it.

Rows are plain data (step id, owner, start, duration, batches) so that the same renderer can
draw a plan's estimates here and, later, a finished run's measured times. The SVG is
self-contained (no script, no external font or stylesheet) so it can be inlined in a
document that is printed or mailed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from golive.plan import Plan
from golive.runbook.types import format_duration

__all__ = ["GanttBatch", "GanttRow", "owner_colours", "planned_rows", "render_gantt_svg"]

LABEL_W = 210  # the step column
CHART_W = 620  # the time axis
ROW_H = 26
TOP = 28  # room for the axis labels
# Colour-blind-safe hues, picked per owner so one owner's steps read as one colour.
DIVIDER = 'stroke="#fff" stroke-width="2"'
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


def _ticks(total: float) -> list[float]:
    """About six round tick marks over [0, total]."""
    for step in (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 21600, 86400):
        if total / step <= 8:
            return [i * step for i in range(int(total // step) + 1)]
    return [0.0, total]


def _bar(row: GanttRow, *, y: float, scale: float, colour: str) -> list[str]:
    x = LABEL_W + row.start_s * scale
    w = max(row.duration_s * scale, 2.0)
    title = f"{row.step} ({row.owner or 'no owner'}): {format_duration(row.duration_s)}"
    out = [
        f"<g><title>{escape(title)}</title>"
        f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{ROW_H - 8}" rx="3" fill="{colour}"/></g>'
    ]
    for b in row.batches[1:]:  # a divider where each later batch starts
        bx = LABEL_W + b.start_s * scale
        out.append(f'<line x1="{bx:.1f}" y1="{y + 4}" x2="{bx:.1f}" y2="{y + ROW_H - 4}" {DIVIDER}/>')
    if row.batches and w / len(row.batches) >= 18:
        for b in row.batches:
            cx = LABEL_W + (b.start_s + b.duration_s / 2) * scale
            out.append(
                f'<text x="{cx:.1f}" y="{y + ROW_H / 2 + 4}" text-anchor="middle" font-size="10" fill="#fff">'
                f"{escape(b.label.removeprefix('batch '))}</text>"
            )
    return out


def render_gantt_svg(rows: list[GanttRow], *, title: str = "Planned timeline") -> str:
    """An SVG chart of the rows: step and owner on the left, bars on a time axis in seconds."""
    colours = owner_colours([r.owner for r in rows])
    total = max((r.start_s + r.duration_s for r in rows), default=0.0) or 1.0
    scale = CHART_W / total
    height = TOP + ROW_H * len(rows) + 8
    width = LABEL_W + CHART_W + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
    ]
    for t in _ticks(total):
        x = LABEL_W + t * scale
        parts.append(f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height - 8}" stroke="#ddd"/>')
        tick = format_duration(t) if t else "0s"
        parts.append(f'<text x="{x:.1f}" y="{TOP - 10}" text-anchor="middle" font-size="10">{tick}</text>')
    for i, row in enumerate(rows):
        y = TOP + i * ROW_H
        label = f"{row.step} · {row.owner}" if row.owner else row.step
        parts.append(f'<text x="4" y="{y + ROW_H / 2 + 4}">{escape(label)}</text>')
        parts.extend(_bar(row, y=y, scale=scale, colour=colours[row.owner]))
    parts.append("</svg>")
    return "\n".join(parts)
