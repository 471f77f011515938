"""Secrets on the lab: a cutover whose commands and playbook use secrets (an env variable and a Prefect
Secret block), with a failing step so error paths run too; the values reach the hosts and nowhere else:
not the journal, golive's output, golive status, the report, the Prefect logs or flow run parameters."""

from __future__ import annotations

import asyncio
import hashlib
import json

import httpx
import pytest
from kit import Project
from test_engine import host_file, prefect_logs

from golive_lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

DB_SECRET = "db-s3cret-4f9a2c-value"
BLOCK_SECRET = "api-t0ken-77e1b0-from-prefect"


def _save_block(api_url: str, name: str, value: str) -> None:
    import os

    from prefect.blocks.system import Secret

    os.environ["PREFECT_API_URL"] = api_url
    saved = Secret(value=value).save(name, overwrite=True)
    if asyncio.iscoroutine(saved):
        asyncio.run(saved)


def test_a_cutover_with_a_secret_writes_it_nowhere(project: Project, lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    api_url = project.env["PREFECT_API_URL"]
    monkeypatch.setenv("PREFECT_API_URL", api_url)
    _save_block(api_url, "golive-test-api-token", BLOCK_SECRET)
    project.env["GOLIVE_TEST_DB_SECRET"] = DB_SECRET
    rb = project.runbook(
        "secret",
        {
            "name": "secret-cutover",
            "secrets": {"db": {"env": "GOLIVE_TEST_DB_SECRET"}, "api": {"prefect_block": "golive-test-api-token"}},
            "steps": [
                {
                    "id": "store",
                    "ssh": {
                        "hosts": "db-1",
                        "command": "printf %s '{{ secrets.db }}' | sha256sum | cut -d' ' -f1 > /srv/secret-sha",
                    },
                    "rollback": {"ssh": {"hosts": "db-1", "command": "echo undo {{ secrets.db }} > /srv/secret-undo"}},
                },
                {
                    "id": "play",
                    "ansible": {
                        "playbook": "playbooks/ping.yml",
                        "hosts": "db-1",
                        "vars": {"token": "{{ secrets.api }}"},
                    },
                    "rollback": {"none": "ping changes nothing"},
                },
                {
                    "id": "fails",
                    "ssh": {"hosts": "db-1", "command": "echo 'connecting with {{ secrets.db }}' >&2; exit 3"},
                    "rollback": {"none": "it changed nothing"},
                },
            ],
        },
    )
    (project.root / "playbooks").unlink()
    (project.root / "playbooks").mkdir()
    (project.root / "playbooks" / "ping.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {msg: 'token {{ token }}'}\n"
    )
    done = project.run(rb)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-3000:]
    stored = host_file(lab, "db-1", "/srv/secret-sha").read_text().strip()
    assert stored == hashlib.sha256(DB_SECRET.encode()).hexdigest()  # the command got the value
    assert DB_SECRET in host_file(lab, "db-1", "/srv/secret-undo").read_text()  # the rollback got it too

    journal = project.only_journal()
    run_id = str(journal.read()[0]["run_id"])
    outputs = {
        "journal": journal.path.read_text(),
        "golive run output": done.stdout + done.stderr,
        "golive status": (lambda r: r.stdout + r.stderr)(project.golive("status", run_id)),
        "golive status --json": project.golive("status", run_id, "--json").stdout,
        "report": (lambda r: r.stdout + r.stderr)(project.golive("report", run_id, "--format", "html")),
        "runs": project.golive("runs").stdout,
    }
    flow = httpx.post(
        f"{api_url}/flow_runs/filter", json={"flow_runs": {"name": {"any_": [run_id]}}}, timeout=10
    ).json()
    assert flow, "the run's flow run is not on the Prefect server"
    outputs["Prefect logs"] = json.dumps(prefect_logs(api_url, flow[0]["id"]))
    outputs["Prefect flow run"] = json.dumps(flow)
    for where, text in outputs.items():
        assert DB_SECRET not in text, f"the db secret is in the {where}"
        assert BLOCK_SECRET not in text, f"the Prefect block secret is in the {where}"
    assert "***" in outputs["journal"]
