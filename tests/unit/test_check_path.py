"""golive run --check: every step kind says what a real run would do; ssh steps run only their
check_command; checks measure for real; approvals, pauses and notifications are simulated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_runner import INV, ROOT, FakeWorld
from typer.testing import CliRunner

from golive.context import RunContext
from golive.engine.checkpath import KIND_LINES, check_path
from golive.engine.dryrun import AnsibleCheck, DryRunReport
from golive.engine.gates import GateRunner
from golive.kinds import KINDS
from golive.runbook.load import parse_runbook

RUNBOOK = """
name: checked
steps:
  - id: preflight
    check:
      - http: "http://{{ host }}/health"
        hosts: app
  - id: freeze
    ansible: {playbook: playbooks/freeze.yml, hosts: db}
    rollback: {ansible: {playbook: playbooks/unfreeze.yml, hosts: db}}
  - id: sync
    ssh: {hosts: db, command: "echo {{ params.v }} > /srv/x", check_command: "test -d /srv"}
    rollback: {ssh: {hosts: db, command: "rm -f /srv/x"}}
  - id: sign-off
    approval: {approvers: 2, message: "ship {{ params.v }}?", timeout: 20m}
  - id: hold
    pause: {duration: 30s}
  - id: tell
    notify: "released {{ params.v }}"
params: {v: "7"}
"""


def ctx_of(text: str = RUNBOOK) -> RunContext:
    loaded = parse_runbook(text, file=str(ROOT / "checked.yml"))
    return RunContext(loaded=loaded, root=ROOT, env="test", inventory=INV, params={})


def gates(world: FakeWorld) -> Any:
    return lambda: GateRunner(probe=world.probe, sleep=world.asleep)


def test_every_step_kind_has_a_check_mode_line() -> None:
    assert set(KINDS) == set(KIND_LINES)


def test_the_path_names_each_step_what_it_would_do_and_where_it_would_wait() -> None:
    ran: list[tuple[list[str], str]] = []

    def ssh(hosts: list[str], command: str) -> dict[str, tuple[bool, str]]:
        ran.append((hosts, command))
        return {h: (True, "") for h in hosts}

    report = DryRunReport(ansible=[AnsibleCheck("freeze", ["db-1", "db-2"], ["db-1"], {})])
    path = check_path(ctx_of(), report, initiator="alice", gates=gates(FakeWorld()), ssh=ssh)
    lines = {line.step: line for line in path.lines}
    assert path.ok
    assert "PASS" in lines["preflight"].details[0]
    assert "check mode: would change db-1" in lines["freeze"].details
    assert "db-1: would run: echo 7 > /srv/x" in lines["sync"].details
    assert ran == [(["db-1", "db-2"], "test -d /srv")]  # the probe, never the command
    assert lines["sign-off"].stops and "simulated" in lines["sign-off"].what and "ship 7?" in lines["sign-off"].what
    assert "would wait 30s" in lines["hold"].what
    assert "not sent" in lines["tell"].what and "released 7" in lines["tell"].what
    assert path.predicted_s > 0 and path.estimate_s > 0


def test_a_failing_check_command_or_check_is_a_refusal() -> None:
    def ssh(hosts: list[str], command: str) -> dict[str, tuple[bool, str]]:
        return {h: (h != "db-2", "no /srv") for h in hosts}

    path = check_path(ctx_of(), DryRunReport(), initiator="alice", gates=gates(FakeWorld(bad_hosts={"app-3"})), ssh=ssh)
    lines = {line.step: line for line in path.lines}
    assert not path.ok
    assert lines["sync"].refused == "check_command failed on db-2"
    assert lines["preflight"].refused and "stop here" in str(lines["preflight"].stops)


def test_an_ssh_step_without_a_check_command_says_nothing_was_tried() -> None:
    text = RUNBOOK.replace(', check_command: "test -d /srv"', "")
    path = check_path(ctx_of(text), DryRunReport(), initiator="a", gates=gates(FakeWorld()), ssh=lambda h, c: {})
    sync = next(line for line in path.lines if line.step == "sync")
    assert any("check_command: none" in d for d in sync.details) and sync.refused is None


def test_run_check_without_an_env_prints_the_path_and_changes_nothing(tmp_path: Path) -> None:
    from golive.cli import app

    (tmp_path / "rb.yml").write_text("name: t\nsteps:\n  - id: hold\n    pause: 5s\n  - id: say\n    notify: hi\n")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "rb.yml"), "--check"])
    assert result.exit_code == 0, result.output
    assert "the path the run would take" in result.output and "would say (not sent): hi" in result.output
    assert not (tmp_path / "runs").exists()


def test_run_check_json_is_the_path_as_data_and_json_without_check_is_refused(tmp_path: Path) -> None:
    import json

    from golive.cli import app

    (tmp_path / "rb.yml").write_text("name: t\nsteps:\n  - id: hold\n    pause: 5s\n  - id: say\n    notify: hi\n")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "rb.yml"), "--check", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["ok"] and body["runbook"] == "t" and body["problems"] == []
    assert [s["step"] for s in body["path"]["steps"]] == ["hold", "say"]
    assert body["path"]["steps"][1]["what"] == "would say (not sent): hi"
    refused = CliRunner().invoke(app, ["run", str(tmp_path / "rb.yml"), "--json"])
    assert refused.exit_code == 2 and "--json goes with --check" in refused.output
    assert not (tmp_path / "runs").exists()
