"""A Gantt chart as inline SVG, drawn from plain data: rows of bars in seconds from a start.

Used by the run report (actual times, with the plan's estimates as ghost bars behind them)
and by the go-live document (planned times only). No charting library and no script: the
SVG is text, so the HTML stays one self-contained file that prints as it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Literal

__all__ = ["KINDS", "Bar", "BarKind", "Gantt", "Row", "render_svg"]

BarKind = Literal["batch", "stage", "bake", "approval", "pause", "watch", "gate-tick", "failure", "rollback", "planned"]

# Fill of each kind; the legend lists them in this order.
KINDS: dict[str, str] = {
    "planned": "#d9dde3",
    "batch": "#3b82c4",
    "stage": "#2f9e8f",
    "bake": "#9cc8ea",
    "approval": "#c084d8",
    "pause": "#f0c05a",
    "watch": "#8fcf9a",
    "gate-tick": "#1d3557",
    "failure": "#d62828",
    "rollback": "#e07b24",
}

_LABEL_W, _ROW_H, _BAR_H, _AXIS_H, _LEGEND_H, _PAD = 220, 26, 14, 22, 22, 8


@dataclass(frozen=True)
class Bar:
    """One mark on a row: ``start``/``end`` in seconds from the chart's zero (equal for ticks)."""

    start: float
    end: float
    kind: BarKind
    label: str = ""

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass
class Row:
    """One line of the chart: a step (with its owner) or a rollback."""

    label: str
    owner: str | None = None
    bars: list[Bar] = field(default_factory=list)

    def of(self, *kinds: str) -> list[Bar]:
        return [b for b in self.bars if b.kind in kinds]


@dataclass
class Gantt:
    rows: list[Row] = field(default_factory=list)
    title: str = ""

    @property
    def span(self) -> float:
        """Seconds from zero to the last mark (at least 1, so an empty chart still has a scale)."""
        return max([1.0, *(b.end for r in self.rows for b in r.bars)])

    def kinds(self) -> list[str]:
        used = {b.kind for r in self.rows for b in r.bars}
        return [k for k in KINDS if k in used]


def _tick_step(span: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400):
        if span / step <= 10:
            return float(step)
    return span / 10


def _fmt(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s % 60 else f"{s // 60}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def _axis(width: int, span: float, scale: float, height: int) -> list[str]:
    out = []
    step = _tick_step(span)
    t = 0.0
    while t <= span + 1e-9:
        x = _LABEL_W + t * scale
        out.append(f'<line x1="{x:.1f}" y1="{_AXIS_H}" x2="{x:.1f}" y2="{height}" class="grid"/>')
        out.append(f'<text x="{x:.1f}" y="{_AXIS_H - 6}" class="axis" text-anchor="middle">{_fmt(t)}</text>')
        t += step
    return out


def _bar(bar: Bar, *, y: float, scale: float) -> str:
    x = _LABEL_W + bar.start * scale
    title = f"<title>{escape(bar.label or bar.kind)} ({_fmt(bar.start)} to {_fmt(bar.end)})</title>"
    fill = KINDS[bar.kind]
    if bar.kind == "gate-tick":
        return f'<line x1="{x:.1f}" y1="{y + 1}" x2="{x:.1f}" y2="{y + _BAR_H - 1}" class="tick">{title}</line>'
    if bar.kind == "failure":
        pts = f"{x:.1f},{y - 2} {x + 6:.1f},{y + _BAR_H / 2} {x:.1f},{y + _BAR_H + 2} {x - 6:.1f},{y + _BAR_H / 2}"
        return f'<polygon points="{pts}" fill="{fill}" class="failure">{title}</polygon>'
    w = max(2.0, bar.seconds * scale)
    inset = {"planned": -3, "bake": 3, "approval": 0, "pause": 0}.get(bar.kind, 0)
    return (
        f'<rect x="{x:.1f}" y="{y + inset:.1f}" width="{w:.1f}" height="{_BAR_H - 2 * inset:.1f}" rx="2" '
        f'fill="{fill}" stroke="#fff" stroke-width="1" class="bar {bar.kind}">{title}</rect>'
    )


# Drawn back to front: the plan behind, waits over the batch they belong to, marks on top.
_LAYER = {"planned": 0, "batch": 1, "stage": 1, "watch": 1, "rollback": 1, "approval": 2, "pause": 2, "bake": 2}


def _legend(kinds: list[str], *, y: int) -> list[str]:
    out, x = [], _LABEL_W
    for k in kinds:
        out.append(f'<rect x="{x}" y="{y}" width="12" height="10" fill="{KINDS[k]}"/>')
        out.append(f'<text x="{x + 16}" y="{y + 9}" class="legend">{k}</text>')
        x += 24 + 7 * len(k)
    return out


def render_svg(gantt: Gantt, *, width: int = 1100) -> str:
    """The chart as one ``<svg>`` element; it scales down to its container (viewBox, width 100%)."""
    height = _AXIS_H + _ROW_H * len(gantt.rows) + _LEGEND_H + _PAD
    span = gantt.span
    scale = (width - _LABEL_W - _PAD * 2) / span
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(gantt.title or "timeline")}">',
        "<style>.grid{stroke:#e5e7eb}.axis,.legend{font:11px sans-serif;fill:#555}"
        ".row{font:12px sans-serif;fill:#111}.owner{font:10px sans-serif;fill:#777}"
        ".tick{stroke:#1d3557;stroke-width:1.5}.planned{opacity:.8}</style>",
    ]
    rows_bottom = _AXIS_H + _ROW_H * len(gantt.rows)
    parts += _axis(width, span, scale, rows_bottom)
    for i, row in enumerate(gantt.rows):
        y = _AXIS_H + i * _ROW_H + (_ROW_H - _BAR_H) / 2
        if i % 2:
            parts.append(f'<rect x="0" y="{_AXIS_H + i * _ROW_H}" width="{width}" height="{_ROW_H}" fill="#f7f8fa"/>')
        owner = f' <tspan class="owner">({escape(row.owner)})</tspan>' if row.owner else ""
        parts.append(f'<text x="4" y="{y + _BAR_H - 2:.1f}" class="row">{escape(row.label[:28])}{owner}</text>')
        for bar in sorted(row.bars, key=lambda b: _LAYER.get(b.kind, 3)):
            parts.append(_bar(bar, y=y, scale=scale))
    parts += _legend(gantt.kinds(), y=rows_bottom + _PAD)
    parts.append("</svg>")
    return "\n".join(parts)
