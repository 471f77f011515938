"""The HTML report in a real browser: headless Chromium renders it without errors, within 1280 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.browser import open_page, png_is_blank
from tests.report_journals import FakeClock, clock, rolled_back_journal
from tests.unit.test_report import _report

from golive.report.render import render_html

__all__ = ["clock"]  # the fixture, imported for this module's tests


def test_html_report_renders_in_chromium(tmp_path: Path, clock: FakeClock) -> None:
    """Chromium shows the report of a rolled-back run with no console error, a visible non-empty Gantt
    SVG, gate charts, nothing wider than 1280 px, and a screenshot that is not blank."""
    html = tmp_path / "report.html"
    html.write_text(render_html(_report(rolled_back_journal(tmp_path / "journal.jsonl", clock))), encoding="utf-8")
    with open_page(html, width=1280) as page:
        assert page.console_errors() == []
        gantt = page.box("svg.gantt")
        assert gantt["displayed"] and gantt["width"] > 600 and gantt["height"] > 60
        assert page.count("svg.gantt rect.bar") >= 6 and page.count("svg.gate-chart circle") == 4
        assert page.overflow() == []
        shot = page.screenshot(tmp_path / "report.png")
    assert shot.stat().st_size > 10_000
    assert not png_is_blank(shot)


def test_go_live_document_renders_in_chromium(tmp_path: Path) -> None:
    """Chromium shows the hybrid example's go-live document: no console error, a visible planned
    timeline with a bar per step, nothing wider than 1280 px, a screenshot that is not blank."""
    from golive.context import prepare
    from golive.report.document import render_document

    root = Path(__file__).resolve().parents[2]
    ctx = prepare(root / "runbooks" / "core-migration.yml", env="lab", params={"version": "v2"})
    html = tmp_path / "document.html"
    html.write_text(render_document(ctx, fmt="html"), encoding="utf-8")
    with open_page(html, width=1280) as page:
        assert page.console_errors() == []
        gantt = page.box("svg.gantt")
        assert gantt["displayed"] and gantt["width"] > 600 and gantt["height"] > 60
        assert page.count("svg.gantt rect.bar") >= len(ctx.plan().steps)
        assert page.overflow() == []
        shot = page.screenshot(tmp_path / "document.png")
    assert not png_is_blank(shot)


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
