"""Journals of runs written by hand with a fake clock, for report tests (unit and browser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.entries import run_started

import golive.engine.journal as journal_mod
from golive.engine.journal import Journal

__all__ = ["OK", "STEPS", "FakeClock", "approval_journal", "clock", "rolled_back_journal"]

T0 = datetime(2026, 1, 10, 1, 0, 0, tzinfo=UTC)
OK = {"ok": True, "message": "", "changed": True}


class FakeClock:
    """Journal timestamps that move only when the test says so."""

    def __init__(self) -> None:
        self.t = T0

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)

    def __call__(self) -> str:
        return self.t.isoformat(timespec="milliseconds")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    c = FakeClock()
    monkeypatch.setattr(journal_mod, "_now", c)
    return c


STEPS = [
    {"id": "preflight", "kind": "check", "owner": "ops", "action": "1 check(s)", "estimate_s": 2.0},
    {
        "id": "roll-app",
        "kind": "ansible",
        "owner": "payments",
        "action": "playbook deploy.yml on app",
        "estimate_s": 20.0,
    },
    {"id": "approve", "kind": "approval", "owner": "ops", "action": "1 approver(s)", "estimate_s": 5.0},
    {"id": "switch", "kind": "ssh", "owner": None, "action": "1 command(s) on lb", "estimate_s": 3.0},
]


def _check(j: Journal, step: str, batch: int | None, value: float, outcome: str = "pass") -> None:
    j.append(
        "check_result", run_id="r1", step=step, batch=batch, outcome=outcome, check="prometheus",
        target="error_rate", observed=f"{value}", limit="<= 0.01", host=None, value=value, message="",
    )  # fmt: skip


def rolled_back_journal(path: Path, clock: FakeClock) -> Journal:
    """preflight passes, roll-app batch 1 passes its gate and bake, approval granted, batch 2 fails its gate,
    then both batches are undone, newest first."""
    j = Journal(path)
    j.append("run_started", **run_started("r1", steps=STEPS, env="staging", params={"v": "2"}))
    j.append("step_started", run_id="r1", step="preflight", index=0, kind="check")
    clock.advance(1)
    _check(j, "preflight", None, 0.0)
    j.append("step_done", run_id="r1", step="preflight")
    j.append("step_started", run_id="r1", step="roll-app", index=1, kind="ansible")
    j.append("batch_started", run_id="r1", step="roll-app", batch=1, hosts=["app1"], unit_batch=1)
    clock.advance(3)
    j.append("action_result", run_id="r1", step="roll-app", batch=1, ok=True, hosts={"app1": OK},
             unit="rollback:roll-app[batch 1]")  # fmt: skip
    for v in (0.001, 0.002):
        clock.advance(1)
        _check(j, "roll-app", 1, v)
    j.append("gate_passed", run_id="r1", step="roll-app", batch=1, checks=1, measurements=2)
    j.append("bake_started", run_id="r1", step="roll-app", batch=1, seconds=5.0)
    clock.advance(2)
    j.append("control", run_id="r1", action="promote", by="alice")
    j.append("bake_promoted", run_id="r1", step="roll-app", batch=1, by="alice")
    j.append("bake_done", run_id="r1", step="roll-app", batch=1, how="promoted")
    j.append("batch_done", run_id="r1", step="roll-app", batch=1, hosts=["app1"], failed_hosts=[])
    j.append("batch_started", run_id="r1", step="roll-app", batch=2, hosts=["app2", "app3"], unit_batch=2)
    clock.advance(3)
    j.append("action_result", run_id="r1", step="roll-app", batch=2, ok=True, hosts={"app2": OK, "app3": OK},
             unit="rollback:roll-app[batch 2]")  # fmt: skip
    clock.advance(1)
    _check(j, "roll-app", 2, 0.2, "fail")
    j.append("gate_failed", run_id="r1", step="roll-app", batch=2, outcome="fail", reason="error_rate 0.2 > 0.01")
    j.append("step_failed", run_id="r1", step="roll-app", batch=2, reason="gate failed: error_rate 0.2 > 0.01")
    j.append("rollback_started", run_id="r1", reason="roll-app failed",
             units=["rollback:roll-app[batch 2]", "rollback:roll-app[batch 1]"])  # fmt: skip
    for unit, hosts, batch in (
        ("rollback:roll-app[batch 2]", ["app2", "app3"], 2),
        ("rollback:roll-app[batch 1]", ["app1"], 1),
    ):
        j.append("compensation_started", run_id="r1", unit=unit, step="roll-app", batch=batch, hosts=hosts)
        clock.advance(2)
        j.append("compensation_done", run_id="r1", unit=unit)
    j.append("rollback_done", run_id="r1", restored=["rollback:roll-app[batch 2]", "rollback:roll-app[batch 1]"])
    j.append("run_finished", run_id="r1", status="rolled_back", exit_code=1, reason="roll-app failed")
    return j


def approval_journal(path: Path, clock: FakeClock, *, finish: bool = True) -> Journal:
    """An approval step granted by bob on the plan digest, then a switch; unfinished if asked."""
    j = Journal(path)
    j.append("run_started", **run_started("r1", steps=STEPS[2:]))
    j.append("step_started", run_id="r1", step="approve", index=0, kind="approval")
    j.append("approval_requested", run_id="r1", step="approve", digest="d" * 64, approvers=1,
             exclude_initiator=True, initiator="tester", timeout_s=60.0, message=None, next_steps=["switch"],
             flow_run_id=None, howto="golive approve")  # fmt: skip
    clock.advance(4)
    j.append("control", run_id="r1", action="approve", by="bob", comment="looks good", digest="d" * 64, step="approve")
    j.append("approval_accepted", run_id="r1", step="approve", by="bob", comment="looks good", count=1, needed=1,
             source="cli")  # fmt: skip
    j.append("approval_granted", run_id="r1", step="approve", approvers=["bob"])
    j.append("step_done", run_id="r1", step="approve")
    j.append("step_started", run_id="r1", step="switch", index=1, kind="ssh")
    clock.advance(2)
    if finish:
        j.append("action_result", run_id="r1", step="switch", batch=None, ok=True, hosts={"lb1": OK},
                 unit="rollback:switch")  # fmt: skip
        j.append("step_done", run_id="r1", step="switch")
        j.append("run_finished", run_id="r1", status="succeeded", exit_code=0)
    return j
