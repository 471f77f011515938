"""golive rehearse on the lab: real releases with injected faults, detected and rolled back, the hosts
proven back where they started by snapshots; a broken rollback turns its matrix row red (the matrix of
the hybrid example, every point restored, is in test_hybrid.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaos_kit import APP_HOSTS, brisk, deploy_v1, use_app_hosts, versions
from kit import REPO, Project

from golive_lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(600)]


@pytest.fixture
def rolling(project: Project, lab: Lab) -> Iterator[Project]:
    use_app_hosts(project, lab)
    assert versions(lab) == dict.fromkeys(APP_HOSTS, "v1"), "a test before left the app hosts off v1"
    try:
        yield project
    finally:
        for host in APP_HOSTS:
            lab.host_up(host, timeout=20)
        deploy_v1(lab)


def rolling_runbook(project: Project, **changes: Any) -> Path:
    body = brisk(yaml.safe_load((REPO / "runbooks" / "rolling-demo.yml").read_text()))
    body.pop("watch", None)
    body.update(changes)
    return project.runbook("rehearsed", body)


def rehearse(project: Project, runbook: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = project.golive("rehearse", str(runbook), "-e", "lab", "-p", "version=v2", "--no-prefect", "--json", *args)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(
            f"no JSON report (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        ) from None
    return done.returncode, report


def test_gate_fail_at_batch_2_applies_two_batches_restores_them_and_times_both(rolling: Project, lab: Lab) -> None:
    code, report = rehearse(rolling, rolling_runbook(rolling), "--inject", "roll-app@2:gate-fail")
    drill = report["drills"][0]
    assert code == 0 and drill["expected"], drill
    assert drill["fired"] == ["roll-app@2:gate-fail"] and drill["snapshot_diff"] == []
    assert drill["compensations"] == ["rollback:roll-app[batch 2]", "rollback:roll-app[batch 1]"]
    assert drill["detect_s"] is not None and drill["restore_s"] is not None
    journal = [json.loads(line) for line in Path(drill["journal"]).read_text().splitlines()]
    assert [e["batch"] for e in journal if e["event"] == "batch_done"] == [1]  # 2 applied, failed at its gate
    assert [e["batch"] for e in journal if e["event"] == "batch_started"] == [1, 2]
    assert journal[1]["event"] == "rehearsal_started"
    assert versions(lab) == dict.fromkeys(APP_HOSTS, "v1")
    assert "(rehearsal)" in rolling.golive("runs").stdout


def test_apply_fail_inconclusive_slow_and_rollback_fail_drills(rolling: Project, lab: Lab) -> None:
    rb = rolling_runbook(rolling)
    code, report = rehearse(rolling, rb, "--inject", f"roll-app@2:apply-fail:{APP_HOSTS[1]}")
    assert code == 0 and report["drills"][0]["expected"], report
    code, report = rehearse(rolling, rb, "--inject", "roll-app@1:inconclusive", "--answer-after", "1s")
    assert code == 0 and report["drills"][0]["expected"], report
    code, report = rehearse(rolling, rb, "--inject", "roll-app@1:slow:1s", "--inject", "roll-app@1:gate-fail")
    drill = report["drills"][0]
    assert code == 0 and drill["expected"] and drill["fired"] == ["roll-app@1:slow:1s", "roll-app@1:gate-fail"]
    assert versions(lab) == dict.fromkeys(APP_HOSTS, "v1")
    code, report = rehearse(rolling, rb, "--inject", "roll-app@rollback:rollback-fail")
    drill = report["drills"][0]
    assert code == 0 and drill["expected"] and drill["exit_code"] == 3, drill  # the expected outcome
    assert drill["not_restored"]


def test_host_down_from_golive_faults_is_a_real_fault(rolling: Project, lab: Lab) -> None:
    """The lab maps host-down to `golive lab fault host-down`: the host's sshd and service stop for real."""
    code, report = rehearse(rolling, rolling_runbook(rolling), "--inject", f"roll-app@2:host-down:{APP_HOSTS[1]}")
    drill = report["drills"][0]
    assert drill["fired"] == [f"roll-app@2:host-down:{APP_HOSTS[1]}"]
    assert drill["status"] in ("rolled_back", "rollback_failed"), drill  # detected: the release did not go on
    assert drill["detect_s"] is not None
    assert code in (0, 1)  # restored, or the drill says what a host that died took with it
    if code == 1:
        assert APP_HOSTS[1] in json.dumps(drill)


def test_a_broken_rollback_turns_its_matrix_row_red_and_stops_the_matrix(rolling: Project, lab: Lab) -> None:
    """(A matrix where every point is restored: test_hybrid.py, on the hybrid example.)"""
    broken = rolling_runbook(rolling)
    body = yaml.safe_load(broken.read_text())
    roll = next(s for s in body["steps"] if s["id"] == "roll-app")
    roll["rollback"] = {"ssh": {"hosts": "app", "command": "true"}}  # "undoes" nothing: v2 stays
    broken.write_text(yaml.safe_dump(body))
    code, report = rehearse(rolling, broken, "--matrix")
    assert code == 1 and len(report["drills"]) == 1, report  # red, and the matrix stopped there
    assert not report["drills"][0]["expected"] and report["drills"][0]["snapshot_diff"]


def test_golive_run_has_no_way_to_inject(rolling: Project) -> None:
    done = rolling.golive("run", str(rolling_runbook(rolling)), "-e", "lab", "--inject", "roll-app@1:gate-fail")
    assert done.returncode == 2 and "--inject" in done.stderr


def test_snapshot_probes_read_a_command_an_http_body_and_a_file_and_diff_what_changed(
    rolling: Project, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    from golive.context import prepare
    from golive.engine.snapshots import capture, diff

    rb = rolling_runbook(
        rolling,
        snapshot=[
            {"name": "/version", "http": "http://{{ host }}:8080/version", "hosts": "app"},
            {"name": "hostname", "command": "hostname", "hosts": APP_HOSTS[0]},
            {"name": "release file", "file": "/etc/hostname", "hosts": APP_HOSTS[0]},
        ],
    )
    monkeypatch.chdir(rolling.root)
    for key in ("GOLIVE_RUNS_DIR", "GOLIVE_LAB_DIR"):
        monkeypatch.setenv(key, rolling.env[key])
    ctx = prepare(rb, env="lab", params={"version": "v2"})
    before = capture(ctx)
    assert before.values[APP_HOSTS[0]]["/version"] == "v1"
    assert before.values[APP_HOSTS[0]]["hostname"] and len(before.values[APP_HOSTS[0]]["release file"]) == 64
    done = rolling.golive("run", str(rb), "-e", "lab", "-p", "version=v2", "--no-prefect")
    assert done.returncode == 0, done.stderr[-2000:]
    changed = diff(before, capture(ctx))
    assert sorted(str(d) for d in changed) == [f"{h}: /version v1 → v2 (not restored)" for h in sorted(APP_HOSTS)]
