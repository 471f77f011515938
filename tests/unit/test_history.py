"""What is live now: the params of the last successful run of a runbook in an env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from entries import run_started
from golive.engine.journal import Journal
from golive.history import previous_from_history


def journal(root: Path, run: str, *, runbook: str, env: str | None, version: str, end: list[tuple[str, dict]]) -> None:
    j = Journal(root / "runs" / run / "journal.jsonl")
    j.append("run_started", **run_started(run, runbook=runbook, env=env, params={"version": version}))
    for event, fields in end:
        j.append(event, run_id=run, **fields)
    stamp = 1_700_000_000 + int(run[-1])  # later runs have later mtimes, whatever the clock
    os.utime(j.path, (stamp, stamp))


def finished(status: str) -> list[tuple[str, dict]]:
    return [("run_finished", {"status": status, "exit_code": 0 if status == "succeeded" else 1})]


@pytest.fixture(autouse=True)
def _runs_in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLIVE_RUNS_DIR", raising=False)


def test_the_newest_success_of_this_runbook_in_this_env_wins(tmp_path: Path) -> None:
    journal(tmp_path, "r1", runbook="web", env="prod", version="v1", end=finished("succeeded"))
    journal(tmp_path, "r2", runbook="web", env="prod", version="v2", end=finished("succeeded"))
    journal(tmp_path, "r3", runbook="web", env="prod", version="v3", end=finished("rolled_back"))
    journal(tmp_path, "r4", runbook="web", env="staging", version="v4", end=finished("succeeded"))
    journal(tmp_path, "r5", runbook="db", env="prod", version="v5", end=finished("succeeded"))
    unfinished = [("step_started", {"step": "a", "index": 0, "kind": "check"})]
    journal(tmp_path, "r6", runbook="web", env="prod", version="v6", end=unfinished)
    assert previous_from_history(tmp_path, runbook="web", env="prod") == {"version": "v2"}
    assert previous_from_history(tmp_path, runbook="web", env="staging") == {"version": "v4"}
    assert previous_from_history(tmp_path, runbook="web", env="qa") == {}


def test_an_entry_after_the_end_is_read_through_the_whole_journal(tmp_path: Path) -> None:
    late = [*finished("succeeded"), ("control", {"action": "approve", "by": "x"})]
    journal(tmp_path, "r1", runbook="web", env="prod", version="v1", end=late)
    assert previous_from_history(tmp_path, runbook="web", env="prod") == {"version": "v1"}


def test_no_runs_dir_means_nothing_is_live(tmp_path: Path) -> None:
    assert previous_from_history(tmp_path, runbook="web", env="prod") == {}


def test_a_journals_ends_are_read_whatever_the_length_of_its_lines(tmp_path: Path) -> None:
    j = Journal(tmp_path / "run" / "journal.jsonl")
    assert j.ends() == ({}, {})
    j.append("run_started", **run_started("run", runbook="x" * 20_000))
    j.append("run_finished", run_id="run", status="succeeded", exit_code=0, reason="y" * 20_000)
    first, last = j.ends()
    assert first["event"] == "run_started" and len(first["runbook"]) == 20_000
    assert last["event"] == "run_finished" and len(last["reason"]) == 20_000
    assert j.verify() == 2  # the writer's own tail reading (the hash chain) is the same code
