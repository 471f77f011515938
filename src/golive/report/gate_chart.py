"""One gate's measurements over time as a small inline SVG, with its limit as a line."""

from __future__ import annotations

import re
from html import escape
from typing import Any

__all__ = ["gate_svg", "limit_value"]

_W, _H, _PAD = 320, 90, 24
_COLOR = {"pass": "#2a9d4b", "fail": "#d62828", "inconclusive": "#e0a100"}


def limit_value(limit: str) -> float | None:
    """The number in a limit text such as ``<= 0.01`` or ``max 250ms`` (None when it has none)."""
    found = re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", limit)
    # A limit of several numbers (status and latency) has no single line to draw.
    return float(found[0]) if len(found) == 1 else None


def gate_svg(gate: dict[str, Any]) -> str:
    """Points at (time, value), coloured by verdict; measurements without a number sit on the axis."""
    ms = [m for m in gate["measurements"] if m.get("t") is not None]
    values = [m["value"] for m in ms if m.get("value") is not None]
    limit = limit_value(str(gate.get("limit", ""))) if values else None
    top = max([*values, *([limit] if limit is not None else []), 1e-9]) * 1.15
    t0 = min((m["t"] for m in ms), default=0.0)
    t1 = max((m["t"] for m in ms), default=1.0)
    span = max(t1 - t0, 1e-6)

    def xy(t: float, v: float) -> tuple[float, float]:
        return _PAD + (t - t0) / span * (_W - 2 * _PAD), _H - _PAD / 2 - v / top * (_H - _PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gate-chart" viewBox="0 0 {_W} {_H}" width="{_W}" '
        f'height="{_H}" role="img" aria-label="{escape(gate["check"])} measurements">',
        f'<line x1="{_PAD}" y1="{_H - _PAD / 2}" x2="{_W - _PAD}" y2="{_H - _PAD / 2}" stroke="#999"/>',
    ]
    if limit is not None:
        _, y = xy(t0, limit)
        parts.append(
            f'<line x1="{_PAD}" y1="{y:.1f}" x2="{_W - _PAD}" y2="{y:.1f}" stroke="#d62828" stroke-dasharray="4 3"/>'
        )
        parts.append(
            f'<text x="{_W - _PAD}" y="{y - 3:.1f}" font-size="10" text-anchor="end" fill="#d62828">'
            f"limit {escape(str(gate['limit']))}</text>"
        )
    for m in ms:
        x, y = xy(m["t"], m["value"] if m.get("value") is not None else 0.0)
        label = escape(f"{m['outcome']}: {m['observed']} at {m['ts']}" + (f" on {m['host']}" if m.get("host") else ""))
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{_COLOR.get(m["outcome"], "#555")}">'
            f"<title>{label}</title></circle>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
