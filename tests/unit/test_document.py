"""golive doc: the go-live document of a runbook, in HTML and Markdown, from its plan alone."""

from __future__ import annotations

import html
import itertools
from pathlib import Path

import pytest
from typer.testing import CliRunner

from golive.cli import app
from golive.context import prepare
from golive.report.document import render_document
from golive.report.gantt import render_svg
from golive.report.planned_gantt import GanttBatch, GanttRow, planned_gantt, planned_rows
from golive.runbook import load_runbook

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "runbooks").glob("*.yml"))


@pytest.fixture(autouse=True)
def _no_inventory_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLIVE_INVENTORY", raising=False)


def _doc(*args: str) -> str:
    result = CliRunner().invoke(app, ["doc", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("fmt", ["md", "html"])
@pytest.mark.parametrize("runbook", EXAMPLES, ids=lambda p: p.name)
def test_every_example_documents_every_step_and_its_rollback(runbook: Path, fmt: str) -> None:
    """Each example's document names every step, its rollback, its failure paths, contacts, risks and the digest."""
    text = _doc(str(runbook), "-e", "lab", "--format", fmt)
    plain = html.unescape(text) if fmt == "html" else text.replace("\\|", "|")
    plan = prepare(runbook, env="lab", params={}).plan()
    for step in plan.steps:
        assert step.id in plain
        rollback = f"{step.rollback.kind}: {step.rollback.detail}" if step.rollback.detail else step.rollback.kind
        assert rollback in plain
        for fp in step.on_failure:
            for unit in fp.compensations:
                assert unit in plain
    rb = load_runbook(runbook).runbook
    for contact in rb.contacts:
        assert contact.name in plain
    for risk in rb.risks:
        assert risk.risk in plain and risk.mitigation in plain
    assert plan.digest in plain


def test_html_is_self_contained() -> None:
    """The HTML document loads nothing and runs nothing: no script, stylesheet link, image source or web font."""
    text = _doc(str(ROOT / "runbooks" / "core-migration.yml"), "-e", "lab")
    assert text.startswith("<!DOCTYPE html>")
    assert "<svg" in text and "<style>" in text
    for needle in ("<script", "<link", " src=", "href=", "@import", "url(", "<iframe", "<object"):
        assert needle not in text


def test_markdown_keeps_a_pipe_inside_its_cell(tmp_path: Path) -> None:
    """A risk that contains '|' stays in its table cell in Markdown, and HTML escapes markup in the runbook."""
    (tmp_path / "inventory").mkdir()
    rb = tmp_path / "rb.yml"
    rb.write_text(
        "name: pipes\n"
        "risks:\n"
        "  - {risk: 'a | b <i>x</i>', likelihood: low, impact: low, mitigation: none, owner: me}\n"
        "steps:\n"
        "  - id: say\n"
        "    notify: hi\n"
    )
    md = _doc(str(rb), "--format", "md")
    assert "| a \\| b <i>x</i> | low | low | none | me |" in md
    page = _doc(str(rb))
    assert "a | b &lt;i&gt;x&lt;/i&gt;" in page


def test_freezes_and_window_come_from_inventory_and_runbook(tmp_path: Path) -> None:
    """The inventory's golive_freezes and the runbook's window are listed in the document."""
    inv = tmp_path / "inventory" / "test"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  children:\n    app:\n      hosts:\n        app-1:\n")
    (inv / "group_vars" / "all.yml").write_text(
        "golive_freezes:\n  - {from: '2026-12-20', to: '2027-01-03', reason: year-end}\n"
    )
    rb = tmp_path / "rb.yml"
    rb.write_text(
        "name: windowed\n"
        "window: {allow: ['Tue-Thu 09:00-16:00'], tz: Europe/Berlin}\n"
        "steps:\n"
        "  - id: say\n"
        "    notify: hi\n"
    )
    md = _doc(str(rb), "-e", "test", "--format", "md")
    assert "from: 2026-12-20, to: 2027-01-03, reason: year-end" in md
    assert "Allowed window (Europe/Berlin): `Tue-Thu 09:00-16:00`" in md
    assert "| app | app-1 |" in md


def test_document_from_a_plan_alone() -> None:
    """A saved plan renders too (its runbook is read from the plan's file), without inventory sections."""
    plan = prepare(ROOT / "runbooks" / "rolling-demo.yml", env="lab", params={}).plan()
    md = render_document(plan, fmt="md")
    assert "## Environment and hosts" not in md
    assert "roll-app" in md and plan.digest in md


def test_doc_writes_the_file_named_by_o(tmp_path: Path) -> None:
    """-o writes the document to a file and prints nothing on stdout."""
    out = tmp_path / "golive.html"
    result = CliRunner().invoke(app, ["doc", str(ROOT / "runbooks" / "k8s-canary.yml"), "-e", "lab", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "demo-api-canary" in out.read_text()


def test_doc_refuses_an_unknown_format() -> None:
    """An unknown --format is bad input: exit 2, a fix named, nothing written."""
    result = CliRunner().invoke(app, ["doc", str(EXAMPLES[0]), "--format", "pdf"])
    assert result.exit_code == 2
    assert "use --format html or --format md" in result.stderr


def test_planned_rows_lay_steps_end_to_end_and_share_a_step_among_its_batches() -> None:
    """Each step starts where the previous ends; a batched step's batches split its estimate evenly."""
    plan = prepare(ROOT / "runbooks" / "rolling-demo.yml", env="lab", params={}).plan()
    rows = planned_rows(plan)
    assert [r.step for r in rows] == [s.id for s in plan.steps]
    for before, after in itertools.pairwise(rows):
        assert after.start_s == pytest.approx(before.start_s + before.duration_s)
    batched = next(r for r in rows if r.batches)
    assert sum(b.duration_s for b in batched.batches) == pytest.approx(batched.duration_s)
    assert batched.batches[0].start_s == batched.start_s


def test_the_planned_gantt_has_a_row_per_step_and_a_bar_per_batch() -> None:
    """The chart the document draws: one row per step, its planned bar, one batch bar per batch."""
    rows = [
        GanttRow(step="a", owner="ops<&>", start_s=0, duration_s=10),
        GanttRow(
            step="b",
            owner=None,
            start_s=10,
            duration_s=30,
            batches=[GanttBatch("batch 1", 10, 15), GanttBatch("batch 2", 25, 15)],
        ),
    ]
    gantt = planned_gantt(rows, title="t")
    assert [r.label for r in gantt.rows] == ["a", "b"]
    assert [len(r.of("planned")) for r in gantt.rows] == [1, 1]
    assert [len(r.of("batch")) for r in gantt.rows] == [0, 2]
    svg = render_svg(gantt)
    assert "ops&lt;&amp;&gt;" in svg and "ops<&>" not in svg


def test_the_document_keys_count_in_the_digest_only_once_written(tmp_path: Path) -> None:
    """An unused contacts:/risks: list leaves the digest as before; a written contact changes it."""
    (tmp_path / "inventory").mkdir()
    base = "name: d\nsteps:\n  - id: say\n    notify: hi\n"
    variants = {
        "plain": base,
        "empty": "contacts: []\nrisks: []\nprerequisites: []\n" + base,
        "contact": "contacts: [{role: lead, name: Ann, phone: '1'}]\n" + base,
    }
    digests = {}
    for name, text in variants.items():
        (tmp_path / f"{name}.yml").write_text(text)
        digests[name] = prepare(tmp_path / f"{name}.yml", env=None, params={}).plan().digest
    assert digests["plain"] == digests["empty"] != digests["contact"]
