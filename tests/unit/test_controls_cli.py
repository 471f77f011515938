"""Controls mean what they say: a control with nothing to act on is refused (exit 4), never sent and ignored.

Runs are journals written by hand; a live run is one whose lock this test holds, as its runner would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_stale_runs import held, runs
from tests.entries import run_started
from tests.report_journals import FakeClock, clock
from typer.testing import CliRunner

from golive.cli import app
from golive.engine.journal import Journal

__all__ = ["clock", "runs"]  # fixtures, used by name


def write_run(runs: Path, clock: FakeClock, run_id: str) -> Journal:
    """A run at its first step (a batched ssh step), its runner killed or (with ``held``) live."""
    j = Journal(runs / run_id / "journal.jsonl")
    j.append("run_started", **run_started(run_id, env="test", steps=[{"id": "hello", "kind": "ssh"}]))
    clock.advance(10)
    j.append("step_started", run_id=run_id, step="hello", index=0, kind="ssh")
    clock.advance(10)
    return j


def golive(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def controls(journal: Journal) -> list[str]:
    return [e["action"] for e in journal.read() if e["event"] == "control"]


def test_reject_with_no_approval_pending_is_refused_and_sends_nothing(runs: Path, clock: FakeClock) -> None:
    j = write_run(runs, clock, "r1")
    with held(runs / "r1"):
        code, output = golive("reject", "r1", "--reason", "no")
    assert code == 4 and "not waiting for an approval" in output
    assert controls(j) == []


def test_promote_with_no_bake_in_progress_is_refused(runs: Path, clock: FakeClock) -> None:
    """A promote typed while a batch still applies would otherwise be spent on a later bake."""
    j = write_run(runs, clock, "r1")
    with held(runs / "r1"):
        code, output = golive("promote", "r1")
    assert code == 4 and "nothing to promote" in output
    assert controls(j) == []


def test_promote_during_a_bake_is_sent_and_names_the_bake(runs: Path, clock: FakeClock) -> None:
    j = write_run(runs, clock, "r1")
    j.append("bake_started", run_id="r1", step="hello", batch=None, seconds=30)
    with held(runs / "r1"):
        code, output = golive("promote", "r1", "--as", "carol")
    assert code == 0 and "the bake of step hello" in output, output
    assert controls(j) == ["promote"]


@pytest.mark.parametrize("action", ["pause", "promote", "reject"])
def test_a_control_for_a_run_no_process_runs_is_refused_with_the_way_on(
    runs: Path, clock: FakeClock, action: str
) -> None:
    j = write_run(runs, clock, "r1")
    code, output = golive(action, "r1", *(["--reason", "x"] if action == "reject" else []))
    assert code == 4 and "golive resume" in output
    assert controls(j) == []


def test_pause_of_a_paused_run_is_refused(runs: Path, clock: FakeClock) -> None:
    j = write_run(runs, clock, "r1")
    j.append("paused", run_id="r1", step="hello", reason="gate inconclusive", howto="golive resume r1")
    with held(runs / "r1"):
        code, output = golive("pause", "r1")
    assert code == 4 and "already holding" in output


def test_resume_of_a_live_run_that_is_not_paused_is_refused(runs: Path, clock: FakeClock) -> None:
    j = write_run(runs, clock, "r1")
    with held(runs / "r1"):
        code, output = golive("resume", "r1", "--no-prefect")
    assert code == 4 and "not paused" in output
    assert controls(j) == []


def test_a_typed_root_wins_over_golive_runs_dir(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--root typed for a command names where its runs are, even with GOLIVE_RUNS_DIR set in the shell."""
    monkeypatch.setenv("GOLIVE_RUNS_DIR", str(tmp_path / "elsewhere"))
    write_run(tmp_path / "project" / "runs", clock, "r1")
    (tmp_path / "project" / "inventory").mkdir()
    (tmp_path / "project" / "runbooks").mkdir()
    for root in (tmp_path / "project", tmp_path / "project" / "runbooks"):  # a folder inside names its project
        code, output = golive("status", "r1", "--root", str(root))
        assert code == 0 and "r1" in output, output
        assert f"runs under {tmp_path / 'project' / 'runs'}, not $GOLIVE_RUNS_DIR" in " ".join(output.split())
        monkeypatch.setenv("GOLIVE_RUNS_DIR", str(tmp_path / "elsewhere"))
