"""Checks that a run's report says what its journal says (used by the lab tests after real runs)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from golive.report.run_report import gantt_of

__all__ = ["check_report_against_journal"]


def _t(ts: str, t0: str) -> float:
    return round((datetime.fromisoformat(ts) - datetime.fromisoformat(t0)).total_seconds(), 3)


def check_report_against_journal(project: Any, entries: list[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    """``golive report RUN --format json`` and ``-o report.html``: every step, batch, stage, approval
    and compensation of ``entries`` is in the report with the journal's times; the Gantt has one row per
    step and a bar per batch or stage. Returns the JSON report."""
    run_id, t0 = entries[0]["run_id"], entries[0]["ts"]
    done = project.golive("report", run_id, "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["journal"]["entries"] == len(entries) and report["journal"]["intact"]
    assert report["run"]["started"] == t0
    final = [e for e in entries if e["event"] == "run_finished"]
    if final:
        assert (report["run"]["status"], report["run"]["exit_code"]) == (final[-1]["status"], final[-1]["exit_code"])

    steps = {s["id"]: s for s in report["steps"]}
    assert list(steps) == [s["id"] for s in entries[0]["steps"]]
    for e in entries:
        ev = e["event"]
        if ev == "step_started":
            assert steps[e["step"]]["started"] == e["ts"]
        elif ev in ("batch_started", "stage_started"):
            index = e.get("batch", e.get("stage"))
            found = [b for b in steps[e["step"]]["batches"] if b["index"] == index and b["start"] == e["ts"]]
            assert len(found) == 1, (e, steps[e["step"]]["batches"])
            assert found[0]["t_start"] == _t(e["ts"], t0)
        elif ev == "approval_accepted":
            assert (e["by"], e["ts"]) in {(a["by"], a["ts"]) for a in steps[e["step"]]["approvals"]}
        elif ev == "check_result":
            ms = [m for g in steps[e["step"]]["gates"] for m in g["measurements"]]
            assert any(m["ts"] == e["ts"] and m["observed"] == e["observed"] for m in ms), e
    started = [e for e in entries if e["event"] == "compensation_started"]
    comps = (report["rollback"] or {}).get("compensations", [])
    assert [(c["unit"], c["start"]) for c in comps if c["status"] not in ("skipped", "missing")] == [
        (e["unit"], e["ts"]) for e in started
    ]

    gantt = gantt_of(report)
    assert [r.label for r in gantt.rows] == list(steps)
    # The runner journals the plan's estimate of each step: a ghost bar behind each row.
    assert all(s["estimate_s"] is not None for s in report["steps"])
    # (a step planned to take no time, a notify, has none)
    assert [len(r.of("planned")) for r in gantt.rows] == [1 if s["estimate_s"] else 0 for s in report["steps"]]
    for row, step in zip(gantt.rows, report["steps"], strict=True):
        if step["batches"]:
            assert len(row.of("batch", "stage")) == len(step["batches"])
        assert len(row.of("rollback")) == len(
            [c for c in comps if c["step"] == step["id"] and c["t_start"] is not None]
        )

    html = out_dir / f"report-{run_id}.html"
    written = project.golive("report", run_id, "-o", str(html))
    assert written.returncode == 0, written.stderr
    text = html.read_text()
    assert "<script" not in text and text.count('class="row"') == len(steps)
    for c in comps:
        assert c["unit"] in text
    md = project.golive("report", run_id, "--format", "md")
    assert md.returncode == 0 and all(f"| {sid} |" in md.stdout for sid in steps), md.stderr
    return report
