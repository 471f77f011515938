"""The step machine with fake drivers on fake time: order, batches, gates, rollback, controls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from golive.checks.base import Outcome, Verdict
from golive.drivers.base import ActionResult, HostResult
from golive.engine.gates import GateRunner
from golive.engine.journal import Journal
from golive.engine.runner import Runner, Services
from golive.engine.state import fold
from golive.errors import TransientError
from golive.inventory import load_inventory
from golive.plan import build_plan
from golive.runbook.load import parse_runbook
from golive.runbook.render import HostRef

ROOT = Path(__file__).resolve().parents[1] / "cases"

RUNBOOK = """
name: unit
params: {version: "2"}
previous: {version: "1"}
steps:
  - id: preflight
    check:
      - http: "http://{{ host }}/health"
        hosts: app
  - id: freeze
    ansible: {playbook: playbooks/freeze.yml, hosts: db}
    rollback: {ansible: {playbook: playbooks/unfreeze.yml, hosts: db}}
  - id: roll
    ansible: {playbook: playbooks/deploy.yml, hosts: app, vars: {version: "{{ params.version }}"}}
    batches: [1, 25%, 100%]
    max_fail: MAX_FAIL
    verify:
      - http: "http://{{ host }}/health"
    bake: BAKE
    rollback:
      ansible: {playbook: playbooks/deploy.yml, hosts: app, vars: {version: "{{ previous.version }}"}}
  - id: done
    notify: "released {{ params.version }}"
"""


@dataclass
class FakeWorld:
    """Fake drivers and time. ``bad_hosts`` fail their health check; ``down`` fail to apply."""

    now: float = 0.0
    calls: list[tuple[str, tuple[str, ...], dict[str, Any]]] = field(default_factory=list)
    bad_hosts: set[str] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    undo_fails: set[str] = field(default_factory=set)
    transient: int = 0
    at: dict[float, Callable[[], None]] = field(default_factory=dict)

    def sleep(self, s: float) -> None:
        before = self.now
        self.now += s
        for t in sorted(self.at):
            if before < t <= self.now:
                self.at.pop(t)()

    async def asleep(self, s: float) -> None:
        self.sleep(s)

    def ansible(
        self,
        *,
        playbook: Path,
        hosts: list[str],
        extravars: dict[str, Any],
        forks: int,
        timeout: float | None,
        tags: list[str] | None = None,
    ) -> ActionResult:
        self.calls.append((playbook.name, tuple(hosts), extravars))
        if self.transient:
            self.transient -= 1
            raise TransientError("connection reset")
        if playbook.name == "unfreeze.yml" and "unfreeze" in self.undo_fails:  # the db hosts stopped answering
            return ActionResult({h: HostResult(h, ok=False, unreachable=True, message="refused") for h in hosts})
        return ActionResult({h: HostResult(h, ok=h not in self.down, unreachable=h in self.down) for h in hosts})

    async def probe(self, check: Any, target: HostRef | None, ctx: dict[str, Any]) -> Verdict:
        name = target.name if target else None
        ok = name not in self.bad_hosts
        return Verdict(
            Outcome.PASS if ok else Outcome.FAIL, "http", "x", observed="200" if ok else "500", limit="200", host=name
        )

    def services(self) -> Services:
        return Services(
            drivers={"ansible": FakeAnsible(self), "ssh": FakeAnsible(self)},
            gates=lambda stop, on_v: GateRunner(probe=self.probe, sleep=self.asleep, should_stop=stop, on_verdict=on_v),
            host_of=lambda n: HostRef(n, n),
            match=INV.match,
            clock=lambda: self.now,
            sleep=self.sleep,
        )


@dataclass
class FakeAnsible:
    """The driver contract over FakeWorld: apply is a recorded playbook run, nothing is saved."""

    world: FakeWorld
    rolling: Any = None
    apply_fn: Callable[..., ActionResult] | None = None

    def apply(self, change: Any, *, save: Callable[[Any], None]) -> ActionResult:
        fn = self.apply_fn or self.world.ansible
        return fn(
            playbook=change.playbook,
            hosts=list(change.hosts),
            extravars=change.extravars,
            forks=change.forks,
            timeout=change.timeout,
            tags=change.tags,
        )


INV = load_inventory(root=ROOT, env="test")


def make_runner(
    tmp_path: Path, world: FakeWorld, *, max_fail: int = 0, bake: str = "0s", text: str | None = None
) -> Runner:
    body = text or RUNBOOK.replace("MAX_FAIL", str(max_fail)).replace("BAKE", bake)
    loaded = parse_runbook(body, file=str(ROOT / "unit.yml"))
    plan = build_plan(loaded, root=ROOT, inventory=INV)
    return Runner(
        plan=plan,
        runbook=loaded.runbook,
        journal=Journal(tmp_path / "journal.jsonl"),
        services=world.services(),
        root=ROOT,
        run_id="r1",
        initiator="alice",
    )


def events(runner: Runner, name: str) -> list[dict[str, Any]]:
    return [e for e in runner.journal.read() if e["event"] == name]


def test_good_run_does_every_step_in_order_and_the_journal_chain_verifies(tmp_path: Path) -> None:
    """A run with healthy hosts finishes with exit 0, every batch applied once, chain intact."""
    world = FakeWorld()
    r = make_runner(tmp_path, world)
    assert r.start() == 0
    assert [c[1] for c in world.calls] == [
        ("db-1", "db-2"),
        ("app-1",),
        ("app-2", "app-3"),
        ("app-4", "app-5", "app-6", "app-7", "app-8"),
    ]
    assert world.calls[1][2] == {"version": "2"}
    assert [e["step"] for e in events(r, "step_done")] == ["preflight", "freeze", "roll", "done"]
    assert r.journal.verify() == len(r.journal.read())
    assert fold(r.journal).status == "succeeded"


def test_gate_failure_in_first_batch_rolls_back_only_what_was_done_newest_first(tmp_path: Path) -> None:
    """app-1 fails its gate: its batch is undone, then the earlier freeze; later batches never run."""
    world = FakeWorld(bad_hosts={"app-1"})
    world_calls_before = len(world.calls)
    r = make_runner(tmp_path, world)
    # preflight would fail on app-1 too; make preflight pass by judging only verify of roll
    r.runbook = r.runbook.model_copy(update={"steps": [s for s in r.runbook.steps if s.id != "preflight"]})
    r.plan = r.plan.model_copy(update={"steps": [s for s in r.plan.steps if s.id != "preflight"]})
    assert r.start() == 1
    applied = [c for c in world.calls[world_calls_before:]]
    assert [(c[0], c[1]) for c in applied] == [
        ("freeze.yml", ("db-1", "db-2")),
        ("deploy.yml", ("app-1",)),
        ("deploy.yml", ("app-1",)),
        ("unfreeze.yml", ("db-1", "db-2")),
    ]
    assert applied[2][2] == {"version": "1"}  # rollback renders previous.version
    started = events(r, "rollback_started")[0]
    assert started["units"] == ["rollback:roll[batch 1]", "rollback:freeze"]
    assert fold(r.journal).status == "rolled_back"


def test_preflight_failure_changes_nothing(tmp_path: Path) -> None:
    """A failing check step before any change rolls back nothing and calls no driver."""
    world = FakeWorld(bad_hosts={"app-3"})
    r = make_runner(tmp_path, world)
    assert r.start() == 1
    assert world.calls == []
    assert events(r, "rollback_started")[0]["units"] == []


def test_unreachable_host_within_max_fail_is_tolerated_and_reported(tmp_path: Path) -> None:
    """With max_fail 1 a dead host is reported and the release goes on; with 0 it rolls back."""
    world = FakeWorld(down={"app-2"})
    r = make_runner(tmp_path, world, max_fail=1)
    r.runbook = r.runbook.model_copy(update={"steps": [s for s in r.runbook.steps if s.id != "preflight"]})
    r.plan = r.plan.model_copy(update={"steps": [s for s in r.plan.steps if s.id != "preflight"]})
    assert r.start() == 0
    assert events(r, "hosts_tolerated")[0]["hosts"] == ["app-2"]

    world2 = FakeWorld(down={"app-2"})
    r2 = make_runner(tmp_path / "b", world2, max_fail=0)
    r2.runbook = r.runbook
    r2.plan = r2.plan.model_copy(update={"steps": [s for s in r2.plan.steps if s.id != "preflight"]})
    assert r2.start() == 1
    assert events(r2, "rollback_started")[0]["units"] == [
        "rollback:roll[batch 2]",
        "rollback:roll[batch 1]",
        "rollback:freeze",
    ]


def test_a_compensation_that_keeps_failing_stops_with_exit_3_and_names_what_is_not_restored(tmp_path: Path) -> None:
    """unfreeze finds its hosts unreachable three times: exit 3, rollback_failed lists the freeze as not restored."""
    world = FakeWorld(bad_hosts={"app-1"}, undo_fails={"unfreeze"})
    r = make_runner(tmp_path, world)
    r.runbook = r.runbook.model_copy(update={"steps": [s for s in r.runbook.steps if s.id != "preflight"]})
    r.plan = r.plan.model_copy(update={"steps": [s for s in r.plan.steps if s.id != "preflight"]})
    assert r.start() == 3
    failed = events(r, "rollback_failed")[0]
    assert failed["restored"] == ["rollback:roll[batch 1]"]
    assert failed["not_restored"] == ["rollback:freeze"]
    assert len(events(r, "compensation_failed")) == 3


def test_transient_fault_is_retried_within_the_step_retries(tmp_path: Path) -> None:
    """A connection reset on apply is retried (retries: 1); no sleeping for real."""
    world = FakeWorld(transient=1)
    text = RUNBOOK.replace(
        "    ansible: {playbook: playbooks/freeze.yml, hosts: db}",
        "    retries: 1\n    ansible: {playbook: playbooks/freeze.yml, hosts: db}",
    )
    r = make_runner(tmp_path, world, text=text.replace("MAX_FAIL", "0").replace("BAKE", "0s"))
    assert r.start() == 0
    assert [c[0] for c in world.calls[:2]] == ["freeze.yml", "freeze.yml"]


def test_abort_during_bake_rolls_back(tmp_path: Path) -> None:
    """An abort control appended mid-bake ends the bake and undoes everything done."""
    world = FakeWorld()
    r = make_runner(tmp_path, world, bake="60s")
    world.at[5.0] = lambda: r.journal.append("control", run_id="r1", action="abort", by="bob")
    assert r.start() == 1
    st = fold(r.journal)
    assert st.status == "rolled_back"
    assert "aborted by bob" in events(r, "rollback_started")[0]["reason"]
    assert world.now < 60


def test_a_line_appended_to_the_journal_mid_run_is_reported_and_an_abort_after_it_still_counts(
    tmp_path: Path,
) -> None:
    world = FakeWorld()
    r = make_runner(tmp_path, world, bake="60s")

    def garbage() -> None:
        with r.journal.path.open("a") as f:
            f.write("not an entry\n")

    world.at[3.0] = garbage
    world.at[5.0] = lambda: r.journal.append("control", run_id="r1", action="abort", by="bob")
    assert r.start() == 1
    damaged: list[int] = []
    seen = [e["event"] for e in r.journal.entries(on_damage=lambda exc: damaged.append(exc.line))]
    assert seen.count("journal_damaged") == 1 and len(damaged) == 1
    assert "rollback_started" in seen and seen[-1] == "run_finished"
    assert world.now < 60


def test_promote_ends_bake_early_and_is_journaled_with_who(tmp_path: Path) -> None:
    """promote during a 60 s bake ends that bake at once and records who promoted."""
    world = FakeWorld()
    r = make_runner(tmp_path, world, bake="60s")
    world.at[3.0] = lambda: r.journal.append("control", run_id="r1", action="promote", by="carol")
    assert r.start() == 0
    promoted = events(r, "bake_promoted")
    assert promoted[0]["by"] == "carol" and promoted[0]["batch"] == 1
    assert 120 <= world.now < 190  # batch 1 promoted at ~3 s, batches 2 and 3 baked 60 s each


APPROVAL = """
name: approvals
steps:
  - id: change
    ansible: {playbook: playbooks/freeze.yml, hosts: db}
    rollback: {ansible: {playbook: playbooks/unfreeze.yml, hosts: db}}
  - id: approve
    approval: {approvers: 2, exclude_initiator: true, timeout: 10m}
  - id: after
    notify: go
"""


def test_two_person_approval_refuses_initiator_duplicates_and_stale_digests(tmp_path: Path) -> None:
    """alice (initiator), a stale digest and bob twice are refused; bob + carol let it go on."""
    world = FakeWorld()
    r = make_runner(tmp_path, world, text=APPROVAL)
    d = r.plan.digest

    def vote(by: str, digest: str = d) -> Callable[[], None]:
        return lambda: r.journal.append("control", run_id="r1", action="approve", by=by, digest=digest)

    world.at.update(
        {1.0: vote("alice"), 2.0: vote("bob", "f" * 64), 3.0: vote("bob"), 4.0: vote("bob"), 5.0: vote("carol")}
    )
    assert r.start() == 0
    refused = [e["reason"] for e in events(r, "approval_refused")]
    assert len(refused) == 3
    assert "two-person" in refused[0] and "plan" in refused[1] and "already approved" in refused[2]
    assert events(r, "approval_granted")[0]["approvers"] == ["bob", "carol"]


def test_rejection_rolls_back_with_exit_4(tmp_path: Path) -> None:
    """A rejection at the approval step undoes what was done before it and exits 4."""
    world = FakeWorld()
    r = make_runner(tmp_path, world, text=APPROVAL)
    world.at[2.0] = lambda: r.journal.append("control", run_id="r1", action="reject", by="bob", reason="not now")
    assert r.start() == 4
    assert [c[0] for c in world.calls] == ["freeze.yml", "unfreeze.yml"]


def test_inconclusive_gate_pauses_until_resumed(tmp_path: Path) -> None:
    """No data from a gate pauses the run; a resume control lets it go on."""
    world = FakeWorld()
    r = make_runner(tmp_path, world)

    async def no_data(check: Any, target: HostRef | None, ctx: dict[str, Any]) -> Verdict:
        return Verdict(Outcome.INCONCLUSIVE, "http", "x", observed="no data", limit="200")

    r.svc.gates = lambda stop, on_v: GateRunner(probe=no_data, sleep=world.asleep, should_stop=stop, on_verdict=on_v)
    world.at[30.0] = lambda: r.journal.append("control", run_id="r1", action="resume", by="dave")
    r.runbook = r.runbook.model_copy(update={"steps": r.runbook.steps[:1]})
    r.plan = r.plan.model_copy(update={"steps": r.plan.steps[:1]})
    assert r.start() == 0
    assert events(r, "paused")[0]["step"] == "preflight"
    assert events(r, "unpaused")[0]["by"] == "dave"
    skipped = events(r, "gate_skipped")
    assert len(skipped) == 1 and skipped[0]["by"] == "dave" and "no data" in skipped[0]["reason"]
    assert not events(r, "gate_passed"), "a gate nobody measured again is never journaled as passed"
    step = fold(r.journal).steps["preflight"]
    assert step.last_gate.startswith("skipped by dave at ") and step.last_gate.endswith("(gate inconclusive)")
    assert [s.outcome for s in step.spans if s.kind == "pause"] == [f"gate {step.last_gate}"]


def test_resume_continues_from_first_unfinished_batch_after_reverifying(tmp_path: Path) -> None:
    """After a crash in batch 2, resume re-verifies, redoes batch 2, then batch 3, and keeps the undo list."""
    world = FakeWorld()
    r = make_runner(tmp_path, world)

    class Crash(BaseException):
        pass

    original = world.ansible

    def crash_on_batch2(**kw: Any) -> ActionResult:
        if kw["hosts"] == ["app-2", "app-3"]:
            raise Crash()
        return original(**kw)

    r.svc.drivers["ansible"].apply_fn = crash_on_batch2
    with pytest.raises(Crash):
        r.start()
    state = fold(r.journal)
    assert state.steps["roll"].batches_done == [1]
    world.calls.clear()
    r2 = make_runner(tmp_path, world)
    assert r2.resume(state, by="erin") == 0
    assert [c[1] for c in world.calls] == [("app-2", "app-3"), ("app-4", "app-5", "app-6", "app-7", "app-8")]
    assert events(r2, "reverify_started")[0]["step"] == "freeze"
    assert [u.name for u in r2.units][:2] == ["rollback:freeze", "rollback:roll[batch 1]"]


def test_a_permanent_compensation_failure_is_not_retried(tmp_path: Path) -> None:
    """A rollback play that fails for good is tried once: exit 3, one failed attempt, marked permanent."""
    world = FakeWorld(bad_hosts={"app-1"})
    r = make_runner(tmp_path, world)
    r.runbook = r.runbook.model_copy(update={"steps": [s for s in r.runbook.steps if s.id != "preflight"]})
    r.plan = r.plan.model_copy(update={"steps": [s for s in r.plan.steps if s.id != "preflight"]})
    original = world.ansible

    def failing_unfreeze(**kw: Any) -> ActionResult:
        if kw["playbook"].name == "unfreeze.yml":
            return ActionResult({h: HostResult(h, ok=False, message="boom") for h in kw["hosts"]})
        return original(**kw)

    r.svc.drivers["ansible"].apply_fn = failing_unfreeze
    assert r.start() == 3
    failed = events(r, "compensation_failed")
    assert len(failed) == 1 and failed[0]["permanent"] is True
    assert [c[0] for c in world.calls].count("unfreeze.yml") == 0  # failing_unfreeze records nothing itself
    assert events(r, "rollback_failed")[0]["not_restored"] == ["rollback:freeze"]


def test_resume_after_a_crash_during_rollback_goes_on_rolling_back_and_never_forward(tmp_path: Path) -> None:
    """Killed while undoing batch 1, a resumed run undoes what is left; it never re-applies the release."""
    world = FakeWorld(bad_hosts={"app-1"})
    r = make_runner(tmp_path, world)
    r.runbook = r.runbook.model_copy(update={"steps": [s for s in r.runbook.steps if s.id != "preflight"]})
    r.plan = r.plan.model_copy(update={"steps": [s for s in r.plan.steps if s.id != "preflight"]})

    class Crash(BaseException):
        pass

    original = world.ansible

    def crash_on_unfreeze(**kw: Any) -> ActionResult:
        if kw["playbook"].name == "unfreeze.yml":
            raise Crash()
        return original(**kw)

    r.svc.drivers["ansible"].apply_fn = crash_on_unfreeze
    with pytest.raises(Crash):
        r.start()
    state = fold(r.journal)
    assert state.phase.value == "rolling_back" and state.compensated == ["rollback:roll[batch 1]"]
    world.calls.clear()
    r2 = make_runner(tmp_path, world)
    r2.runbook, r2.plan = r.runbook, r.plan
    assert r2.resume(state, by="erin") == 1
    assert [c[0] for c in world.calls] == ["unfreeze.yml"]  # nothing of the release again
    assert events(r2, "run_resumed")[-1]["from_step"] is None
    assert events(r2, "rollback_resumed")[0]["units"] == ["rollback:freeze"]
    assert fold(r.journal).status == "rolled_back"
