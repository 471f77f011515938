"""The run's story for the Prefect UI: journal entries as log lines, and the closing summary."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from golive.engine.story import PrefectStory, gate_rows, story_line, summary_markdown


def _check(outcome: str, observed: str, *, host: str = "app-3", batch: int | None = 1) -> dict[str, Any]:
    return {
        "event": "check_result",
        "run_id": "r1",
        "step": "roll",
        "batch": batch,
        "outcome": outcome,
        "check": "http",
        "target": "http://127.0.0.1:8080/health",
        "observed": observed,
        "limit": "status 200, latency <= 2s",
        "host": host,
        "value": None,
        "message": "",
    }


RUN = [
    {"event": "run_started", "run_id": "r1", "runbook": "demo", "env": "lab", "initiator": "ann"},
    _check("pass", "status 200 in 0.010s"),
    _check("fail", "status 200 in 3.100s"),
    {"event": "gate_failed", "run_id": "r1", "step": "roll", "batch": 1, "outcome": "fail", "reason": "slower"},
    {"event": "rollback_started", "run_id": "r1", "reason": "roll: gate", "units": ["rollback:roll[batch 1]"]},
    {
        "event": "rollback_failed",
        "run_id": "r1",
        "restored": [],
        "not_restored": ["rollback:roll[batch 1]"],
        "reason": "undo failed",
    },
    {"event": "run_finished", "run_id": "r1", "status": "rollback_failed", "exit_code": 3, "reason": "roll: gate"},
]


def test_a_failing_measurement_is_one_warning_line_with_observed_and_limit() -> None:
    """A failed check reads as gate, host, step and batch, observed vs limit, and FAIL."""
    level, line = story_line(_check("fail", "status 500 in 0.01s")) or (0, "")
    assert level == logging.WARNING
    assert line == (
        "gate http on app-3 (roll batch 1): observed status 500 in 0.01s, limit status 200, latency <= 2s: FAIL"
    )


def test_entries_an_operator_does_not_need_are_not_told() -> None:
    """Bookkeeping entries (undo records, action results) have no line of their own."""
    assert story_line({"event": "undo_saved", "step": "roll"}) is None
    assert story_line({"event": "action_result", "step": "roll"}) is None


def test_rollback_and_what_is_not_restored_are_errors() -> None:
    """A rollback that leaves a unit undone says so at error level, naming the unit."""
    level, line = story_line(RUN[5]) or (0, "")
    assert level == logging.ERROR and "NOT restored: rollback:roll[batch 1]" in line


def test_gate_rows_count_measurements_and_keep_the_worst_observation() -> None:
    """Measurements of one check on one host in one batch fold into one row that keeps the failing value."""
    rows = gate_rows([*RUN, _check("pass", "status 200 in 0.020s")])
    assert len(rows) == 1
    row = rows[0]
    assert (row.measurements, row.failures, row.worst) == (3, 1, "fail")
    assert row.observed == "status 200 in 3.100s"


def test_summary_names_the_outcome_what_is_not_restored_the_gates_and_the_report() -> None:
    """The artifact says how the run ended, what a human must check, each gate's verdict and the report's path."""
    md = summary_markdown(RUN, report_path=Path("runs/r1/report.html"))
    assert "**rollback_failed** (exit 3)" in md
    assert "**NOT restored: rollback:roll[batch 1]**" in md
    assert "| roll batch 1 | http | app-3 | status 200, latency <= 2s | status 200 in 3.100s | 2 | 1 | FAIL |" in md
    assert "Full report: `runs/r1/report.html`" in md


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_outside_a_task_the_story_goes_to_the_flow_run() -> None:
    """Where no task run is current (between steps, a gate's worker thread), lines name the flow run only."""
    handler = _Capture()
    story = PrefectStory(flow_run_id="f-1", handler=handler)
    for entry in RUN:
        story.on_entry(entry)
    assert len(story.entries) == len(RUN)
    records = handler.records
    assert [r.levelno for r in records].count(logging.ERROR) == 4
    assert records[0].getMessage() == "run of demo in lab by ann"
    assert {(getattr(r, "flow_run_id", None), getattr(r, "task_run_id", "?")) for r in records} == {("f-1", None)}
