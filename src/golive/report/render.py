"""A run report (the dict of ``run_report.build_report``) as HTML, Markdown or JSON text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from golive.report.gantt import render_svg
from golive.report.gate_chart import gate_svg
from golive.report.run_report import gantt_of, text_timeline
from golive.runbook.types import format_duration

if TYPE_CHECKING:
    from golive.engine.journal import Journal

__all__ = ["FORMATS", "render", "render_html", "render_json", "render_markdown", "write_run_report"]

FORMATS = ("html", "md", "json")


def _dur(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(round(seconds, 1))


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("golive.report", "templates"),
        autoescape=select_autoescape(["html.j2"], default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["dur"] = _dur
    env.filters["gate_svg"] = lambda g: Markup(gate_svg(g))
    env.filters["cell"] = _cell
    env.filters["tojson_compact"] = lambda v: json.dumps(v, sort_keys=True, default=str)
    return env


def _cell(value: Any) -> str:
    """A value for a Markdown table cell: one line, pipes escaped."""
    text = "-" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def render_html(report: dict[str, Any]) -> str:
    gantt = Markup(render_svg(gantt_of(report)))
    return _env().get_template("report.html.j2").render(r=report, gantt=gantt)


def render_markdown(report: dict[str, Any]) -> str:
    return _env().get_template("report.md.j2").render(r=report, timeline=text_timeline(report, width=60))


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"


def render(report: dict[str, Any], fmt: str) -> str:
    return {"html": render_html, "md": render_markdown, "json": render_json}[fmt](report)


def write_run_report(journal: Journal, path: Path) -> str:
    """The run's HTML report from its journal, written (0600) to ``path``; returns its Markdown."""
    from golive.engine.state import fold
    from golive.report.run_report import build_report

    report = build_report(fold(journal), integrity=journal.integrity())
    path.write_text(render_html(report), encoding="utf-8")
    path.chmod(0o600)
    return render_markdown(report)
