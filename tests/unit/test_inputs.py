"""The plan digest covers every input of the run, and plan, run and resume agree on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entries import run_started
from golive.cli import app
from golive.context import prepare
from golive.engine.execute import Refused, execute_resume
from golive.engine.journal import Journal
from golive.plan import Plan, PlanInput, diff_inputs
from golive.playbook_refs import playbook_files

RUNBOOK = """\
name: web
params: {version: v2}
previous: {version: v1}
steps:
  - id: deploy
    ansible: {playbook: playbooks/deploy.yml, hosts: app, vars: {version: "{{ params.version }}"}}
    rollback: {ansible: {playbook: playbooks/deploy.yml, hosts: app, vars: {version: "{{ previous.version }}"}}}
  - id: api
    k8s: {manifest: manifests/api.yaml, context: default}
  - id: probe
    check:
      - command: "scripts/probe.sh --quick"
"""

FILES = {
    "inventory/test/hosts.yml": "all:\n  children:\n    app:\n      hosts:\n        app-1: {ansible_host: 127.0.0.1}\n"
    "        app-2: {ansible_host: 127.0.0.2}\n    db:\n      hosts:\n        db-1: {ansible_host: 127.0.0.3}\n",
    "inventory/test/group_vars/all.yml": "app_port: 8080\ngolive_min_approvers: 1\n"
    "golive_clusters:\n  default: {kubeconfig: kubeconfig, context: lab}\n",
    "inventory/test/group_vars/db.yml": "db_port: 5432\n",
    "playbooks/deploy.yml": "- hosts: all\n  vars:\n    conf: app.conf.j2\n  roles:\n    - web\n  tasks:\n"
    "    - ansible.builtin.import_tasks: tasks/release.yml\n"
    "    - ansible.builtin.template: {src: '{{ conf }}', dest: /etc/app.conf}\n"
    "    - ansible.builtin.copy: {src: '{{ item_dir | default(\"x\") }}/app.py', dest: /opt/app.py}\n",
    "playbooks/tasks/release.yml": "- ansible.builtin.debug: {msg: release}\n",
    "playbooks/templates/app.conf.j2": "port={{ app_port }}\n",
    "playbooks/templates/unused.j2": "unused\n",
    "playbooks/unused.yml": "- hosts: all\n  tasks: []\n",
    "roles/web/tasks/main.yml": "- ansible.builtin.debug: {msg: web}\n",
    "manifests/api.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\n",
    "scripts/probe.sh": "#!/bin/sh\nexit 0\n",
    "scripts/unused.sh": "#!/bin/sh\nexit 1\n",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("GOLIVE_INVENTORY", raising=False)
    monkeypatch.delenv("GOLIVE_RUNS_DIR", raising=False)
    monkeypatch.delenv("ANSIBLE_ROLES_PATH", raising=False)
    for rel, text in {**FILES, "runbooks/web.yml": RUNBOOK}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def plan_of(root: Path, **params: str) -> Plan:
    return prepare(root / "runbooks" / "web.yml", env="test", params=params, with_history=True).plan()


def names(plan: Plan) -> set[str]:
    return {i.name for i in plan.inputs}


def test_every_file_the_run_reads_is_an_input(project: Path) -> None:
    """Playbook, included tasks, role files, template, manifest and script are inputs, named from the root."""
    files = {i.name for i in plan_of(project).inputs if i.kind == "file"}
    assert {
        "playbooks/deploy.yml",
        "playbooks/tasks/release.yml",
        "roles/web/tasks/main.yml",
        "playbooks/templates/app.conf.j2",
        "manifests/api.yaml",
        "scripts/probe.sh",
    } <= files
    assert not {n for n in files if "unused" in n}


def test_a_templated_reference_is_listed_with_a_note(project: Path) -> None:
    """A reference golive cannot resolve is an input with a note, not dropped."""
    unresolved = [i for i in plan_of(project).inputs if i.note]
    assert [i.name for i in unresolved] == ['{{ item_dir | default("x") }}/app.py (in playbooks/deploy.yml)']
    assert "templated" in unresolved[0].note


@pytest.mark.parametrize(
    ("rel", "named"),
    [
        ("playbooks/deploy.yml", "playbooks/deploy.yml"),
        ("playbooks/tasks/release.yml", "playbooks/tasks/release.yml"),
        ("roles/web/tasks/main.yml", "roles/web/tasks/main.yml"),
        ("playbooks/templates/app.conf.j2", "playbooks/templates/app.conf.j2"),
        ("manifests/api.yaml", "manifests/api.yaml"),
        ("scripts/probe.sh", "scripts/probe.sh"),
        ("inventory/test/group_vars/all.yml", "inventory-var app_port"),
    ],
)
def test_editing_an_input_changes_the_digest_and_names_it(project: Path, rel: str, named: str) -> None:
    """Each input the run reads changes the digest when edited, and diff_inputs names it."""
    before = plan_of(project)
    path = project / rel
    path.write_text(path.read_text().replace("8080", "8081") + "\n# edited\n")
    after = plan_of(project)
    assert after.digest != before.digest
    changed = diff_inputs(before.inputs, after.inputs)
    assert [line.split(":")[0] for line in changed] == [named]


def test_editing_what_the_run_does_not_read_keeps_the_digest(project: Path) -> None:
    """Unused playbooks, templates, scripts and the variables of hosts the plan leaves alone do not count."""
    before = plan_of(project)
    for rel in ("playbooks/unused.yml", "playbooks/templates/unused.j2", "scripts/unused.sh"):
        (project / rel).write_text("changed, longer than before\n")
    (project / "inventory/test/group_vars/db.yml").write_text("db_port: 6543\n")
    assert plan_of(project).digest == before.digest


def test_diff_inputs_names_changed_added_and_removed_inputs() -> None:
    """One line per input that differs, hashes cut to 12 hex digits."""
    old = [PlanInput(kind="file", name="a.yml", sha256="1" * 64), PlanInput(kind="param", name="v", sha256="2" * 64)]
    new = [PlanInput(kind="file", name="a.yml", sha256="3" * 64), PlanInput(kind="file", name="b.yml", sha256="4" * 64)]
    assert diff_inputs(old, new) == [
        f"a.yml: {'1' * 12} → {'3' * 12}",
        f"added: b.yml ({'4' * 12})",
        f"removed: param v ({'2' * 12})",
    ]
    assert diff_inputs(old, old) == []


def test_plan_and_run_agree_after_a_successful_release(project: Path) -> None:
    """With a successful run in history, golive plan's digest is the one golive run journals."""
    first = plan_of(project)
    j = Journal(project / "runs" / "r1" / "journal.jsonl")
    j.append("run_started", **run_started("r1", runbook="web", env="test", params={"version": "v2"}))
    j.append("run_finished", run_id="r1", status="succeeded", exit_code=0)
    result = CliRunner().invoke(app, ["plan", str(project / "runbooks" / "web.yml"), "-e", "test", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    running = plan_of(project)  # what `golive run` builds: the same prepare(..., with_history=True)
    assert printed["previous"] == {"version": "v2"} == running.previous
    assert printed["digest"] == running.digest != first.digest
    assert diff_inputs(first.inputs, running.inputs) == [
        f"previous version: {_h(first, 'previous')} → {_h(running, 'previous')}"
    ]


def _h(plan: Plan, kind: str) -> str:
    return next(i.sha256[:12] for i in plan.inputs if i.kind == kind)


def test_resume_refuses_a_changed_input_naming_it(project: Path) -> None:
    """A dead run whose included task file changed is not resumed; the refusal names the file."""
    plan = plan_of(project)
    j = Journal(project / "runs" / "r1" / "journal.jsonl")
    j.append(
        "run_started",
        **run_started(
            "r1",
            runbook="web",
            env="test",
            file=str(project / "runbooks" / "web.yml"),
            file_abs=str(project / "runbooks" / "web.yml"),
            params=plan.params,
            previous=plan.previous,
            digest=plan.digest,
            cli_params={},
            inputs=[i.model_dump() for i in plan.inputs],
        ),
    )
    (project / "playbooks/tasks/release.yml").write_text("- ansible.builtin.debug: {msg: other}\n")
    with pytest.raises(Refused, match=r"playbooks/tasks/release\.yml: [0-9a-f]{12} → [0-9a-f]{12}"):
        execute_resume(project, "r1", use_prefect=False)
    refused = j.read()[-1]
    assert refused["event"] == "resume_refused"
    assert [line.split(":")[0] for line in refused["changed"]] == ["playbooks/tasks/release.yml"]


def test_a_playbook_s_includes_are_followed_as_ansible_finds_them(tmp_path: Path) -> None:
    """import_playbook, vars_files, include_vars, a role's dependencies, script and lookup('file') are read."""
    files = {
        "site.yml": "- ansible.builtin.import_playbook: inner.yml\n",
        "inner.yml": "- hosts: all\n  vars_files: [vars/common.yml]\n  roles: [{role: api}]\n  tasks:\n"
        "    - include_vars: extra.yml\n    - script: scripts/run.sh --now\n"
        "    - debug: {msg: \"{{ lookup('file', 'motd.txt') }}\"}\n",
        "vars/common.yml": "a: 1\n",
        "vars/extra.yml": "b: 2\n",
        "files/scripts/run.sh": "true\n",
        "files/motd.txt": "hello\n",
        "roles/api/meta/main.yml": "dependencies: [base]\n",
        "roles/api/tasks/main.yml": "- debug: {msg: api}\n",
        "roles/base/defaults/main.yml": "c: 3\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = {str(r.path.relative_to(tmp_path)) for r in playbook_files(tmp_path / "site.yml") if r.path}
    assert found == set(files) - {"site.yml"}


def test_golive_run_journals_the_digest_golive_plan_printed(project: Path) -> None:
    """After one successful release, `golive plan` prints the digest the next `golive run` journals."""
    rb = project / "runbooks" / "notify.yml"
    rb.write_text(
        "name: note\nparams: {version: v2}\nsteps:\n"
        "  - id: say\n    notify: 'from {{ previous.version | default(\"none\") }} to {{ params.version }}'\n"
    )
    cli = CliRunner()
    base = [str(rb), "-e", "test", "-p", "version=v3"]
    assert cli.invoke(app, ["run", *base, "--no-prefect"]).exit_code == 0
    printed = json.loads(cli.invoke(app, ["plan", *base, "--json"]).output)
    assert cli.invoke(app, ["run", *base, "--no-prefect"]).exit_code == 0
    journals = sorted((project / "runs").glob("*/journal.jsonl"), key=lambda p: p.stat().st_mtime_ns)
    started = Journal(journals[-1]).read()[0]
    assert printed["previous"] == {"version": "v3"} == started["previous"]
    assert started["digest"] == printed["digest"]
    assert started["inputs"] == printed["inputs"]
