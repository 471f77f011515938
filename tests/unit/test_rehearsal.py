"""Rehearsal faults on fake drivers and fake time: each fault fires once at its point, through the driver
contract or the gate, and the run detects it and rolls back; points and faults are checked against the plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_runner import INV, ROOT, RUNBOOK, FakeWorld, events, make_runner

from golive.engine.rehearsal import Drill, Fired, Injector, judge, matrix_points, parse_fault
from golive.errors import RunbookError
from golive.plan import build_plan
from golive.runbook.load import parse_runbook

STAGES = {"preflight": 1, "freeze": 1, "roll": 3, "done": 1}


def plan() -> Any:
    body = RUNBOOK.replace("MAX_FAIL", "0").replace("BAKE", "0s")
    return build_plan(parse_runbook(body, file=str(ROOT / "unit.yml")), root=ROOT, inventory=INV)


def rehearsed(tmp_path: Path, *texts: str, **world: Any) -> tuple[Any, FakeWorld, Injector]:
    w = FakeWorld(**world)
    r = make_runner(tmp_path, w)
    faults = [parse_fault(t, r.plan, real={}, stages=STAGES) for t in texts]
    inj = Injector(faults, real={})
    inj.install(r)
    return r, w, inj


def test_gate_fail_at_batch_2_fails_there_after_real_measurements_and_rolls_back(tmp_path: Path) -> None:
    r, _w, inj = rehearsed(tmp_path, "roll@2:gate-fail")
    assert r.start() == 1
    failed = events(r, "step_failed")[0]
    assert failed["step"] == "roll" and failed["batch"] == 2 and "injected gate-fail" in failed["reason"]
    assert [e["fault"] for e in events(r, "fault_injected")] == ["roll@2:gate-fail"]
    assert events(r, "rollback_started")[0]["units"] == [
        "rollback:roll[batch 2]",
        "rollback:roll[batch 1]",
        "rollback:freeze",
    ]
    assert len(inj.fired) == 1


def test_apply_fail_marks_the_named_host_failed(tmp_path: Path) -> None:
    r, _, _ = rehearsed(tmp_path, "roll@2:apply-fail:app-3")
    assert r.start() == 1
    result = next(e for e in events(r, "action_result") if e.get("batch") == 2 and not e.get("rollback"))
    assert result["hosts"]["app-3"]["ok"] is False and "injected apply-fail" in result["hosts"]["app-3"]["message"]
    assert result["hosts"]["app-2"]["ok"] is True


def test_inconclusive_pauses_the_run(tmp_path: Path) -> None:
    r, w, _ = rehearsed(tmp_path, "roll@1:inconclusive")
    w.at[5.0] = lambda: r.journal.append("control", run_id="r1", action="abort", by="rehearsal", reason="drill")
    assert r.start() == 1
    assert "injected inconclusive" in events(r, "paused")[0]["reason"]
    assert events(r, "run_finished")[0]["status"] == "rolled_back"


def test_rollback_fail_makes_the_compensation_of_its_step_fail_and_the_run_exit_3(tmp_path: Path) -> None:
    r, _, _ = rehearsed(tmp_path, "freeze@rollback:rollback-fail", "roll@3:gate-fail")
    assert r.start() == 3
    failed = events(r, "rollback_failed")[0]
    assert failed["not_restored"] == ["rollback:freeze"]


def test_a_fault_at_a_point_the_run_never_reaches_never_fires(tmp_path: Path) -> None:
    r, _, inj = rehearsed(tmp_path, "roll@3:gate-fail", bad_hosts={"app-1"})
    r.runbook = r.runbook.model_copy(update={"steps": [s for s in r.runbook.steps if s.id != "preflight"]})
    r.plan = r.plan.model_copy(update={"steps": [s for s in r.plan.steps if s.id != "preflight"]})
    assert r.start() == 1  # the real gate failed in batch 1
    assert inj.fired == []


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("roll@2", "write POINT:FAULT"),
        ("nope@1:gate-fail", "no failure point 'nope@1'"),
        ("roll@9:gate-fail", "has 3 batch(es)"),
        ("roll@1:melt", "unknown fault 'melt'"),
        ("roll@1:slow", "slow needs a duration"),
        ("roll@1:rollback-fail", "write roll@rollback:rollback-fail"),
        ("roll@rollback:gate-fail", "only rollback-fail"),
    ],
)
def test_bad_points_and_faults_are_refused_naming_the_valid_ones(text: str, said: str) -> None:
    with pytest.raises(RunbookError) as caught:
        parse_fault(text, plan(), real={}, stages=STAGES)
    issue = caught.value.issues[0]
    assert said in issue.message + issue.fix
    if "point" in said:
        assert "roll@1..3" in issue.fix


def test_real_faults_are_named_by_the_env() -> None:
    fault = parse_fault("roll@2:host-down:app-2", plan(), real={"host-down": "true"}, stages=STAGES)
    assert (fault.kind, fault.index, fault.arg) == ("host-down", 2, "app-2")


def test_the_matrix_strikes_every_batch_of_every_step_that_changes_something() -> None:
    assert matrix_points(plan()) == [("freeze", None, False), ("roll", 1, True), ("roll", 2, True), ("roll", 3, True)]


def test_a_drill_is_judged_by_the_snapshot_and_the_exit(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    r, _, inj = rehearsed(tmp_path, "roll@2:gate-fail")
    r.start()
    entries = r.journal.read()
    ok = judge(Drill(inj.faults), entries, code=1, diffs=[], fired=inj.fired, journal="j")
    assert ok.expected and ok.restore_s is not None and ok.detect_s is not None
    assert ok.compensations == ["rollback:roll[batch 2]", "rollback:roll[batch 1]", "rollback:freeze"]
    left = judge(Drill(inj.faults), entries, code=1, diffs=["app-3: /version v1 → v2"], fired=inj.fired, journal="j")
    assert not left.expected and "not restored" in left.why
    nothing = judge(Drill(inj.faults), entries, code=1, diffs=[], fired=[], journal="j")
    assert not nothing.expected and "no fault fired" in nothing.why
    three = judge(
        Drill([parse_fault("freeze@rollback:rollback-fail", r.plan, real={}, stages=STAGES)]),
        entries,
        code=1,
        diffs=[],
        fired=[Fired(inj.faults[0], datetime.now(UTC))],
        journal="j",
    )
    assert not three.expected and "expected exit 3" in three.why
