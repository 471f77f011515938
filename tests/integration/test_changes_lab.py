"""golive run --change against the lab: an approved change runs once; an edited input refuses it."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from kit import REPO, Project

from golive_lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

EXIT_OK, EXIT_REFUSED = 0, 4
PING = "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n"


def _propose_and_approve(project: Project, runbook: str) -> str:
    saved = project.golive("plan", runbook, "-e", "lab", "--save", "--comment", "ping app-1")
    assert saved.returncode == 0, saved.stderr
    found = re.search(r"change (chg-\S+) proposed by tester", saved.stdout)
    assert found, saved.stdout
    cid = found.group(1)
    approved = project.golive("change", "approve", cid, "--as", "reviewer")
    assert approved.returncode == 0, approved.stderr
    return cid


def test_an_approved_change_runs_once_and_an_edited_playbook_refuses_the_next(project: Project, lab: Lab) -> None:
    """plan --save, approve, run --change succeeds and journals the change; a change approved before a
    playbook edit is refused (4), naming the playbook."""
    (project.root / "playbooks").unlink()  # the repo's playbooks stay untouched: edit a copy
    shutil.copytree(REPO / "playbooks", project.root / "playbooks")
    (project.root / "playbooks" / "ping.yml").write_text(PING)
    rb = project.runbook(
        "ping",
        {
            "name": "change-ping",
            "steps": [
                {
                    "id": "ping",
                    "ansible": {"playbook": "playbooks/ping.yml", "hosts": "app-1"},
                    "rollback": {"none": "ping changes nothing"},
                }
            ],
        },
    )
    first = _propose_and_approve(project, str(rb))
    done = project.golive("run", "--change", first, "--no-prefect", timeout=240)
    assert done.returncode == EXIT_OK, done.stderr[-4000:]
    started = project.only_journal().read()[0]
    assert started["event"] == "run_started" and started["change_id"] == first
    record = json.loads((project.runs / "changes" / f"{first}.json").read_text())
    assert [e["kind"] for e in record["events"]] == ["approved", "ran", "finished"]
    assert record["events"][-1]["status"] == "succeeded"
    assert f"ran({started['run_id']})" in project.golive("changes").stdout
    again = project.golive("run", "--change", first, "--no-prefect")
    assert again.returncode == EXIT_REFUSED and "already ran" in again.stderr

    second = _propose_and_approve(project, str(rb))
    with (project.root / "playbooks" / "ping.yml").open("a") as f:
        f.write("    - ansible.builtin.ping:\n")
    refused = project.golive("run", "--change", second, "--no-prefect")
    assert refused.returncode == EXIT_REFUSED, refused.stderr
    assert re.search(r"playbooks/ping\.yml: [0-9a-f]{12} → [0-9a-f]{12}", refused.stderr), refused.stderr
    assert len(project.journals()) == 1


def test_changes_kept_on_the_prefect_server_take_concurrent_approvals_and_refuse_an_edit(project: Project) -> None:
    """With GOLIVE_CHANGE_STORE=prefect a change lives in Prefect Variables: two approvals at once both land,
    nothing is written under runs/, and an edited runbook refuses run --change (4) naming it."""
    project.env["GOLIVE_CHANGE_STORE"] = "prefect"
    rb = project.runbook(
        "checked",
        {"name": "change-check", "steps": [{"id": "port", "check": [{"tcp": "{{ host }}:2222", "hosts": "app-1"}]}]},
    )
    saved = project.golive("plan", str(rb), "-e", "lab", "--save", "--as", "proposer")
    assert saved.returncode == 0, saved.stderr
    found = re.search(r"change (chg-\S+) proposed by proposer", saved.stdout)
    assert found, saved.stdout
    cid = found.group(1)
    both = [project.launch("change", "approve", cid, "--as", who, log_name=who) for who in ("ann", "ben")]
    assert [project.wait_exit(p, timeout=60) for p in both] == [0, 0], project.output("ann") + project.output("ben")
    shown = project.golive("change", "show", cid)
    assert shown.returncode == 0, shown.stderr
    assert "approved by ann" in shown.stdout and "approved by ben" in shown.stdout
    assert "runbooks/checked.yml" in shown.stdout
    assert cid in project.golive("changes", "-e", "lab").stdout
    assert not (project.runs / "changes").exists()

    with rb.open("a") as f:  # a comment alone is not an input: the digest reads the parsed runbook
        f.write("description: edited after approval\n")
    refused = project.golive("run", "--change", cid, "--no-prefect")
    assert refused.returncode == EXIT_REFUSED, refused.stderr
    assert re.search(r"runbook change-check: [0-9a-f]{12} → [0-9a-f]{12}", refused.stderr), refused.stderr
    assert project.golive("change", "reject", cid, "--as", "ann").returncode == 0
    late = project.golive("change", "approve", cid, "--as", "cy")
    assert late.returncode == EXIT_REFUSED and "rejected by ann" in late.stderr
