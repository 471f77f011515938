"""golive report from hand-written journals: every step, batch, approval and compensation shows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.entries import run_started
from tests.report_journals import STEPS, FakeClock, approval_journal, clock, rolled_back_journal

from golive.engine.journal import Journal
from golive.engine.state import fold
from golive.report.gantt import Bar, Gantt, Row, render_svg
from golive.report.render import render_html, render_json, render_markdown
from golive.report.run_report import SCHEMA_VERSION, build_report, gantt_of, text_timeline

__all__ = ["clock"]  # the fixture, imported for this module's tests


def _report(j: Journal, **meta: Any) -> dict[str, Any]:
    state = fold(j)
    state.meta.update(meta)  # change_id: run_started gains it on another branch; the report reads it if there
    return build_report(state, integrity=j.integrity())


def test_report_of_a_rolled_back_run_has_every_step_batch_measurement_and_compensation(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The JSON report lists each step in plan order, each batch with its hosts and times, each gate
    measurement with its limit, the promote control, and both compensations in the order they ran."""
    r = _report(rolled_back_journal(tmp_path / "journal.jsonl", clock), change_id="CHG-42")
    assert r["schema_version"] == SCHEMA_VERSION
    run = r["run"]
    assert (run["status"], run["exit_code"], run["env"], run["change_id"]) == ("rolled_back", 1, "staging", "CHG-42")
    assert run["duration_s"] == 16.0 and run["estimate_s"] == 30.0
    assert r["journal"]["intact"] and r["journal"]["entries"] == 27
    assert [s["id"] for s in r["steps"]] == ["preflight", "roll-app", "approve", "switch"]
    roll = r["steps"][1]
    assert roll["owner"] == "payments" and roll["status"] == "failed"
    assert [(b["label"], b["hosts"], b["outcome"]) for b in roll["batches"]] == [
        ("batch 1", ["app1"], "ok"),
        ("batch 2", ["app2", "app3"], "failed"),
    ]
    assert (roll["batches"][0]["t_start"], roll["batches"][0]["t_end"]) == (1.0, 8.0)
    assert roll["batches"][1]["results"]["app3"]["ok"] is True
    assert [m["value"] for m in roll["gates"][0]["measurements"]] == [0.001, 0.002, 0.2]
    assert roll["waits"][0]["outcome"] == "promoted"
    assert roll["failure"].startswith("gate failed")
    assert [(c["action"], c["by"]) for c in r["controls"]] == [("promote", "alice")]
    comps = r["rollback"]["compensations"]
    assert [(c["unit"], c["status"]) for c in comps] == [
        ("rollback:roll-app[batch 2]", "done"),
        ("rollback:roll-app[batch 1]", "done"),
    ]
    assert comps[0]["t_start"] == 12.0 and comps[1]["t_end"] == 16.0
    json.loads(render_json(r))


def test_gantt_has_one_row_per_step_and_a_bar_per_batch_and_compensation(tmp_path: Path, clock: FakeClock) -> None:
    """The timeline's rows are the steps; roll-app has a bar per batch, a bake, gate ticks, the failure, ghost
    plan bars and one rollback bar per compensation; the SVG draws every one of them."""
    r = _report(rolled_back_journal(tmp_path / "journal.jsonl", clock))
    g = gantt_of(r)
    assert [row.label for row in g.rows] == ["preflight", "roll-app", "approve", "switch"]
    roll = g.rows[1]
    assert [(b.start, b.end) for b in roll.of("batch")] == [(1.0, 8.0), (8.0, 12.0)]
    assert len(roll.of("bake")) == 1 and len(roll.of("gate-tick")) == 3
    assert len(roll.of("failure")) == 1 and len(roll.of("rollback")) == 2
    assert [b.kind for b in g.rows[3].bars] == ["planned"]  # never ran: only the plan
    svg = render_svg(g)
    assert svg.count('class="bar batch"') == 2 and svg.count('class="bar rollback"') == 2
    assert svg.count('class="tick"') == 4  # preflight's one measurement and roll-app's three


def test_html_report_is_self_contained_and_names_everything(tmp_path: Path, clock: FakeClock) -> None:
    """The HTML has inline SVG and CSS with a print style, no script and no external URL, and names
    every step, host, compensation and the journal head."""
    j = rolled_back_journal(tmp_path / "journal.jsonl", clock)
    r = _report(j, change_id="CHG-42")
    html = render_html(r)
    assert "<script" not in html and not re.search(r"(src|href)=\"https?:", html)
    assert "@media print" in html and html.count("<svg") == 1 + 2  # the Gantt and a chart per gate
    for text in ("preflight", "roll-app", "app2", "app3", "rollback:roll-app[batch 1]", j.head(), "CHG-42", "alice"):
        assert text in html


def test_markdown_report_has_tables_and_a_text_timeline(tmp_path: Path, clock: FakeClock) -> None:
    """The Markdown has a header table, a text timeline with a line per step, and tables of batches,
    measurements and compensations."""
    md = render_markdown(_report(rolled_back_journal(tmp_path / "journal.jsonl", clock)))
    assert "| plan digest |" in md and "## Timeline" in md
    timeline = md.split("```")[1].strip().splitlines()
    assert [line.split()[0] for line in timeline] == ["preflight", "roll-app", "approve", "switch"]
    assert "X" in timeline[1] and "<" in timeline[1]
    assert "| batch 2 | app2, app3 |" in md
    assert "| 2 | `rollback:roll-app[batch 1]` | roll-app |" in md


def test_approvals_show_who_when_which_digest_and_comment(tmp_path: Path, clock: FakeClock) -> None:
    """An approval step's report names the approver, the time, the digest approved and the comment;
    the wait shows as an approval span on the timeline."""
    r = _report(approval_journal(tmp_path / "journal.jsonl", clock))
    step = r["steps"][0]
    assert step["approvals"] == [
        {"by": "bob", "ts": "2026-01-10T01:00:04.000+00:00", "digest": "d" * 64, "comment": "looks good",
         "source": "cli"}
    ]  # fmt: skip
    assert step["waits"][0]["kind"] == "approval" and step["waits"][0]["outcome"] == "granted"
    assert len(gantt_of(r).rows[0].of("approval")) == 1
    assert "looks good" in render_html(r) and "| bob |" in render_markdown(r)


def test_report_of_a_running_run_ends_open_spans_at_the_last_entry(tmp_path: Path, clock: FakeClock) -> None:
    """A run still going has no end and no exit code; its running step ends, for drawing, at the last entry."""
    r = _report(approval_journal(tmp_path / "journal.jsonl", clock, finish=False))
    assert r["run"]["exit_code"] is None and r["run"]["ended"] is None and not r["run"]["finished"]
    switch = r["steps"][1]
    assert switch["status"] == "running" and switch["t_end"] == 4.0
    assert "not finished" in render_html(r)


def test_failed_compensation_and_what_is_not_restored(tmp_path: Path, clock: FakeClock) -> None:
    """A compensation that fails is marked failed with its errors; what is not restored is in the report."""
    j = Journal(tmp_path / "journal.jsonl")
    j.append("run_started", **run_started("r1", steps=STEPS[3:]))
    j.append("step_started", run_id="r1", step="switch", index=0, kind="ssh")
    j.append("action_result", run_id="r1", step="switch", batch=None, ok=False,
             hosts={"lb1": {"ok": False, "message": "boom"}}, unit="rollback:switch")  # fmt: skip
    j.append("step_failed", run_id="r1", step="switch", batch=None, reason="lb1: boom")
    j.append("rollback_started", run_id="r1", reason="switch failed", units=["rollback:switch"])
    j.append("compensation_started", run_id="r1", unit="rollback:switch", step="switch", batch=None, hosts=["lb1"])
    clock.advance(1)
    j.append("compensation_failed", run_id="r1", unit="rollback:switch", attempt=1, error="ssh refused")
    j.append("rollback_failed", run_id="r1", restored=[], not_restored=["rollback:switch"], reason="ssh refused")
    j.append("run_finished", run_id="r1", status="rollback_failed", exit_code=3, reason="rollback failed")
    r = _report(j)
    comp = r["rollback"]["compensations"][0]
    assert comp["status"] == "failed" and comp["errors"] == ["attempt 1: ssh refused"]
    assert r["rollback"]["not_restored"] == ["rollback:switch"]
    assert r["steps"][0]["results"][0]["hosts"]["lb1"]["message"] == "boom"
    assert "NOT RESTORED" in render_html(r) and "NOT RESTORED" in render_markdown(r)


def test_broken_chain_is_reported_with_its_line(tmp_path: Path, clock: FakeClock) -> None:
    """An edited entry does not stop the report; the header says where the chain breaks."""
    j = approval_journal(tmp_path / "journal.jsonl", clock)
    lines = j.path.read_text().splitlines()
    lines[3] = lines[3].replace("bob", "eve")
    j.path.write_text("\n".join(lines) + "\n")
    r = _report(j)
    assert not r["journal"]["intact"] and r["journal"]["broken_at"] == 5
    assert "chain BROKEN at line 5" in render_html(r)


def test_text_timeline_marks_batches_bakes_and_failure() -> None:
    """text_timeline draws a line per step with its duration; the SVG of an empty chart still renders."""
    r = {
        "run": {"run_id": "x"},
        "steps": [
            {"id": "a", "owner": None, "estimate_s": None, "t_start": 0.0, "t_end": 4.0, "duration_s": 4.0,
             "batches": [], "waits": [{"kind": "bake", "t_start": 2.0, "t_end": 4.0, "label": "bake"}],
             "gates": [], "failed_at": None, "failure": None},
            {"id": "b", "owner": None, "estimate_s": None, "t_start": None, "t_end": None, "duration_s": None,
             "batches": [], "waits": [], "gates": [], "failed_at": None, "failure": None},
        ],
    }  # fmt: skip
    lines = text_timeline(r, width=8)
    assert lines == ["a    |####~~~~| 4.0s", "b    |        | -"]
    assert "<svg" in render_svg(Gantt()) and render_svg(Gantt(rows=[Row("x", bars=[Bar(0, 0, "failure")])]))


def test_cli_writes_each_format_and_refuses_an_unknown_one(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`golive report RUN` prints HTML, `--format md|json` the others, `-o` writes the file and names it;
    an unknown format is bad input (exit 2) and `golive status` shows the durations and the timeline."""
    from typer.testing import CliRunner

    from golive.cli import app

    monkeypatch.delenv("GOLIVE_RUNS_DIR", raising=False)
    (tmp_path / "inventory").mkdir()
    rolled_back_journal(tmp_path / "runs" / "r1" / "journal.jsonl", clock)
    runner = CliRunner()
    base = ["--root", str(tmp_path)]
    assert runner.invoke(app, ["report", "r1", *base]).stdout.startswith("<!DOCTYPE html>")
    assert json.loads(runner.invoke(app, ["report", "r1", "--format", "json", *base]).stdout)["run"]["run_id"] == "r1"
    assert "## Timeline" in runner.invoke(app, ["report", "r1", "-f", "md", *base]).stdout
    written = runner.invoke(app, ["report", "r1", "-o", str(tmp_path / "out" / "r.html"), *base])
    assert written.exit_code == 0 and str(tmp_path / "out" / "r.html") in written.stdout
    assert (tmp_path / "out" / "r.html").read_text().count("<svg") == 3
    bad = runner.invoke(app, ["report", "r1", "--format", "pdf", *base])
    assert bad.exit_code == 2 and "html, md, json" in bad.stderr
    status = runner.invoke(app, ["status", "r1", *base]).stdout
    assert "timeline" in status and re.search(r"roll-app +\|[^|]*X[^|]*\| 11\.0s", status)


def test_canary_stages_are_bars_of_their_own_kind(tmp_path: Path, clock: FakeClock) -> None:
    """Grey stages that are no host batch (canary 10%, 50%, 100%) are one stage bar each, labelled as journaled."""
    j = Journal(tmp_path / "journal.jsonl")
    j.append("run_started", **run_started("r1", steps=[{"id": "canary", "kind": "k8s"}]))
    j.append("step_started", run_id="r1", step="canary", index=0, kind="k8s")
    for i, pct in enumerate((10, 50, 100)):
        j.append("stage_started", run_id="r1", step="canary", stage=i, label=f"canary {pct}%", detail={})
        j.append("canary_stage", run_id="r1", step="canary", percent=pct, canary_replicas=1, stable_replicas=1)
        clock.advance(5)
        j.append("stage_done", run_id="r1", step="canary", stage=i, label=f"canary {pct}%")
    j.append("step_done", run_id="r1", step="canary")
    j.append("run_finished", run_id="r1", status="succeeded", exit_code=0)
    r = _report(j)
    stages = r["steps"][0]["batches"]
    assert [(s["kind"], s["label"], s["t_start"], s["t_end"]) for s in stages] == [
        ("stage", "canary 10%", 0.0, 5.0),
        ("stage", "canary 50%", 5.0, 10.0),
        ("stage", "canary 100%", 10.0, 15.0),
    ]
    row = gantt_of(r).rows[0]
    assert len(row.of("stage")) == 3 and row.of("planned") == []  # a journal without estimates: no ghost
    assert "| canary 50% |" in render_markdown(r)
