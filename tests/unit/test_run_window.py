"""Change windows in a run, on fake time: refused outside, paused at the close, break-glass journaled."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_runner import ROOT, FakeWorld, events, make_runner
from typer.testing import CliRunner

from golive.cli import app
from golive.context import prepare
from golive.engine.execute import Refused, window_guard
from golive.engine.runner import Runner
from golive.engine.window import WindowGuard
from golive.windows import Schedule, WindowSet, parse_freeze, parse_window

MIDNIGHT = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


def daily(spec: str) -> Schedule:
    return Schedule(windows=(WindowSet(specs=(parse_window(spec),), tz=ZoneInfo("UTC"), source="runbook"),))


def windowed(tmp_path: Path, world: FakeWorld, *, start: datetime, guard: WindowGuard) -> Runner:
    """The unit runbook (three batches, each baked 60 s) with a window and a wall clock on fake time."""
    r = make_runner(tmp_path, world, bake="60s")
    r.window = guard
    r.svc.now = lambda: start + timedelta(seconds=world.now)
    return r


def test_a_run_that_outlives_its_window_warns_then_pauses_before_the_next_batch(tmp_path: Path) -> None:
    """Started a minute before the close: window_overrun at start; past the close, batch 2 waits for a human."""
    world = FakeWorld()
    r = windowed(tmp_path, world, start=MIDNIGHT + timedelta(minutes=59), guard=WindowGuard(daily("daily 00:00-01:00")))
    applied_when_paused: list[int] = []

    def answer() -> None:
        applied_when_paused.append(len(world.calls))
        r.journal.append("control", run_id="r1", action="resume", by="carol")

    world.at[300.0] = answer
    assert r.start() == 0
    overrun = events(r, "window_overrun")[0]
    assert overrun["closes_at"] == "2026-12-02T01:00:00+00:00"
    closed = events(r, "window_closed")
    assert len(closed) == 1 and closed[0]["step"] == "roll" and closed[0]["closed_at"] == "2026-12-02T01:00:00+00:00"
    assert closed[0]["next_open"] == "2026-12-03T00:00:00+00:00"
    assert applied_when_paused == [2]  # the freeze and batch 1; batch 2 had not started
    seen = [(e["event"], e.get("batch")) for e in r.journal.read()]
    assert seen.index(("window_closed", None)) < seen.index(("paused", None)) < seen.index(("batch_started", 2))


def test_an_abort_at_the_close_rolls_back_without_a_new_batch(tmp_path: Path) -> None:
    """Paused at the close, an abort rolls back what was done; no batch starts after the close."""
    world = FakeWorld()
    r = windowed(tmp_path, world, start=MIDNIGHT + timedelta(minutes=59), guard=WindowGuard(daily("daily 00:00-01:00")))
    world.at[300.0] = lambda: r.journal.append("control", run_id="r1", action="abort", by="carol")
    assert r.start() == 1
    assert [e["batch"] for e in events(r, "batch_started") if e["step"] == "roll"] == [1]
    assert events(r, "window_closed") and events(r, "rollback_started")


def test_a_run_inside_its_window_neither_warns_nor_pauses(tmp_path: Path) -> None:
    """With hours to spare the run goes through with no window event."""
    world = FakeWorld()
    r = windowed(tmp_path, world, start=MIDNIGHT, guard=WindowGuard(daily("daily 00:00-06:00")))
    assert r.start() == 0
    assert not events(r, "window_overrun") and not events(r, "window_closed")


def test_a_freeze_starting_mid_run_pauses_it(tmp_path: Path) -> None:
    """A freeze that begins during the run closes it like a window: paused before the next batch."""
    world = FakeWorld()
    freeze = parse_freeze({"from": "2026-12-02T00:01", "to": "2026-12-02T03:00", "reason": "incident"}, ZoneInfo("UTC"))
    schedule = Schedule(windows=daily("daily 00:00-06:00").windows, freezes=(freeze,))
    r = windowed(tmp_path, world, start=MIDNIGHT, guard=WindowGuard(schedule))
    world.at[300.0] = lambda: r.journal.append("control", run_id="r1", action="resume", by="carol")
    assert r.start() == 0
    closed = events(r, "window_closed")[0]
    assert "incident" in closed["reason"] and closed["closed_at"] is None
    assert closed["next_open"] == "2026-12-02T03:00:00+00:00"


def test_break_glass_runs_outside_the_window_and_is_journaled(tmp_path: Path) -> None:
    """--break-glass outside the window: break_glass journaled with who and why; no pause."""
    world = FakeWorld()
    guard = WindowGuard(daily("daily 02:00-03:00"), break_glass="payments down")
    r = windowed(tmp_path, world, start=MIDNIGHT, guard=guard)
    assert r.start() == 0
    bg = events(r, "break_glass")[0]
    assert (bg["by"], bg["reason"], bg["window_open"], bg["protected"]) == ("alice", "payments down", False, False)
    assert not events(r, "window_closed")


def test_break_glass_in_a_protected_env_waits_for_someone_else(tmp_path: Path) -> None:
    """In a protected env the initiator's own approval does not count; bob's does, then the steps run."""
    world = FakeWorld()
    guard = WindowGuard(daily("daily 02:00-03:00"), break_glass="payments down", protected=True)
    r = windowed(tmp_path, world, start=MIDNIGHT, guard=guard)
    world.at[1.0] = lambda: r.journal.append("control", run_id="r1", action="approve", by="alice")
    calls_before: list[int] = []
    world.at[2.0] = lambda: (
        calls_before.append(len(world.calls)),
        r.journal.append("control", run_id="r1", action="approve", by="bob"),
    )
    assert r.start() == 0
    assert calls_before == [0]
    assert events(r, "approval_requested")[0]["step"] == "break-glass"
    assert "two-person rule" in events(r, "approval_refused")[0]["reason"]
    assert events(r, "approval_granted")[0]["approvers"] == ["bob"]


RUNBOOK = """
name: windowed
window: {allow: ["Sat 01:00-05:00"], tz: Asia/Shanghai}
steps:
  - id: hello
    notify: {message: hi}
"""


def test_the_refusal_names_the_next_opening_in_the_window_zone_and_utc(tmp_path: Path) -> None:
    """On a Wednesday the run is refused before anything exists, naming Saturday 01:00 Shanghai and its UTC."""
    (tmp_path / "rb.yml").write_text(RUNBOOK)
    ctx = prepare(tmp_path / "rb.yml", env="test", params={}, inventory_path=ROOT / "inventory" / "test")
    with pytest.raises(Refused) as got:
        window_guard(ctx, break_glass=None, now=lambda: datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    assert "Sat 2026-12-05 01:00 Asia/Shanghai (2026-12-04 17:00 UTC)" in str(got.value)
    assert window_guard(ctx, break_glass=None, now=lambda: datetime(2026, 12, 4, 18, 0, tzinfo=UTC)) is not None


def _frozen_project(tmp_path: Path) -> Path:
    """A project whose env is frozen for centuries, so the CLI sees a closed window whatever the date."""
    inv = tmp_path / "inventory" / "test"
    shutil.copytree(ROOT / "inventory" / "test", inv)
    with (inv / "group_vars" / "all.yml").open("a") as f:
        f.write("golive_freezes:\n  - {from: 2000-01-01, to: 2999-12-31, reason: frozen for the test}\n")
    (tmp_path / "rb.yml").write_text(RUNBOOK.replace('window: {allow: ["Sat 01:00-05:00"], tz: Asia/Shanghai}\n', ""))
    return tmp_path


def test_golive_run_in_a_freeze_exits_4_and_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`golive run` in a freeze: exit 4, the next allowed time, no run directory; --break-glass alone is exit 2."""
    project = _frozen_project(tmp_path)
    monkeypatch.chdir(project)
    monkeypatch.delenv("GOLIVE_INVENTORY", raising=False)
    result = CliRunner().invoke(app, ["run", str(project / "rb.yml"), "-e", "test", "--no-prefect"])
    assert result.exit_code == 4, result.output
    assert "frozen for the test" in result.output and "next allowed start" in result.output
    assert not list(project.rglob("journal.jsonl"))
    bare = CliRunner().invoke(app, ["run", str(project / "rb.yml"), "-e", "test", "--no-prefect", "--break-glass"])
    assert bare.exit_code == 2 and "--reason" in bare.output
