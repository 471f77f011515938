"""golive run end to end against the lab: releases, gates, rollback, faults, resume, controls.

Every test drives the real ``golive`` command in a subprocess (no stdin, as in CI) with a
runbook written into a throw-away project whose ``inventory/lab`` is the session lab's
inventory. Tests use their own hosts where they can and put every host they changed
back on v1 afterwards, so the order they run in does not matter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kit import BIN, REPO, RUN_TIMEOUT_S, Project, eventually, run_end
from tests.report_checks import check_report_against_journal

from golive.engine.journal import Journal
from golive_lab.hosts import APP_PORT
from golive_lab.lab import Lab, load_state

pytestmark = [pytest.mark.lab, pytest.mark.timeout(600)]

EXIT_OK, EXIT_FAILED, EXIT_ROLLBACK_FAILED, EXIT_REFUSED = 0, 1, 3, 4


# ------------------------------------------------------------------ helpers


def host_ip(lab: Lab, host: str) -> str:
    state = load_state(lab.dir)
    assert state is not None, "the lab has no state"
    return state.host(host).ip


def version_of(lab: Lab, host: str) -> str:
    """What the host's demo service answers on /version, or a short reason it did not answer."""
    try:
        return httpx.get(f"http://{host_ip(lab, host)}:{APP_PORT}/version", timeout=3.0).text.strip()
    except httpx.HTTPError as exc:
        return f"no answer: {type(exc).__name__}"


def versions(lab: Lab, hosts: list[str]) -> dict[str, str]:
    return {h: version_of(lab, h) for h in hosts}


def host_file(lab: Lab, host: str, path: str) -> Path:
    """Where a path under the host's /srv lives on this machine (the lab keeps it under its dir)."""
    assert path.startswith("/srv/")
    return lab.dir / "hosts" / host / "srv" / path.removeprefix("/srv/")


def deploy_v1(lab: Lab, hosts: list[str]) -> None:
    """Put every host that does not serve v1 back on v1 with the lab's own deploy playbook."""
    off = [h for h in hosts if version_of(lab, h) != "v1"]
    if not off:
        return
    env = {**os.environ, "GOLIVE_LAB_DIR": str(lab.dir), "ANSIBLE_CONFIG": str(lab.dir / "ansible.cfg")}
    cmd = [
        str(BIN / "ansible-playbook"),
        "-i",
        str(lab.dir / "inventory"),
        str(REPO / "playbooks" / "deploy.yml"),
        "-e",
        "version=v1",
        "-l",
        ",".join(off),
    ]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"restoring v1 on {off} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def events(journal: Journal) -> list[str]:
    return [e["event"] for e in journal.read()]


def first(entries: list[dict[str, Any]], event: str, **match: Any) -> int:
    """Index of the first entry of ``event`` whose fields include ``match``; -1 when there is none."""
    for i, e in enumerate(entries):
        if e["event"] == event and all(e.get(k) == v for k, v in match.items()):
            return i
    return -1


def has(event: str, **match: Any) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda entries: first(entries, event, **match) >= 0


def deploy_step(
    *,
    hosts: str,
    version: str = "{{ params.version }}",
    batches: list[int | str] | None = None,
    max_fail: int = 0,
    bake: str = "0s",
    verify: list[dict[str, Any]] | None = None,
    step_id: str = "roll",
) -> dict[str, Any]:
    step: dict[str, Any] = {
        "id": step_id,
        "ansible": {"playbook": "playbooks/deploy.yml", "hosts": hosts, "vars": {"version": version}},
        "max_fail": max_fail,
        "verify": verify if verify is not None else [HEALTH_GATE],
        "bake": bake,
        "rollback": {
            "ansible": {
                "playbook": "playbooks/deploy.yml",
                "hosts": hosts,
                "vars": {"version": "{{ previous.version }}"},
            }
        },
    }
    if batches is not None:
        step["batches"] = batches
    return step


HEALTH_GATE: dict[str, Any] = {
    "http": "http://{{ host }}:8080/health",
    "expect": {"status": 200, "max_latency": "2s"},
    "count": 1,
}
VERSION_GATE: dict[str, Any] = {
    "http": "http://{{ host }}:8080/version",
    "expect": {"status": 200, "body": "{{ params.version }}"},
    "count": 1,
}


def release(name: str, steps: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    return {
        "name": name,
        "owner": "ops-test",
        "params": {"version": "v2", **params},
        "previous": {"version": "v1"},
        "steps": steps,
    }


def prefect_task_names(api_url: str, run_id: str) -> set[str]:
    """Names of the task runs of the Prefect flow run named after a golive run."""
    resp = httpx.post(
        f"{api_url.rstrip('/')}/task_runs/filter",
        json={"flow_runs": {"name": {"any_": [run_id]}}, "limit": 200},
        timeout=10.0,
    )
    resp.raise_for_status()
    return {str(t["name"]) for t in resp.json()}


def prefect_flow_runs(api_url: str, run_id: str) -> list[dict[str, Any]]:
    """The Prefect flow runs named ``run_id`` (a resumed run has one per process)."""
    resp = httpx.post(
        f"{api_url.rstrip('/')}/flow_runs/filter",
        json={"flow_runs": {"name": {"any_": [run_id]}}, "limit": 5},
        timeout=10.0,
    )
    resp.raise_for_status()
    return [dict(r) for r in resp.json()]


def prefect_flow_states(api_url: str, run_id: str) -> list[str]:
    return [str(r["state_type"]) for r in prefect_flow_runs(api_url, run_id)]


def prefect_flow_run(api_url: str, run_id: str) -> dict[str, Any] | None:
    runs = prefect_flow_runs(api_url, run_id)
    return runs[0] if runs else None


def prefect_flow_state(api_url: str, run_id: str) -> str | None:
    run = prefect_flow_run(api_url, run_id)
    return str(run["state_type"]) if run else None


# ------------------------------------------------------------------ releases


def test_good_release_reaches_every_host_with_a_sound_journal_and_prefect_task_runs(
    project: Project, lab: Lab, lab_env: dict[str, str]
) -> None:
    """A good release moves every targeted host from v1 to v2, exits 0, and leaves a verified journal and task runs."""
    hosts = ["app-1", "app-2"]
    assert versions(lab, hosts) == dict.fromkeys(hosts, "v1")
    rb = project.runbook(
        "good",
        release(
            "engine-good",
            [
                {"id": "preflight", "check": [{**HEALTH_GATE, "hosts": "app-1,app-2"}]},
                deploy_step(hosts="app-1,app-2", batches=[1, "100%"], verify=[VERSION_GATE, HEALTH_GATE]),
                {"id": "announce", "notify": "{{ params.version }} is live"},
            ],
        ),
    )
    try:
        done = project.run(rb, "-p", "version=v2")
        assert done.returncode == EXIT_OK, done.stderr[-4000:]
        assert versions(lab, hosts) == dict.fromkeys(hosts, "v2")

        journal = project.only_journal()
        entries = journal.read()
        assert journal.verify() == len(entries)
        assert run_end(entries)["event"] == "run_finished"
        assert run_end(entries)["status"] == "succeeded" and run_end(entries)["exit_code"] == 0
        assert [e["step"] for e in entries if e["event"] == "step_done"] == ["preflight", "roll", "announce"]
        assert [e["hosts"] for e in entries if e["event"] == "batch_done"] == [["app-1"], ["app-2"]]
        assert "rollback_started" not in events(journal)

        run_id = entries[0]["run_id"]
        api = lab_env["PREFECT_API_URL"]
        wanted = {"preflight", "roll", "roll[batch 1]", "roll[batch 2]", "announce"}
        # The server records task runs from events it receives asynchronously.
        names = eventually(
            lambda: (got := prefect_task_names(api, run_id)) >= wanted and got,
            timeout=30,
            what=f"Prefect task runs {sorted(wanted)} of flow run {run_id}",
            interval=0.5,
        )
        assert wanted <= names
        assert eventually(lambda: prefect_flow_state(api, run_id) == "COMPLETED", timeout=30, what="flow run COMPLETED")
        # The Prefect server keeps the journal's head: an edit of its last entry shows against it.
        flow_run = prefect_flow_run(api, run_id)
        assert flow_run is not None and journal.seal() in flow_run["state"]["message"]
    finally:
        deploy_v1(lab, hosts)


def test_a_batched_ansible_step_is_one_ansible_playbook_unless_its_vars_change_per_batch(
    project: Project, lab: Lab
) -> None:
    """Batches of a step share one ansible-playbook (held at a gate between them); vars naming the batch cannot."""
    hosts = ["app-1", "app-2", "app-3"]
    assert versions(lab, hosts) == dict.fromkeys(hosts, "v1")
    gated = project.runbook(
        "gated", release("engine-gated", [deploy_step(hosts="app-1,app-2,app-3", batches=[1], verify=[VERSION_GATE])])
    )
    per_batch_step = deploy_step(hosts="app-1,app-2,app-3", batches=[1], verify=[VERSION_GATE])
    per_batch_step["ansible"]["vars"]["note"] = "batch {{ batch.index }}"
    per_batch = project.runbook("per-batch", release("engine-per-batch", [per_batch_step]))
    try:
        done = project.run(gated, "-p", "version=v2")
        assert done.returncode == EXIT_OK, done.stderr[-4000:]
        assert versions(lab, hosts) == dict.fromkeys(hosts, "v2")
        entries = project.only_journal().read()
        results = [e for e in entries if e["event"] == "action_result"]
        assert [sorted(r["hosts"]) for r in results] == [["app-1"], ["app-2"], ["app-3"]]
        assert len({r["artifacts"] for r in results}) == 1, "expected one ansible-playbook process for 3 batches"
        assert not list((REPO / "playbooks").glob(".golive-*")), "the gated copy of deploy.yml was left behind"

        done = project.run(per_batch, "-p", "version=v1")
        assert done.returncode == EXIT_OK, done.stderr[-4000:]
        assert versions(lab, hosts) == dict.fromkeys(hosts, "v1")
        journal = sorted(project.journals(), key=lambda j: j.read()[0]["ts"])[-1]
        results = [e for e in journal.read() if e["event"] == "action_result"]
        assert len({r["artifacts"] for r in results}) == 3, "vars naming the batch need a process per batch"
    finally:
        deploy_v1(lab, hosts)


def prefect_logs(api_url: str, flow_run_id: str) -> list[dict[str, Any]]:
    """Every log of a flow run and its task runs, oldest first."""
    resp = httpx.post(
        f"{api_url.rstrip('/')}/logs/filter",
        json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC", "limit": 200},
        timeout=10.0,
    )
    resp.raise_for_status()
    return [dict(r) for r in resp.json()]


def prefect_artifacts(api_url: str, flow_run_id: str) -> list[dict[str, Any]]:
    resp = httpx.post(
        f"{api_url.rstrip('/')}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 20},
        timeout=10.0,
    )
    resp.raise_for_status()
    return [dict(a) for a in resp.json()]


def test_bad_release_fails_the_health_gate_in_the_first_batch_and_is_rolled_back_in_reverse(
    project: Project, lab: Lab, lab_env: dict[str, str]
) -> None:
    """v2-bad fails the 2 s latency gate in batch 1: only that batch was touched, everything is undone newest first.

    The Prefect flow run tells the same story: its logs name the failing measurement with its
    observed value and limit and the rollback, and it ends with a summary artifact.
    """
    hosts = ["app-3", "app-4"]
    marker = "/srv/engine-bad-marker"
    assert versions(lab, hosts) == dict.fromkeys(hosts, "v1")
    rb = project.runbook(
        "bad",
        release(
            "engine-bad",
            [
                {
                    "id": "mark",
                    "ssh": {"hosts": "app-3,app-4", "command": f"echo {{{{ params.version }}}} > {marker}"},
                    "rollback": {"ssh": {"hosts": "app-3,app-4", "command": f"rm -f {marker}"}},
                },
                deploy_step(hosts="app-3,app-4", batches=[1, "100%"]),
            ],
        ),
    )
    seen: dict[str, set[str]] = {h: set() for h in hosts}
    try:
        proc = project.start(rb, "-p", "version=v2-bad")
        # Watch what every host serves while the run goes on: host 2 must never see v2-bad.
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            for h in hosts:
                seen[h].add(version_of(lab, h))
            time.sleep(0.3)
        code = project.wait_exit(proc, timeout=10)
        assert code == EXIT_FAILED, project.output()
        assert "v2-bad" not in seen["app-4"], seen
        assert versions(lab, hosts) == dict.fromkeys(hosts, "v1")
        assert not host_file(lab, "app-3", marker).exists()
        assert not host_file(lab, "app-4", marker).exists()

        journal = project.only_journal()
        entries = journal.read()
        assert journal.verify() == len(entries)
        batches = [e for e in entries if e["event"] == "batch_started" and e["step"] == "roll"]
        assert [b["hosts"] for b in batches] == [["app-3"]], "a second batch started after the first failed"
        failed = first(entries, "step_failed", step="roll", batch=1)
        gate = first(entries, "gate_failed", step="roll", batch=1)
        started = first(entries, "rollback_started")
        assert 0 <= gate < failed < started
        assert "slower than 2s" in entries[gate]["reason"] or "latency" in entries[gate]["reason"]
        assert entries[started]["units"] == ["rollback:roll[batch 1]", "rollback:mark"]
        done = [e["unit"] for e in entries if e["event"] == "compensation_done"]
        assert done == ["rollback:roll[batch 1]", "rollback:mark"]
        assert started < first(entries, "compensation_done", unit="rollback:roll[batch 1]")
        assert run_end(entries)["event"] == "run_finished" and run_end(entries)["status"] == "rolled_back"
        report = check_report_against_journal(project, entries, project.root)
        roll = next(s for s in report["steps"] if s["id"] == "roll")
        assert roll["status"] == "failed" and roll["failed_at"] == entries[failed]["ts"]
        assert [c["status"] for c in report["rollback"]["compensations"]] == ["done", "done"]

        api = lab_env["PREFECT_API_URL"]
        flow_run = prefect_flow_run(api, entries[0]["run_id"])
        assert flow_run is not None
        bad = next(e for e in entries if e["event"] == "check_result" and e["outcome"] == "fail")

        def story() -> list[dict[str, Any]] | None:  # logs reach the server from a background worker
            found = prefect_logs(api, flow_run["id"])
            return found if any(str(r["message"]).startswith("run rolled_back") for r in found) else None

        records = eventually(
            story,
            timeout=30,
            what="the run's story in the flow run's logs",
        )
        logs = [str(r["message"]) for r in records]
        gate_log = next(r for r in records if str(r["message"]).startswith(f"gate {bad['check']} on {bad['host']}"))
        assert gate_log["task_run_id"], "a measurement taken in a step's task run is logged to that task run"
        gate_lines = [m for m in logs if m.startswith(f"gate {bad['check']} on {bad['host']}") and "FAIL" in m]
        assert any(bad["observed"] in m and bad["limit"] in m for m in gate_lines), [m for m in logs if "gate" in m]
        assert any(m.startswith("undone: rollback:roll[batch 1]") for m in logs), logs
        assert any(m.startswith("run rolled_back (exit 1)") for m in logs), logs
        artifacts = prefect_artifacts(api, flow_run["id"])
        assert [a["type"] for a in artifacts] == ["markdown", "markdown"], artifacts
        summary = next(a["data"] for a in artifacts if not a["key"].endswith("-report"))
        assert "rolled_back" in summary and bad["limit"] in summary
        report = project.runs / entries[0]["run_id"] / "report.html"
        assert f"Full report: `{report}`" in summary and report.is_file()
        full = next(a["data"] for a in artifacts if a["key"].endswith("-report"))
        assert all(step in full for step in ("roll", "rollback:roll[batch 1]")), full[:2000]
    finally:
        deploy_v1(lab, hosts)
        for h in hosts:
            host_file(lab, h, marker).unlink(missing_ok=True)


@pytest.mark.parametrize(("max_fail", "expected_exit"), [(0, EXIT_FAILED), (1, EXIT_OK)])
def test_a_host_that_dies_mid_batch_counts_against_max_fail(
    project: Project, lab: Lab, max_fail: int, expected_exit: int
) -> None:
    """A host killed while its batch runs fails the batch: max_fail 0 rolls back, max_fail 1 goes on and names it."""
    hosts = ["app-5", "app-6"]
    victim = "app-6"
    assert versions(lab, hosts) == dict.fromkeys(hosts, "v1")
    rb = project.runbook(
        "dies", release(f"engine-dies-{max_fail}", [deploy_step(hosts="app-5,app-6", max_fail=max_fail)])
    )
    try:
        proc = project.start(rb, "-p", "version=v2")
        project.wait_journal(has("batch_started", step="roll"), timeout=120, what="the batch to start")
        lab.host_down(victim)
        code = project.wait_exit(proc)
        assert code == expected_exit, project.output()

        journal = project.only_journal()
        entries = journal.read()
        assert journal.verify() == len(entries)
        result = entries[first(entries, "action_result", step="roll")]
        assert result["hosts"][victim]["ok"] is False
        assert result["hosts"]["app-5"]["ok"] is True
        if max_fail == 0:
            assert first(entries, "step_failed", step="roll") >= 0
            started = entries[first(entries, "rollback_started")]
            assert started["units"] == ["rollback:roll"]
            comp = entries[first(entries, "compensation_started", unit="rollback:roll")]
            assert comp["hosts"] == ["app-5"], "rollback must not go to the host nobody reached"
            assert run_end(entries)["status"] == "rolled_back"
            assert version_of(lab, "app-5") == "v1"
        else:
            tolerated = entries[first(entries, "hosts_tolerated", step="roll")]
            assert tolerated["hosts"] == [victim] and tolerated["max_fail"] == 1
            assert "rollback_started" not in events(journal)
            assert run_end(entries)["status"] == "succeeded"
            assert version_of(lab, "app-5") == "v2"
            status = json.loads(project.golive("status", entries[0]["run_id"], "--json").stdout)
            assert status["steps"]["roll"]["failed_hosts"] == [victim]
    finally:
        lab.host_up(victim, timeout=20)
        eventually(lambda: version_of(lab, victim).startswith("v"), timeout=20, what=f"{victim}'s service back")
        deploy_v1(lab, hosts)


def test_a_batch_where_no_host_answers_fails_the_step_and_undoes_earlier_batches(project: Project, lab: Lab) -> None:
    """When every host of a later batch is down, the step fails and the batches already done are rolled back."""
    hosts = ["app-5", "app-6"]
    victim = "app-6"
    assert versions(lab, hosts) == dict.fromkeys(hosts, "v1")
    rb = project.runbook(
        "unreached", release("engine-unreached", [deploy_step(hosts="app-5,app-6", batches=[1, 1], bake="120s")])
    )
    try:
        proc = project.start(rb, "-p", "version=v2")
        journal = project.wait_journal(has("bake_started", step="roll", batch=1), timeout=120, what="batch 1 to bake")
        lab.host_down(victim)
        assert project.golive("promote", journal.read()[0]["run_id"]).returncode == 0
        code = project.wait_exit(proc)
        assert code == EXIT_FAILED, project.output()

        entries = journal.read()
        assert journal.verify() == len(entries)
        assert first(entries, "step_failed", step="roll", batch=2) >= 0, project.output()
        started = entries[first(entries, "rollback_started")]
        assert started["units"][-1] == "rollback:roll[batch 1]"
        assert first(entries, "compensation_done", unit="rollback:roll[batch 1]") >= 0
        assert run_end(entries)["event"] == "run_finished" and run_end(entries)["status"] == "rolled_back"
        assert version_of(lab, "app-5") == "v1"
    finally:
        lab.host_up(victim, timeout=20)
        eventually(lambda: version_of(lab, victim).startswith("v"), timeout=20, what=f"{victim}'s service back")
        deploy_v1(lab, hosts)


def test_an_ssh_step_whose_host_does_not_answer_fails_and_rolls_back_cleanly(project: Project, lab: Lab) -> None:
    """An ssh: step to a host whose sshd is gone fails the run (exit 1); only what was really changed is undone."""
    marker = host_file(lab, "db-1", "/srv/engine-sshd-marker")
    unreached = host_file(lab, "app-8", "/srv/engine-sshd-unreached")
    rb = project.runbook(
        "sshd",
        {
            "name": "engine-sshd",
            "owner": "ops-test",
            "steps": [
                {
                    "id": "mark",
                    "ssh": {"hosts": "db-1", "command": "echo x > /srv/engine-sshd-marker"},
                    "rollback": {"ssh": {"hosts": "db-1", "command": "rm -f /srv/engine-sshd-marker"}},
                },
                {
                    "id": "touch-dead",
                    "ssh": {"hosts": "app-8", "command": "echo x > /srv/engine-sshd-unreached", "timeout": "10s"},
                    "rollback": {"ssh": {"hosts": "app-8", "command": "rm -f /srv/engine-sshd-unreached"}},
                },
            ],
        },
    )
    lab.sshd_stop("app-8")
    try:
        done = project.run(rb)
        assert done.returncode == EXIT_FAILED, done.stderr[-4000:]
        entries = project.only_journal().read()
        assert first(entries, "step_failed", step="touch-dead") >= 0
        assert first(entries, "compensation_skipped", unit="rollback:touch-dead") >= 0
        assert first(entries, "compensation_done", unit="rollback:mark") >= 0
        assert run_end(entries)["status"] == "rolled_back"
        assert not marker.exists() and not unreached.exists()
    finally:
        lab.host_up("app-8", timeout=20)
        marker.unlink(missing_ok=True)
        unreached.unlink(missing_ok=True)


FAIL_PLAYBOOK = """\
- name: A rollback that cannot succeed
  hosts: all
  gather_facts: false
  tasks:
    - name: Fail
      ansible.builtin.fail:
        msg: this rollback is broken on purpose
"""


def test_a_failed_compensation_exits_3_and_status_names_what_is_not_restored(project: Project, lab: Lab) -> None:
    """When an undo fails for good the run ends with exit 3 and `golive status --json` lists the unit left undone."""
    host = "db-1"
    marker = "/srv/engine-comp-marker"
    (project.root / "extra" / "fail.yml").write_text(FAIL_PLAYBOOK)
    rb = project.runbook(
        "comp",
        release(
            "engine-comp",
            [
                {
                    "id": "mark",
                    "ssh": {"hosts": host, "command": f"echo changed > {marker}"},
                    "rollback": {"ansible": {"playbook": "extra/fail.yml", "hosts": host}},
                },
                {
                    "id": "smoke",
                    "check": [
                        {
                            "http": "http://{{ host }}:8080/version",
                            "hosts": host,
                            "expect": {"body": "no-such-version"},
                            "count": 1,
                        }
                    ],
                },
            ],
        ),
    )
    try:
        done = project.run(rb)
        assert done.returncode == EXIT_ROLLBACK_FAILED, done.stderr[-4000:]
        journal = project.only_journal()
        entries = journal.read()
        assert journal.verify() == len(entries)
        assert first(entries, "step_failed", step="smoke") >= 0
        attempts = [e for e in entries if e["event"] == "compensation_failed"]
        # A play that fails on a host that answered fails the same way again: it is not retried.
        assert [(e["unit"], e["permanent"]) for e in attempts] == [("rollback:mark", True)]
        assert run_end(entries)["status"] == "rollback_failed" and run_end(entries)["exit_code"] == EXIT_ROLLBACK_FAILED

        status = project.golive("status", entries[0]["run_id"], "--json")
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["status"] == "rollback_failed"
        assert data["not_restored"] == ["rollback:mark"]
        assert "rollback:mark" in data["pending_undo"]
        report = check_report_against_journal(project, entries, project.root)
        assert report["rollback"]["not_restored"] == ["rollback:mark"]
        assert report["rollback"]["compensations"][0]["status"] == "failed"
        assert host_file(lab, host, marker).exists(), "the change the rollback could not undo is still there"
    finally:
        host_file(lab, host, marker).unlink(missing_ok=True)


# ------------------------------------------------------------------ resume after a crash


def kill_runbook(tag: str) -> dict[str, Any]:
    return {
        "name": "engine-kill",
        "owner": "ops-test",
        "params": {"tag": tag},
        "steps": [
            {
                "id": "write-a",
                "ssh": {"hosts": "db-2", "command": "echo {{ params.tag }} > /srv/engine-kill-a"},
                "verify": [{"command": "test -f /srv/engine-kill-a", "hosts": "db-2", "count": 1}],
                "rollback": {"ssh": {"hosts": "db-2", "command": "rm -f /srv/engine-kill-a"}},
            },
            {"id": "hold", "pause": "30s"},
            {
                "id": "write-b",
                "ssh": {"hosts": "db-2", "command": "echo {{ params.tag }} > /srv/engine-kill-b"},
                "rollback": {"ssh": {"hosts": "db-2", "command": "rm -f /srv/engine-kill-b"}},
            },
        ],
    }


def test_a_killed_runner_is_resumed_from_its_journal_and_a_changed_runbook_is_refused(
    project: Project, lab: Lab, lab_env: dict[str, str]
) -> None:
    """After SIGKILL mid-run, `golive resume` refuses an edited runbook (exit 4) and finishes the original (exit 0)."""
    files = [host_file(lab, "db-2", "/srv/engine-kill-a"), host_file(lab, "db-2", "/srv/engine-kill-b")]
    rb = project.runbook("kill", kill_runbook("t1"))
    try:
        proc = project.start(rb)
        journal = project.wait_journal(has("step_started", step="hold"), timeout=120, what="the hold step to start")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        run_id = journal.read()[0]["run_id"]
        assert files[0].read_text() == "t1\n" and not files[1].exists()

        status = json.loads(project.golive("status", run_id, "--json").stdout)
        assert status["live"] is False and status["status"] == "running"
        assert status["steps"]["write-a"]["status"] == "done"

        original = rb.read_text()
        rb.write_text(yaml.safe_dump(kill_runbook("t2"), sort_keys=False))
        refused = project.golive("resume", run_id, timeout=RUN_TIMEOUT_S)
        assert refused.returncode == EXIT_REFUSED, refused.stdout + refused.stderr
        assert "changed" in refused.stderr
        assert first(journal.read(), "resume_refused") >= 0
        assert not files[1].exists()

        rb.write_text(original)
        resumed = project.launch("resume", run_id, log_name="resume")
        # The pause starts over on resume; end it early so the test does not wait 30 s again.
        project.wait_journal(
            lambda entries: (
                (r := first(entries, "run_resumed")) >= 0 and first(entries[r:], "step_started", step="hold") >= 0
            ),
            timeout=120,
            what="the resumed run to reach the hold step",
        )
        assert project.golive("promote", run_id).returncode == 0
        assert project.wait_exit(resumed) == EXIT_OK, project.output("resume")

        entries = journal.read()
        assert journal.verify() == len(entries)
        resumed_at = first(entries, "run_resumed")
        assert entries[resumed_at]["from_step"] == "hold"
        assert first(entries, "reverify_started", step="write-a") > resumed_at
        assert [e["step"] for e in entries[resumed_at:] if e["event"] == "step_started"] == ["hold", "write-b"]
        assert run_end(entries)["status"] == "succeeded"
        assert [f.read_text() for f in files] == ["t1\n", "t1\n"]
        # The killed process's flow run no longer shows Running beside the resumed one.
        assert eventually(
            lambda: sorted(prefect_flow_states(lab_env["PREFECT_API_URL"], run_id)) == ["COMPLETED", "CRASHED"],
            timeout=30,
            what="the killed flow run CRASHED and the resumed one COMPLETED",
            interval=0.5,
        )
    finally:
        for f in files:
            f.unlink(missing_ok=True)


def gated_plays_of(pid: int) -> list[int]:
    """PIDs of processes running a gated play that the golive process ``pid`` wrote."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if f".golive-{pid}-".encode() in cmdline and b"ansible-playbook" in cmdline:
                found.append(int(proc.name))
    return found


def test_a_play_held_at_its_gate_ends_when_golive_is_killed_and_resume_finishes_the_step(
    project: Project, lab: Lab
) -> None:
    """SIGKILL while a batch bakes: the held play ends by itself, later hosts stay untouched, resume completes."""
    hosts = ["app-7", "app-8"]
    assert versions(lab, hosts) == dict.fromkeys(hosts, "v1")
    rb = project.runbook(
        "kill-gated",
        release(
            "engine-kill-gated",
            [deploy_step(hosts="app-7,app-8", batches=[1], bake="60s", verify=[VERSION_GATE])],
        ),
    )
    try:
        proc = project.start(rb, "-p", "version=v2")
        journal = project.wait_journal(has("bake_started", step="roll", batch=1), timeout=120, what="batch 1 to bake")
        assert gated_plays_of(proc.pid), "no gated ansible-playbook was running for the step"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        eventually(lambda: not gated_plays_of(proc.pid), timeout=30, what="the held play to end after golive died")
        assert versions(lab, hosts) == {"app-7": "v2", "app-8": "v1"}

        run_id = journal.read()[0]["run_id"]
        resumed = project.launch("resume", run_id, log_name="resume")
        for batch in (1, 2):  # skip the bakes of the resumed run
            project.wait_journal(
                lambda entries, b=batch: (
                    (r := first(entries, "run_resumed")) >= 0 and first(entries[r:], "bake_started", batch=b) >= 0
                ),
                timeout=120,
                what=f"the resumed run to bake batch {batch}",
            )
            assert project.golive("promote", run_id).returncode == 0
        assert project.wait_exit(resumed) == EXIT_OK, project.output("resume")
        assert versions(lab, hosts) == dict.fromkeys(hosts, "v2")
        assert run_end(journal.read())["status"] == "succeeded"
        assert not list((REPO / "playbooks").glob(f".golive-{proc.pid}-*")), "the killed run's copy was not cleaned"
    finally:
        deploy_v1(lab, hosts)


# ------------------------------------------------------------------ untrusted input


def test_a_param_with_shell_metacharacters_reaches_the_host_as_one_literal_argument(project: Project, lab: Lab) -> None:
    """A -p value full of shell syntax is written verbatim by an ssh: step and runs nothing on the host."""
    token = uuid.uuid4().hex[:12]
    note = f"a b; touch /tmp/pwned-{token}-$$ && echo $(id) `id` | tee /tmp/pwned-{token}-pipe"
    target = host_file(lab, "db-1", "/srv/engine-note")
    rb = project.runbook(
        "note",
        {
            "name": "engine-note",
            "owner": "ops-test",
            "params": {"note": "empty"},
            "steps": [
                {
                    "id": "write-note",
                    "ssh": {"hosts": "db-1", "command": "echo {{ params.note }} > /srv/engine-note"},
                    "rollback": {"none": "a note file is harmless"},
                }
            ],
        },
    )
    try:
        done = project.run(rb, "-p", f"note={note}")
        assert done.returncode == EXIT_OK, done.stderr[-4000:]
        assert target.read_text() == note + "\n"
        assert list(Path("/tmp").glob(f"pwned-{token}*")) == []
        assert not list((lab.dir / "hosts" / "db-1").rglob(f"pwned-{token}*"))
    finally:
        target.unlink(missing_ok=True)


# ------------------------------------------------------------------ controls from other terminals


def test_abort_from_another_process_during_a_bake_rolls_back(project: Project, lab: Lab) -> None:
    """`golive abort RUN` while a batch bakes makes the live runner undo the batch and exit 1."""
    marker = host_file(lab, "app-7", "/srv/engine-abort")
    rb = project.runbook(
        "abort",
        release(
            "engine-abort",
            [
                {
                    "id": "mark",
                    "ssh": {"hosts": "app-7", "command": "echo {{ params.version }} > /srv/engine-abort"},
                    "bake": "120s",
                    "rollback": {"ssh": {"hosts": "app-7", "command": "rm -f /srv/engine-abort"}},
                },
                {"id": "after", "notify": "should not be reached"},
            ],
        ),
    )
    try:
        proc = project.start(rb)
        journal = project.wait_journal(has("bake_started", step="mark"), timeout=120, what="the bake to start")
        assert marker.read_text() == "v2\n"
        run_id = journal.read()[0]["run_id"]
        aborted = project.golive("abort", run_id, "--as", "oncall", "--reason", "pager fired")
        assert aborted.returncode == 0, aborted.stderr
        assert "abort requested" in aborted.stdout
        assert project.wait_exit(proc, timeout=120) == EXIT_FAILED, project.output()

        entries = journal.read()
        assert journal.verify() == len(entries)
        control = first(entries, "control", action="abort", by="oncall")
        started = first(entries, "rollback_started")
        assert 0 <= control < started
        assert "oncall" in entries[started]["reason"] and "pager fired" in entries[started]["reason"]
        assert first(entries, "compensation_done", unit="rollback:mark") > started
        assert first(entries, "step_started", step="after") == -1
        assert run_end(entries)["status"] == "rolled_back"
        assert not marker.exists()
    finally:
        marker.unlink(missing_ok=True)


def test_two_distinct_approvers_other_than_the_initiator_let_the_run_continue(project: Project, lab: Lab) -> None:
    """With approvers 2 and exclude_initiator the initiator is refused (exit 4); bob and carol release the run."""
    marker = host_file(lab, "app-8", "/srv/engine-approved")
    rb = project.runbook(
        "approve",
        {
            "name": "engine-approve",
            "owner": "ops-test",
            "steps": [
                {
                    "id": "sign-off",
                    "approval": {"approvers": 2, "exclude_initiator": True, "timeout": "300s"},
                },
                {
                    "id": "mark",
                    "ssh": {"hosts": "app-8", "command": "echo approved > /srv/engine-approved"},
                    "rollback": {"ssh": {"hosts": "app-8", "command": "rm -f /srv/engine-approved"}},
                },
            ],
        },
    )
    try:
        proc = project.start(rb, "--as", "alice")
        journal = project.wait_journal(
            has("approval_requested", step="sign-off"), timeout=120, what="the approval request"
        )
        run_id = journal.read()[0]["run_id"]
        assert journal.read()[first(journal.read(), "approval_requested")]["initiator"] == "alice"

        own = project.golive("approve", run_id, "--as", "alice")
        assert own.returncode == EXIT_REFUSED, own.stdout + own.stderr
        assert "two-person" in own.stderr
        assert not marker.exists()

        assert project.golive("approve", run_id, "--as", "bob").returncode == 0
        project.wait_journal(has("approval_accepted", by="bob"), timeout=30, what="bob's approval to count")
        assert proc.poll() is None, "one approval of two must not release the run"
        again = project.golive("approve", run_id, "--as", "bob")
        assert again.returncode == EXIT_REFUSED, again.stdout + again.stderr
        assert project.golive("approve", run_id, "--as", "carol").returncode == 0

        assert project.wait_exit(proc, timeout=120) == EXIT_OK, project.output()
        entries = journal.read()
        assert journal.verify() == len(entries)
        granted = entries[first(entries, "approval_granted", step="sign-off")]
        assert granted["approvers"] == ["bob", "carol"]
        assert first(entries, "approval_refused", by="alice") >= 0
        assert first(entries, "approval_accepted", by="alice") == -1
        assert first(entries, "step_done", step="mark") > first(entries, "approval_granted")
        assert marker.read_text() == "approved\n"
        report = check_report_against_journal(project, entries, project.root)
        sign_off = next(s for s in report["steps"] if s["id"] == "sign-off")
        assert [a["by"] for a in sign_off["approvals"]] == ["bob", "carol"]
        assert {a["digest"] for a in sign_off["approvals"]} == {entries[0]["digest"]}
        assert sign_off["waits"][0]["kind"] == "approval" and sign_off["waits"][0]["outcome"] == "granted"
    finally:
        marker.unlink(missing_ok=True)


def test_an_approval_answered_in_the_prefect_ui_counts_beside_one_from_the_terminal(
    project: Project, lab: Lab, lab_env: dict[str, str]
) -> None:
    """The approval pauses the Prefect flow run; a resume with input (what the UI sends) is the second vote."""
    rb = project.runbook(
        "ui-approve",
        {
            "name": "engine-ui-approve",
            "owner": "ops-test",
            "steps": [
                {"id": "sign-off", "approval": {"approvers": 2, "exclude_initiator": True, "timeout": "300s"}},
                {"id": "after", "notify": "approved"},
            ],
        },
    )
    proc = project.start(rb, "--as", "alice")
    journal = project.wait_journal(has("approval_requested", step="sign-off"), timeout=120, what="the approval")
    request = journal.read()[first(journal.read(), "approval_requested")]
    flow_run_id = request["flow_run_id"]
    assert flow_run_id, "the approval must name the paused Prefect flow run"
    api = lab_env["PREFECT_API_URL"].rstrip("/")

    def flow_state() -> str:
        return str(httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=10.0).json()["state"]["type"])

    eventually(lambda: flow_state() == "PAUSED" or None, timeout=30, what="the flow run to pause")
    assert project.golive("approve", request["run_id"], "--as", "bob").returncode == 0
    project.wait_journal(has("approval_accepted", by="bob"), timeout=30, what="bob's approval")
    eventually(lambda: flow_state() == "PAUSED" or None, timeout=30, what="the flow run still paused for vote 2")

    def answer_in_the_ui() -> httpx.Response | None:
        # The server answers 503 while its database is busy (sqlite under load): the form is sent again.
        reply = httpx.post(
            f"{api}/flow_runs/{flow_run_id}/resume",
            json={"run_input": {"decision": "approve", "name": "carol", "comment": "looks good"}},
            timeout=10.0,
        )
        return None if reply.status_code == 503 else reply

    resumed = eventually(answer_in_the_ui, timeout=30, what="the Prefect server to take the UI answer")
    assert resumed.status_code < 300, resumed.text
    assert project.wait_exit(proc, timeout=120) == EXIT_OK, project.output()
    entries = journal.read()
    carol = entries[first(entries, "approval_accepted", by="carol")]
    assert carol["source"] == "prefect-ui" and carol["comment"] == "looks good"
    assert entries[first(entries, "approval_granted")]["approvers"] == ["bob", "carol"]
    assert prefect_flow_state(api, request["run_id"]) == "COMPLETED"


def test_sigterm_during_a_run_rolls_back_and_exits_130(project: Project, lab: Lab) -> None:
    """A supervisor's SIGTERM mid-run is journaled, what was done is undone (no TTY), and the exit is 130."""
    marker = host_file(lab, "db-2", "/srv/engine-sigterm")
    rb = project.runbook(
        "sigterm",
        {
            "name": "engine-sigterm",
            "owner": "ops-test",
            "steps": [
                {
                    "id": "mark",
                    "ssh": {"hosts": "db-2", "command": "touch /srv/engine-sigterm"},
                    "rollback": {"ssh": {"hosts": "db-2", "command": "rm -f /srv/engine-sigterm"}},
                },
                {"id": "hold", "pause": "120s"},
            ],
        },
    )
    try:
        proc = project.start(rb)
        journal = project.wait_journal(has("step_started", step="hold"), timeout=120, what="the pause step")
        assert marker.exists()
        os.kill(proc.pid, signal.SIGTERM)
        assert project.wait_exit(proc, timeout=120) == 130, project.output()
        entries = journal.read()
        assert first(entries, "compensation_done", unit="rollback:mark") >= 0
        finished = entries[first(entries, "run_finished")]
        assert finished["exit_code"] == 130 and finished["status"] == "rolled_back"
        assert not marker.exists()
    finally:
        marker.unlink(missing_ok=True)


def test_the_prefect_deployment_entrypoint_runs_a_runbook_unattended(
    project: Project, lab: Lab, lab_env: dict[str, str]
) -> None:
    """flows/cutover.py:cutover, as a deployment or schedule calls it, runs the runbook and journals who started it."""
    rb = project.runbook(
        "scheduled",
        {"name": "engine-scheduled", "owner": "ops-test", "steps": [{"id": "hello", "notify": "scheduled run"}]},
    )
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from flows.cutover import cutover\n"
        f"cutover(runbook={str(rb)!r}, env='lab', params={{}}, initiator='schedule:nightly')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project.root,
        env=project.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    entries = project.only_journal().read()
    assert entries[0]["initiator"] == "schedule:nightly"
    assert run_end(entries)["event"] == "run_finished" and run_end(entries)["exit_code"] == 0
    assert {"hello"} <= prefect_task_names(lab_env["PREFECT_API_URL"], entries[0]["run_id"])
