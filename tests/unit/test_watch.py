"""The watch after go-live, on fake drivers and fake time: a run succeeds only after its watch; a failing
check rolls every step back (or pauses); promote ends it early, abort rolls back; resume watches on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_runner import ROOT, FakeWorld, events, make_runner

from golive.engine.state import Phase, fold
from golive.engine.watch import WATCH_STEP
from golive.plan import build_plan
from golive.runbook.load import parse_runbook

T0 = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)

RUNBOOK = """
name: watched
steps:
  - id: freeze
    ansible: {playbook: playbooks/freeze.yml, hosts: db}
    rollback: {ansible: {playbook: playbooks/unfreeze.yml, hosts: db}}
  - id: roll
    ansible: {playbook: playbooks/deploy.yml, hosts: app}
    batches: [2, 100%]
    rollback: {ansible: {playbook: playbooks/deploy.yml, hosts: app, vars: {version: old}}}
watch:
  for: 60s
  on_fail: ON_FAIL
  checks:
    - http: "http://{{ host }}/health"
      hosts: app-1
      interval: 2s
      count: 2
"""


def watched(tmp_path: Path, world: FakeWorld, *, on_fail: str = "rollback") -> Any:
    r = make_runner(tmp_path, world, text=RUNBOOK.replace("ON_FAIL", on_fail))
    r.svc.now = lambda: T0 + timedelta(seconds=world.now)
    return r


def playbooks(world: FakeWorld) -> list[tuple[str, tuple[str, ...]]]:
    return [(c[0], c[1]) for c in world.calls]


def test_a_good_release_succeeds_only_after_its_watch(tmp_path: Path) -> None:
    world = FakeWorld()
    r = watched(tmp_path, world)
    assert r.start() == 0
    assert world.now >= 60
    started = events(r, "watch_started")[0]
    assert started["seconds"] == 60 and started["until"] == (T0 + timedelta(seconds=60)).isoformat()
    assert events(r, "watch_ended")[0]["how"] == "elapsed"
    names = [e["event"] for e in r.journal.read()]
    assert names.index("watch_ended") < names.index("run_finished")
    measured = [e for e in events(r, "check_result") if e["step"] == WATCH_STEP]
    assert len(measured) >= 20  # every round, the whole minute
    assert fold(r.journal).status == "succeeded"


def test_a_check_failing_during_the_watch_rolls_every_step_back_newest_first(tmp_path: Path) -> None:
    world = FakeWorld()
    r = watched(tmp_path, world)
    world.at[30.0] = lambda: world.bad_hosts.add("app-1")
    assert r.start() == 1
    alert = events(r, "watch_alert")[0]
    assert alert["outcome"] == "fail" and alert["action"] == "rollback" and "500" in alert["reason"]
    assert events(r, "rollback_started")[0]["units"] == [
        "rollback:roll[batch 2]",
        "rollback:roll[batch 1]",
        "rollback:freeze",
    ]
    assert playbooks(world)[-3:] == [
        ("deploy.yml", ("app-3", "app-4", "app-5", "app-6", "app-7", "app-8")),
        ("deploy.yml", ("app-1", "app-2")),
        ("unfreeze.yml", ("db-1", "db-2")),
    ]
    assert not events(r, "watch_ended")
    state = fold(r.journal)
    assert state.status == "rolled_back" and state.watch_alerts


def test_on_fail_pause_waits_for_a_human_and_watches_on(tmp_path: Path) -> None:
    world = FakeWorld()
    r = watched(tmp_path, world, on_fail="pause")
    world.at[20.0] = lambda: world.bad_hosts.add("app-1")

    def resume() -> None:
        world.bad_hosts.clear()
        r.journal.append("control", run_id="r1", action="resume", by="bob")

    world.at[40.0] = resume
    assert r.start() == 0
    assert events(r, "watch_alert")[0]["action"] == "pause"
    assert events(r, "unpaused")[0]["by"] == "bob"
    assert events(r, "watch_ended")[0]["how"] == "elapsed"
    assert not events(r, "rollback_started")


def test_promote_accepts_the_release_before_the_watch_is_over(tmp_path: Path) -> None:
    world = FakeWorld()
    r = watched(tmp_path, world)
    seen: list[Any] = []

    def promote() -> None:
        seen.append(fold(r.journal).promotable)
        r.journal.append("control", run_id="r1", action="promote", by="carol")

    world.at[15.0] = promote
    assert r.start() == 0
    assert seen == ["the watch after go-live"]
    ended = events(r, "watch_ended")[0]
    assert ended["how"] == "promoted" and ended["by"] == "carol"
    assert world.now < 30


def test_abort_during_the_watch_rolls_back(tmp_path: Path) -> None:
    world = FakeWorld()
    r = watched(tmp_path, world)
    world.at[10.0] = lambda: r.journal.append("control", run_id="r1", action="abort", by="dave", reason="pager")
    assert r.start() == 1
    assert "aborted by dave" in events(r, "rollback_started")[0]["reason"]
    assert fold(r.journal).status == "rolled_back"


class Crash(BaseException):
    """The runner's process dying (nothing below the test catches it)."""


def test_resume_after_a_crash_during_the_watch_watches_for_the_time_left(tmp_path: Path) -> None:
    world = FakeWorld()
    first = watched(tmp_path, world)

    def crash() -> None:
        raise Crash

    world.at[25.0] = crash
    with pytest.raises(Crash):
        first.start()
    state = fold(first.journal)
    assert state.phase is Phase.WATCHING and state.status == "running"
    assert state.first_unfinished_step() == 2
    world.now = 40.0  # the resume comes 15 s after the crash: 20 s of the minute are left
    again = watched(tmp_path, world)
    calls = len(world.calls)
    assert again.resume(state, by="ops") == 0
    assert len(events(again, "watch_started")) == 1  # the same watch, not a new one
    assert events(again, "watch_ended")[0]["how"] == "elapsed"
    assert 60 <= world.now < 70
    assert [c[0] for c in world.calls[calls:]] == []  # nothing applied again


def test_the_plan_shows_the_watch_and_counts_it_in_the_estimate() -> None:
    from test_runner import INV

    loaded = parse_runbook(RUNBOOK.replace("ON_FAIL", "rollback"), file=str(ROOT / "w.yml"))
    plan = build_plan(loaded, root=ROOT, inventory=INV)
    without = build_plan(parse_runbook(RUNBOOK.split("watch:")[0], file=str(ROOT / "w.yml")), root=ROOT, inventory=INV)
    assert plan.watch is not None and plan.watch.seconds == 60
    assert plan.estimate_s == pytest.approx(without.estimate_s + 60)
    assert plan.watch.compensations[0] == "rollback:roll[batch 2]"
    assert plan.watch.gates[0].hosts == ["app-1"]


def test_the_report_draws_the_watch_with_its_measurements_and_the_alert_that_ended_it(tmp_path: Path) -> None:
    from golive.report.render import render_html, render_markdown
    from golive.report.run_report import build_report, gantt_of, text_timeline

    world = FakeWorld()
    r = watched(tmp_path, world)
    world.at[30.0] = lambda: world.bad_hosts.add("app-1")
    assert r.start() == 1
    report = build_report(fold(r.journal), integrity=r.journal.integrity())
    w = report["watch"]
    assert w["how"] == "alert" and w["planned_s"] == 60 and w["ended"] == w["alerts"][0]["ts"]
    assert w["alerts"][0]["action"] == "rollback" and "500" in w["alerts"][0]["reason"]
    assert w["gates"] and w["gates"][0]["measurements"][-1]["outcome"] == "fail"
    row = gantt_of(report).rows[-1]
    assert row.label == "watch" and row.of("watch") and row.of("failure") and row.of("gate-tick")
    assert text_timeline(report)[-1].startswith("watch ")
    md, html = render_markdown(report), render_html(report)
    assert "## Watch after go-live" in md and "**alert**" in md and "watch alert at" in md
    assert "<h2>Watch after go-live</h2>" in html and "watch alert at" in html


def test_a_run_that_watched_to_the_end_reports_it_elapsed_and_counts_it_in_the_estimate(tmp_path: Path) -> None:
    from golive.report.run_report import build_report

    world = FakeWorld()
    r = watched(tmp_path, world)
    assert r.start() == 0
    report = build_report(fold(r.journal), integrity=r.journal.integrity())
    assert report["watch"]["how"] == "elapsed" and not report["watch"]["alerts"]
    steps = sum(s["estimate_s"] for s in report["steps"])
    assert report["run"]["estimate_s"] == round(steps + 60, 3)
