"""A stale run must not undo a newer one, and a run does not start blind after a crash.

Runs are journals written by hand on a fake clock; a "live" run is one whose lock file this
test holds with flock, as a runner process would.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_runner import ROOT
from tests.entries import run_started
from tests.report_journals import FakeClock, clock
from typer.testing import CliRunner

from golive.cli import app
from golive.context import prepare
from golive.engine.execute import Refused, execute_abort, execute_new, execute_resume
from golive.engine.journal import Journal
from golive.engine.stale import crashed_previous, newer_run, refuse_if_stale
from golive.engine.state import fold

__all__ = ["clock"]  # the fixture, used by name

RUNBOOK = """
name: hello
steps:
  - id: hello
    notify: {message: hi}
"""


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "runs"
    monkeypatch.setenv("GOLIVE_RUNS_DIR", str(d))
    return d


def write_run(
    runs: Path, clock: FakeClock, run_id: str, *, env: str | None = "test", status: str | None = None
) -> Journal:
    """A run of ``env`` started now on the clock; ``status`` None leaves it unfinished (killed)."""
    j = Journal(runs / run_id / "journal.jsonl")
    j.append("run_started", **run_started(run_id, env=env, runbook=f"rb-{run_id}"))
    clock.advance(10)
    j.append("step_started", run_id=run_id, step="hello", index=0, kind="notify")
    clock.advance(10)
    if status is not None:
        j.append("run_finished", run_id=run_id, status=status, exit_code=0 if status == "succeeded" else 1)
        clock.advance(10)
    return j


@contextmanager
def held(run_dir: Path) -> Iterator[None]:
    """The run's lock held, as by its live runner."""
    fd = os.open(run_dir / "lock", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


# ------------------------------------------------------------------ stale resume / abort


def test_resume_of_a_run_older_than_the_envs_newest_is_refused_naming_it(runs: Path, clock: FakeClock) -> None:
    """The killed run is older than a newer succeeded run of its env: resume refuses, naming id, runbook, status."""
    old = write_run(runs, clock, "old")
    write_run(runs, clock, "new", status="succeeded")
    before = old.path.read_bytes()
    with pytest.raises(Refused) as got:
        execute_resume(runs.parent, "old", use_prefect=False)
    text = str(got.value)
    assert "new" in text and "rb-new" in text and "succeeded" in text and "--force-stale" in text
    assert old.path.read_bytes() == before  # nothing journaled, nothing done


def test_abort_of_a_dead_stale_run_is_refused_too(runs: Path, clock: FakeClock) -> None:
    """Aborting the killed old run would roll the newer release back: refused the same way."""
    write_run(runs, clock, "old")
    write_run(runs, clock, "new", status="succeeded")
    with pytest.raises(Refused, match="newest run of env test: new"):
        execute_abort(runs.parent, "old")


def test_runs_of_other_envs_and_older_runs_do_not_make_a_run_stale(runs: Path, clock: FakeClock) -> None:
    """Only a later run of the same env counts; the newest run itself is never stale."""
    write_run(runs, clock, "older", status="succeeded")
    write_run(runs, clock, "mine")
    write_run(runs, clock, "elsewhere", env="prod", status="succeeded")
    started = json.loads((runs / "mine" / "journal.jsonl").read_text().splitlines()[0])["ts"]
    assert newer_run(runs.parent, run_id="mine", env="test", started=started) is None


def test_force_stale_journals_who_why_and_the_newer_run_then_goes_on(runs: Path, clock: FakeClock) -> None:
    """--force-stale --reason: a stale_run_forced entry in the old run's journal names the newer run; no refusal."""
    old = write_run(runs, clock, "old")
    write_run(runs, clock, "new", status="rolled_back")
    refuse_if_stale(runs.parent, old, run_id="old", action="resume", force_reason="hosts checked by hand", by="erin")
    forced = [e for e in old.entries() if e["event"] == "stale_run_forced"]
    assert len(forced) == 1
    assert forced[0]["newer_run_id"] == "new" and forced[0]["newer_runbook"] == "rb-new"
    assert forced[0]["newer_status"] == "rolled_back" and forced[0]["reason"] == "hosts checked by hand"
    assert forced[0]["action"] == "resume" and forced[0]["by"] == "erin"
    assert not fold(old).finished  # the old run goes on from here (resume or abort does the rest)


def test_cli_resume_and_abort_of_a_stale_run_exit_4_and_force_needs_a_reason(runs: Path, clock: FakeClock) -> None:
    """`golive resume OLD`/`abort OLD`: exit 4 naming the newer run; --force-stale without --reason is exit 2."""
    write_run(runs, clock, "old")
    write_run(runs, clock, "new", status="succeeded")
    root = ["--root", str(runs.parent)]
    resumed = CliRunner().invoke(app, ["resume", "old", *root, "--no-prefect"])
    assert resumed.exit_code == 4, resumed.output
    assert "new" in resumed.output and "rb-new" in resumed.output
    aborted = CliRunner().invoke(app, ["abort", "old", *root])
    assert aborted.exit_code == 4, aborted.output
    bare = CliRunner().invoke(app, ["resume", "old", *root, "--no-prefect", "--force-stale"])
    assert bare.exit_code == 2 and "--reason" in bare.output
    bare_abort = CliRunner().invoke(app, ["abort", "old", *root, "--force-stale"])
    assert bare_abort.exit_code == 2 and "--reason" in bare_abort.output
    assert not [e for e in Journal(runs / "old" / "journal.jsonl").entries() if e["event"] == "stale_run_forced"]


# ------------------------------------------------------------------ start after a crash


def test_the_envs_newest_run_dead_and_unfinished_is_a_crash(runs: Path, clock: FakeClock) -> None:
    """Unfinished with no process holding its lock: crashed; finished, or held by a live runner: not."""
    write_run(runs, clock, "done", status="succeeded")
    assert crashed_previous(runs.parent, env="test") is None
    write_run(runs, clock, "killed")
    crashed = crashed_previous(runs.parent, env="test")
    assert crashed is not None and crashed.run_id == "killed"
    with held(runs / "killed"):
        assert crashed_previous(runs.parent, env="test") is None  # running, not crashed
    assert crashed_previous(runs.parent, env="prod") is None


def test_a_late_control_after_the_end_does_not_make_a_finished_run_look_crashed(runs: Path, clock: FakeClock) -> None:
    """A finished run whose journal ends with a late control entry is still finished."""
    j = write_run(runs, clock, "done", status="succeeded")
    j.append("control", run_id="done", action="approve", by="bob")
    assert crashed_previous(runs.parent, env="test") is None


def _project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "inventory" / "test", tmp_path / "inventory" / "test")
    (tmp_path / "rb.yml").write_text(RUNBOOK)
    return tmp_path


def test_start_after_a_crashed_run_is_refused_before_anything_exists(
    tmp_path: Path, runs: Path, clock: FakeClock
) -> None:
    """execute_new refuses naming the crashed run and the three ways on; no new run directory."""
    write_run(runs, clock, "killed")
    ctx = prepare(_project(tmp_path) / "rb.yml", env="test", params={}, inventory_path=tmp_path / "inventory" / "test")
    with pytest.raises(Refused) as got:
        execute_new(ctx, use_prefect=False)
    text = str(got.value)
    assert "golive resume killed" in text and "golive abort killed" in text and "--after-crash" in text
    assert [p.name for p in runs.iterdir() if p.is_dir()] == ["killed"]


def test_cli_run_after_a_crash_exits_4_and_with_after_crash_starts_and_journals_it(
    tmp_path: Path, runs: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`golive run` exits 4 naming the run; with --after-crash it runs, and run_started names the crashed run."""
    project = _project(tmp_path)
    monkeypatch.chdir(project)
    monkeypatch.delenv("GOLIVE_INVENTORY", raising=False)
    write_run(runs, clock, "killed")
    args = ["run", str(project / "rb.yml"), "-e", "test", "--no-prefect"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 4, refused.output
    assert "killed" in refused.output and "--after-crash" in refused.output
    ran = CliRunner().invoke(app, [*args, "--after-crash"])
    assert ran.exit_code == 0, ran.output
    new = [p for p in runs.glob("*/journal.jsonl") if p.parent.name != "killed"]
    assert len(new) == 1
    state = fold(Journal(new[0]))
    assert state.meta["after_crash"] == "killed" and state.status == "succeeded"
    again = CliRunner().invoke(app, args)  # the finished run is now the env's newest: nothing to resolve
    assert again.exit_code == 0, again.output
