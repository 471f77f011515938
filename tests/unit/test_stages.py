"""The engine's one stage loop on fake time: canary-like stages gate, bake, promote and abort like batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_runner import FakeWorld, events, make_runner

from golive.drivers.base import ActionResult, HostResult
from golive.engine.state import fold
from golive.kinds.base import Stage
from golive.kinds.ssh import SshKind

RUNBOOK = """
name: stages
steps:
  - id: canary
    ssh: {hosts: app, command: "true"}
    verify:
      - http: "http://{{ host }}/health"
        hosts: app-1
    bake: 30s
    rollback: {none: "the stages below are driven by the test"}
"""


def staged(
    tmp_path: Path, world: FakeWorld, percents: list[int], monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> tuple[Any, list[int]]:
    """A runner whose ssh step runs canary stages (no host batches) through the engine's path."""
    r = make_runner(tmp_path, world, text=RUNBOOK)
    applied: list[int] = []

    def run(self: Any, step: Any, run: Any) -> None:
        run.stages(
            Stage(
                index=i,
                label=f"canary {p}%",
                bake=step.bake,
                apply=lambda p=p: applied.append(p) or kw.get("result"),
                hosts=kw.get("hosts", []),
                detail={"percent": p},
            )
            for i, p in enumerate(percents, start=1)
        )

    monkeypatch.setattr(SshKind, "run", run)
    return r, applied


def test_canary_stages_gate_and_bake_each_stage_like_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each stage is applied, gated and baked in turn; the journal names the stages."""
    world = FakeWorld()
    r, applied = staged(tmp_path, world, [10, 50, 100], monkeypatch)
    assert r.start() == 0
    assert applied == [10, 50, 100]
    seen = [e for e in r.journal.read() if e["event"] in ("stage_started", "gate_passed", "bake_done")]
    assert [e["event"] for e in seen] == ["stage_started", "gate_passed", "bake_done"] * 3
    assert [e["detail"]["percent"] for e in seen if e["event"] == "stage_started"] == [10, 50, 100]
    assert world.now >= 90  # three 30 s bakes


def test_a_failing_gate_stops_the_stages_at_the_stage_it_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FAIL in the 10 % stage's gate fails the step before the 50 % stage is applied."""
    world = FakeWorld(bad_hosts={"app-1"})
    r, applied = staged(tmp_path, world, [10, 50, 100], monkeypatch)
    assert r.start() == 1
    assert applied == [10]
    assert "gate failed" in events(r, "step_failed")[0]["reason"]


def test_promote_during_a_stage_bake_ends_only_that_bake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A promote sent during the first stage's bake ends it; the next stage bakes in full."""
    world = FakeWorld()
    r, _ = staged(tmp_path, world, [10, 50], monkeypatch)
    world.at[3.0] = lambda: r.journal.append("control", run_id="r1", action="promote", by="carol")
    assert r.start() == 0
    promoted = events(r, "bake_promoted")
    assert len(promoted) == 1 and promoted[0]["by"] == "carol"
    assert 33 <= world.now < 60


def test_a_promote_sent_while_a_stage_applies_ends_no_bake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A promote journaled before any bake began is bound to nothing: every bake runs in full."""
    world = FakeWorld()
    r, _ = staged(tmp_path, world, [10, 50], monkeypatch)
    original = r.steer.record

    def record(event: str, **fields: Any) -> dict[str, Any]:
        if event == "stage_started" and fields.get("stage", fields.get("index")) in (1, None):
            r.journal.append("control", run_id="r1", action="promote", by="carol")
        return original(event, **fields)

    monkeypatch.setattr(r.steer, "record", record)
    assert r.start() == 0
    assert not events(r, "bake_promoted")
    assert world.now >= 60  # both 30 s bakes in full


def test_abort_during_a_stage_rolls_back_before_the_next_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An abort sent during a stage's bake ends the bake; no later stage is applied; the run rolls back."""
    world = FakeWorld()
    r, applied = staged(tmp_path, world, [10, 50, 100], monkeypatch)
    world.at[5.0] = lambda: r.journal.append("control", run_id="r1", action="abort", by="bob")
    assert r.start() == 1
    assert applied == [10]
    assert "aborted by bob" in events(r, "rollback_started")[0]["reason"]
    step = fold(r.journal).steps["canary"]  # status shows where the run was stopped, not a step still running
    assert step.status == "stopped" and step.failure is not None and "aborted by bob" in step.failure
    assert all(span.end is not None for span in step.spans)


def test_status_names_the_hosts_whose_gate_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A host that fails its health check (down, unreachable) is named in status, beside hosts whose action failed."""
    from rich.console import Console

    from golive.report.live import render_status

    world = FakeWorld(bad_hosts={"app-1"})
    r, _ = staged(tmp_path, world, [10, 50], monkeypatch)
    assert r.start() == 1
    state = fold(r.journal)
    assert state.steps["canary"].gate_failed_hosts == ["app-1"]
    render_status(state, live=False, console=Console(width=200))
    assert "app-1 (gate)" in capsys.readouterr().out


def test_a_stage_that_reports_hosts_is_judged_against_max_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-host results of a stage count against max_fail like a batch's."""
    world = FakeWorld()
    bad = ActionResult({"app-1": HostResult("app-1", False)})
    r, applied = staged(tmp_path, world, [10, 50], monkeypatch, result=bad, hosts=["app-1"])
    assert r.start() == 1
    assert applied == [10]
    assert "max_fail 0" in events(r, "step_failed")[0]["reason"]
    assert fold(r.journal).steps["canary"].failed_hosts == ["app-1"]
