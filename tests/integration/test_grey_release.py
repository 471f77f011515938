"""Grey releases judged by the lab's Prometheus: error-ratio gates, baselines, a silent Prometheus, promote.

The runs are driven like those of test_engine.py (whose project fixture and helpers this
module uses): the real ``golive`` command in a subprocess against the session lab. The
lab's Prometheus scrapes every demo service each second and its traffic generator keeps
``/work`` busy on every host, so an error ratio of one host moves within seconds of a
deploy. Every host a test changed is put back on v1 and Prometheus is always thawed.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from kit import run_end
from test_engine import (  # the shared tmp-project and subprocess helpers
    EXIT_FAILED,
    EXIT_OK,
    Project,
    deploy_step,
    deploy_v1,
    eventually,
    first,
    has,
    host_file,
    host_ip,
    release,
    versions,
)
from tests.report_checks import check_report_against_journal

from golive_lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(600)]


# The 5xx share of everything one host answered in the last 5 s (instance is "<ip>:8080").
HOST_ERROR_RATIO = (
    'sum(rate(http_requests_total{instance=~"{{ host }}:8080",code=~"5.."}[5s]))'
    ' / sum(rate(http_requests_total{instance=~"{{ host }}:8080"}[5s]))'
)
# The same over every host still serving the version being replaced: the stable side.
STABLE_ERROR_RATIO = (
    'sum(rate(http_requests_total{version="{{ previous.version }}",code=~"5.."}[5s]))'
    ' / sum(rate(http_requests_total{version="{{ previous.version }}"}[5s]))'
)
GATE_DETECTION_S = 15.0


def prometheus_url(lab: Lab) -> str:
    state = lab.load()
    assert state is not None and state.prometheus.url, "the lab has no Prometheus"
    return state.prometheus.url


def error_gate(lab: Lab, **fields: Any) -> dict[str, Any]:
    """A Prometheus gate on the host's error ratio; ``url:`` because the lab inventory names no Prometheus."""
    return {"prometheus": HOST_ERROR_RATIO, "url": prometheus_url(lab), "interval": "1s", **fields}


def seconds(entries: list[dict[str, Any]], start: int, end: int) -> float:
    """Time between two journal entries, from their timestamps."""
    t0, t1 = (datetime.fromisoformat(entries[i]["ts"]) for i in (start, end))
    return (t1 - t0).total_seconds()


def has_data(lab: Lab, query: str) -> bool:
    """Prometheus answers ``query`` with at least one sample (it is scraping again)."""
    try:
        resp = httpx.get(f"{prometheus_url(lab)}/api/v1/query", params={"query": query}, timeout=2.0)
        return resp.status_code == 200 and bool(resp.json()["data"]["result"])
    except httpx.HTTPError:
        return False


@contextmanager
def prometheus_control(lab: Lab) -> Iterator[dict[str, Any]]:
    """``freeze()``/``thaw()`` the lab's Prometheus with SIGSTOP/SIGCONT; it is always thawed on the way out.

    A stopped process keeps its socket, so queries connect and then time out: the lab
    stays intact and nothing has to be restarted.
    """
    state = lab.load()
    assert state is not None and state.prometheus.alive(), "the lab's Prometheus is not running"
    pid = state.prometheus.pid
    assert pid

    def freeze() -> None:
        os.kill(pid, signal.SIGSTOP)

    def thaw() -> None:
        os.kill(pid, signal.SIGCONT)

    try:
        yield {"freeze": freeze, "thaw": thaw}
    finally:
        thaw()


def run_id_of(project: Project, *, other_than: set[str], what: str) -> str:
    """The id of the run started last (one not in ``other_than``) once its journal exists."""

    def probe() -> str | None:
        for j in project.journals():
            entries = j.read()
            if entries and entries[0]["run_id"] not in other_than:
                return str(entries[0]["run_id"])
        return None

    found: str = eventually(probe, timeout=60, what=what)
    return found


# ------------------------------------------------------------------ metric gates


def test_v2_bad_fails_the_prometheus_error_ratio_gate_of_batch_1_within_seconds_and_is_rolled_back(
    project: Project, lab: Lab
) -> None:
    """v2-bad's 5xx ratio breaks a max-0.05 Prometheus gate a few scrapes after batch 1; batch 1 is undone."""
    hosts = ["app-7", "app-8"]
    assert versions(lab, hosts) == dict.fromkeys(hosts, "v1")
    # No HTTP gate: v2-bad's slow /health must not be what stops the release.
    gate = error_gate(lab, max=0.05, count=8, failure_limit=1, consecutive_errors=3)
    rb = project.runbook(
        "grey-bad", release("grey-bad", [deploy_step(hosts="app-7,app-8", batches=[1, "100%"], verify=[gate])])
    )
    try:
        done = project.run(rb, "-p", "version=v2-bad")
        assert done.returncode == EXIT_FAILED, done.stderr[-4000:]

        journal = project.only_journal()
        entries = journal.read()
        assert journal.verify() == len(entries)
        applied = first(entries, "action_result", step="roll", batch=1)
        failed = first(entries, "gate_failed", step="roll", batch=1)
        assert 0 <= applied < failed, done.stderr[-4000:]
        assert entries[failed]["outcome"] == "fail"
        assert "> max 0.05" in entries[failed]["reason"]
        took = seconds(entries, applied, failed)
        assert took <= GATE_DETECTION_S, f"the gate needed {took:.1f}s to see v2-bad's errors"

        measured = [e for e in entries[applied:failed] if e["event"] == "check_result"]
        assert measured and all(e["check"] == "prometheus" for e in measured)
        assert {e["host"] for e in measured} == {"app-7"}, "the query must be measured per host of the batch"
        assert '"127.0.0.' in measured[-1]["target"], "{{ host }} renders as the host's address"
        assert measured[-1]["outcome"] == "fail" and measured[-1]["value"] > 0.05
        assert 2 <= len(measured) < 8, "failure_limit 1: the second failed measurement ends the gate"

        assert [e["batch"] for e in entries if e["event"] == "batch_started"] == [1]
        started = first(entries, "rollback_started")
        assert started > failed
        assert entries[started]["units"] == ["rollback:roll[batch 1]"]
        assert first(entries, "compensation_done", unit="rollback:roll[batch 1]") > started
        assert run_end(entries)["event"] == "run_finished" and run_end(entries)["status"] == "rolled_back"
        assert versions(lab, hosts) == dict.fromkeys(hosts, "v1")
    finally:
        deploy_v1(lab, hosts)


def test_a_canary_under_the_absolute_limit_but_worse_than_the_stable_baseline_fails_on_the_baseline(
    project: Project, lab: Lab
) -> None:
    """A canary error ratio below max 0.9 but more than 0.05 above the v1 hosts' fails the gate on its baseline rule."""
    host = "app-8"
    assert versions(lab, [host]) == {host: "v1"}
    gate = error_gate(
        lab,
        max=0.9,
        baseline={"query": STABLE_ERROR_RATIO, "max_delta": 0.05},
        count=8,
        failure_limit=1,
        consecutive_errors=3,
    )
    rb = project.runbook("grey-baseline", release("grey-baseline", [deploy_step(hosts=host, verify=[gate])]))
    try:
        done = project.run(rb, "-p", "version=v2-bad")
        assert done.returncode == EXIT_FAILED, done.stderr[-4000:]

        entries = project.only_journal().read()
        failed = first(entries, "gate_failed", step="roll")
        assert failed >= 0, done.stderr[-4000:]
        reason = entries[failed]["reason"]
        assert entries[failed]["outcome"] == "fail"
        assert "baseline" in reason and "+ 0.05" in reason, reason
        assert "> max" not in reason, f"the absolute limit must hold: {reason}"

        worst = [e for e in entries[:failed] if e["event"] == "check_result" and e["outcome"] == "fail"][-1]
        assert worst["host"] == host and 0.05 < worst["value"] < 0.9
        assert "baseline" in worst["observed"]
        assert first(entries, "compensation_done", unit="rollback:roll") > failed
        assert run_end(entries)["status"] == "rolled_back"
        assert versions(lab, [host]) == {host: "v1"}
    finally:
        deploy_v1(lab, [host])


# ------------------------------------------------------------------ Prometheus gone quiet mid-bake


def quiet_runbook(lab: Lab, *, host: str, marker: str, tag: str) -> dict[str, Any]:
    """A change on ``host`` baked with a Prometheus analysis check that gives up after two silent queries."""
    analysis = error_gate(lab, max=0.05, count=3, consecutive_errors=1, timeout="2s")
    return {
        "name": "grey-quiet",
        "owner": "ops-test",
        "params": {"tag": tag},
        "steps": [
            {
                "id": "mark",
                "ssh": {"hosts": host, "command": f"echo {{{{ params.tag }}}} > {marker}"},
                "verify": [analysis],
                "bake": "20s",
                "rollback": {"ssh": {"hosts": host, "command": f"rm -f {marker}"}},
            },
            {"id": "after", "notify": "baked"},
        ],
    }


def test_a_silent_prometheus_mid_bake_pauses_the_run_then_resume_continues_and_abort_rolls_back(
    project: Project, lab: Lab
) -> None:
    """A frozen Prometheus makes the bake's analysis INCONCLUSIVE so the run pauses; resume finishes, abort undoes."""
    host, marker = "db-1", "/srv/grey-quiet"
    local = host_file(lab, host, marker)
    host_query = HOST_ERROR_RATIO.replace("{{ host }}", host_ip(lab, host))
    with prometheus_control(lab) as prom:
        try:
            # Run 1: pause, Prometheus comes back, `golive resume` lets the run finish.
            rb = project.runbook("quiet-1", quiet_runbook(lab, host=host, marker=marker, tag="resumed"))
            proc = project.start(rb, log_name="resume-run")
            journal = project.wait_journal(has("bake_started", step="mark"), timeout=120, what="the bake to start")
            run_id = journal.read()[0]["run_id"]
            prom["freeze"]()
            project.wait_journal(has("paused", step="mark"), timeout=60, what="the run to pause")
            assert proc.poll() is None, "an inconclusive gate must pause the run, not end it"
            prom["thaw"]()
            eventually(lambda: has_data(lab, host_query), timeout=30, what="Prometheus to have fresh samples")
            resumed = project.golive("resume", run_id, "--as", "oncall")
            assert resumed.returncode == EXIT_OK, resumed.stdout + resumed.stderr
            assert project.wait_exit(proc, timeout=120) == EXIT_OK, project.output("resume-run")

            entries = journal.read()
            assert journal.verify() == len(entries)
            baking = first(entries, "bake_started", step="mark")
            inconclusive = first(entries, "gate_failed", step="mark", outcome="inconclusive")
            assert inconclusive > baking, "the verdict comes from the analysis that runs while baking"
            assert "no usable measurement" in entries[inconclusive]["reason"]
            silent = [e for e in entries[baking:inconclusive] if e["event"] == "check_result"]
            assert silent[-1]["outcome"] == "inconclusive" and "did not answer" in silent[-1]["message"]
            paused = first(entries, "paused", step="mark")
            unpaused = first(entries, "unpaused", step="mark", by="oncall")
            assert inconclusive < paused < unpaused < first(entries, "bake_done", step="mark")
            assert first(entries, "step_done", step="after") > unpaused
            assert "rollback_started" not in [e["event"] for e in entries]
            assert run_end(entries)["status"] == "succeeded"
            assert local.read_text() == "resumed\n"

            # Run 2: the same pause, answered with `golive abort`: the change is undone, exit 1.
            rb = project.runbook("quiet-2", quiet_runbook(lab, host=host, marker=marker, tag="aborted"))
            proc = project.start(rb, log_name="abort-run")
            second = run_id_of(project, other_than={run_id}, what="the second run")
            journal = project.wait_journal(
                lambda e: bool(e) and e[0]["run_id"] == second and has("bake_started", step="mark")(e),
                timeout=120,
                what="the second bake to start",
            )
            assert local.read_text() == "aborted\n"
            prom["freeze"]()
            project.wait_journal(
                lambda e: bool(e) and e[0]["run_id"] == second and has("paused", step="mark")(e),
                timeout=60,
                what="the second run to pause",
            )
            aborted = project.golive("abort", second, "--as", "oncall", "--reason", "metrics blind")
            assert aborted.returncode == EXIT_OK, aborted.stdout + aborted.stderr
            assert project.wait_exit(proc, timeout=120) == EXIT_FAILED, project.output("abort-run")
            prom["thaw"]()

            entries = journal.read()
            assert journal.verify() == len(entries)
            started = first(entries, "rollback_started")
            assert first(entries, "paused", step="mark") < first(entries, "control", action="abort") < started
            assert "metrics blind" in entries[started]["reason"]
            assert first(entries, "compensation_done", unit="rollback:mark") > started
            assert first(entries, "step_started", step="after") == -1
            assert run_end(entries)["status"] == "rolled_back"
            assert not local.exists()
            report = check_report_against_journal(project, entries, project.root)
            assert [(c["action"], c["by"]) for c in report["controls"]] == [("abort", "oncall")]
            mark = next(s for s in report["steps"] if s["id"] == "mark")
            assert "pause" in [w["kind"] for w in mark["waits"]]
        finally:
            local.unlink(missing_ok=True)


# ------------------------------------------------------------------ promote


def test_promote_ends_a_long_bake_with_analysis_early_and_names_who_promoted(project: Project, lab: Lab) -> None:
    """`golive promote RUN --as lead` during a 120 s bake with Prometheus analysis ends the bake; the run goes on."""
    host, marker = "db-2", "/srv/grey-promote"
    local = host_file(lab, host, marker)
    rb = project.runbook(
        "promote",
        {
            "name": "grey-promote",
            "owner": "ops-test",
            "steps": [
                {
                    "id": "mark",
                    "ssh": {"hosts": host, "command": f"echo promoted > {marker}"},
                    "verify": [error_gate(lab, max=0.05, count=2)],
                    "bake": "120s",
                    "rollback": {"ssh": {"hosts": host, "command": f"rm -f {marker}"}},
                },
                {"id": "after", "notify": "promoted"},
            ],
        },
    )
    try:
        proc = project.start(rb)
        journal = project.wait_journal(has("bake_started", step="mark"), timeout=120, what="the bake to start")
        run_id = journal.read()[0]["run_id"]
        # Promote once the analysis has measured during the bake, so both are seen working together.
        project.wait_journal(
            lambda e: (
                first(e, "check_result", host=host) >= 0
                and first(e[first(e, "bake_started") :], "check_result", host=host) >= 0
            ),
            timeout=30,
            what="an analysis measurement during the bake",
        )
        promoted = project.golive("promote", run_id, "--as", "lead")
        assert promoted.returncode == EXIT_OK, promoted.stdout + promoted.stderr
        assert project.wait_exit(proc, timeout=60) == EXIT_OK, project.output()

        entries = journal.read()
        assert journal.verify() == len(entries)
        baking = first(entries, "bake_started", step="mark")
        done = first(entries, "bake_done", step="mark", how="promoted")
        assert baking < first(entries, "bake_promoted", step="mark", by="lead") < done
        took = seconds(entries, baking, done)
        assert took < 60, f"the 120 s bake lasted {took:.1f}s despite the promote"
        assert first(entries, "gate_failed") == -1
        assert first(entries, "step_done", step="after") > done
        assert run_end(entries)["status"] == "succeeded"
        assert local.read_text() == "promoted\n"
        report = check_report_against_journal(project, entries, project.root)
        assert [(c["action"], c["by"]) for c in report["controls"]] == [("promote", "lead")]
        mark = next(s for s in report["steps"] if s["id"] == "mark")
        assert [(w["kind"], w["outcome"]) for w in mark["waits"]] == [("bake", "promoted")]
    finally:
        local.unlink(missing_ok=True)
