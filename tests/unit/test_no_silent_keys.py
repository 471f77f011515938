"""Every key golive accepts does something: changing it changes the plan, or a named test
proves what it does at run time. A new field without either fails here."""

from __future__ import annotations

import ast
import copy
import shutil
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from golive.context import prepare
from golive.envsettings import EnvSettings
from golive.runbook.models import Runbook

DATA = Path(__file__).parent / "data" / "every_key"
TESTS = Path(__file__).parents[1]

# field -> (path in data/every_key/runbook.yml, a new value): the plan must differ.
PLAN: dict[str, tuple[tuple[str | int, ...], Any]] = {
    "Runbook.name": (("name",), "other"),
    "Runbook.description": (("description",), "other"),
    "Runbook.owner": (("owner",), "someone-else"),
    "Runbook.params": (("params",), {"version": "v3"}),
    "Runbook.previous": (("previous",), {"version": "v0"}),
    "Runbook.steps": (("steps",), None),  # dropped below: every step shows in the plan
    "StepBase.id": (("steps", 0, "id"), "first"),
    "StepBase.owner": (("steps", 0, "owner"), "web"),
    "StepBase.description": (("steps", 0, "description"), "look twice"),
    "StepBase.timeout": (("steps", 1, "timeout"), "45s"),
    "StepBase.retries": (("steps", 1, "retries"), 2),
    "StepBase.verify": (("steps", 1, "verify"), []),
    "StepBase.bake": (("steps", 1, "bake"), "9s"),
    "StepBase.rollback": (("steps", 2, "rollback"), {"none": "nothing to undo"}),
    "Batched.batches": (("steps", 1, "batches"), [2, "100%"]),
    "Batched.max_fail": (("steps", 1, "max_fail"), 1),
    "CheckStep.check": (("steps", 0, "check"), [{"tcp": "{{ host }}:22", "hosts": "db"}]),
    "AnsibleStep.ansible": (("steps", 1, "ansible", "hosts"), "db"),
    "AnsibleAction.playbook": (("steps", 1, "ansible", "playbook"), "playbooks/freeze.yml"),
    "AnsibleAction.hosts": (("steps", 1, "ansible", "hosts"), "app-1"),
    "AnsibleAction.vars": (("steps", 1, "ansible", "vars"), {"v": 3}),
    "AnsibleAction.forks": (("steps", 1, "ansible", "forks"), 20),
    "AnsibleAction.tags": (("steps", 1, "ansible", "tags"), ["other"]),
    "SshStep.ssh": (("steps", 2, "ssh", "command"), "echo there"),
    "SshAction.hosts": (("steps", 2, "ssh", "hosts"), "app-1"),
    "SshAction.command": (("steps", 2, "ssh", "command"), ["echo", "x"]),
    "SshAction.timeout": (("steps", 2, "ssh", "timeout"), "90s"),
    "RollbackAction.ansible": (("steps", 1, "rollback", "ansible", "playbook"), "playbooks/unfreeze.yml"),
    "RollbackAction.ssh": (("steps", 2, "rollback", "ssh", "command"), "echo other"),
    "NoRollback.none": (("steps", 2, "rollback"), {"none": "a read-only command"}),
    "K8sStep.k8s": (("steps", 3, "k8s", "deployment"), "web"),
    "K8sAction.deployment": (("steps", 3, "k8s", "deployment"), "web"),
    "K8sAction.namespace": (("steps", 3, "k8s", "namespace"), "other"),
    "K8sAction.image": (("steps", 3, "k8s", "image"), "registry.local/api:9"),
    "K8sAction.manifest": (("steps", 7, "k8s", "manifest"), "manifests/other.yml"),
    "K8sAction.replicas": (("steps", 5, "k8s", "replicas"), 4),
    "K8sAction.service": (("steps", 6, "k8s", "service"), "web"),
    "K8sAction.selector": (("steps", 6, "k8s", "selector"), {"app": "web"}),
    "K8sAction.strategy": (("steps", 3, "k8s", "strategy"), "rolling"),
    "K8sAction.timeout": (("steps", 3, "k8s", "timeout"), "600s"),
    "Canary.canary": (("steps", 3, "k8s", "strategy", "canary"), [50, 100]),
    "BlueGreen.blue_green": (("steps", 4, "k8s", "strategy", "blue_green", "service"), "web"),
    "BlueGreenSpec.service": (("steps", 4, "k8s", "strategy", "blue_green", "service"), "web"),
    "BlueGreenSpec.bake": (("steps", 4, "k8s", "strategy", "blue_green", "bake"), "30s"),
    "ApprovalStep.approval": (("steps", 8, "approval", "approvers"), 2),
    "ApprovalSpec.approvers": (("steps", 8, "approval", "approvers"), 2),
    "ApprovalSpec.exclude_initiator": (("steps", 8, "approval", "exclude_initiator"), True),
    "ApprovalSpec.timeout": (("steps", 8, "approval", "timeout"), "2h"),
    "ApprovalSpec.on_timeout": (("steps", 8, "approval", "on_timeout"), "abort"),
    "ApprovalSpec.message": (("steps", 8, "approval", "message"), "really?"),
    "PauseStep.pause": (("steps", 9, "pause", "duration"), "20s"),
    "PauseSpec.duration": (("steps", 9, "pause", "duration"), "20s"),
    "PauseSpec.reason": (("steps", 9, "pause", "reason"), "other"),
    "NotifyStep.notify": (("steps", 10, "notify", "message"), "finished"),
    "NotifySpec.message": (("steps", 10, "notify", "message"), "finished"),
    "NotifySpec.channel": (("steps", 10, "notify", "channel"), "journal"),
    "HttpCheck.http": (("steps", 0, "check", 0, "http"), "http://{{ host }}:8080/ready"),
    "HttpCheck.hosts": (("steps", 0, "check", 0, "hosts"), "app-1"),
    "HttpCheck.method": (("steps", 0, "check", 0, "method"), "HEAD"),
    "HttpCheck.expect": (("steps", 0, "check", 0, "expect"), {"status": 204}),
    "HttpExpect.status": (("steps", 0, "check", 0, "expect", "status"), [200, 204]),
    "HttpExpect.body": (("steps", 0, "check", 0, "expect", "body"), "fine"),
    "HttpExpect.max_latency": (("steps", 0, "check", 0, "expect", "max_latency"), "3s"),
    "Repeat.interval": (("steps", 0, "check", 0, "interval"), "5s"),
    "Repeat.initial_delay": (("steps", 0, "check", 0, "initial_delay"), "5s"),
    "Repeat.count": (("steps", 0, "check", 0, "count"), 4),
    "Repeat.failure_limit": (("steps", 0, "check", 0, "failure_limit"), 1),
    "TcpCheck.tcp": (("steps", 0, "check", 1, "tcp"), "{{ host }}:5433"),
    "TcpCheck.hosts": (("steps", 0, "check", 1, "hosts"), "db-1"),
    "CommandCheck.command": (("steps", 0, "check", 2, "command"), "cat /etc/version"),
    "CommandCheck.hosts": (("steps", 0, "check", 2, "hosts"), "app-1"),
    "CommandCheck.expect": (("steps", 0, "check", 2, "expect"), {"rc": 1}),
    "CommandExpect.rc": (("steps", 0, "check", 2, "expect", "rc"), 1),
    "CommandExpect.stdout": (("steps", 0, "check", 2, "expect", "stdout"), "v2"),
    "PrometheusCheck.prometheus": (("steps", 0, "check", 3, "prometheus"), "sum(rate(other[1m]))"),
    "PrometheusCheck.max": (("steps", 0, "check", 3, "max"), 0.1),
    "PrometheusCheck.min": (("steps", 0, "check", 3, "min"), 0.01),
    "PrometheusCheck.baseline": (("steps", 0, "check", 3, "baseline"), None),
    "Baseline.query": (("steps", 0, "check", 3, "baseline", "query"), "sum(rate(errors[2h]))"),
    "Baseline.max_ratio": (("steps", 0, "check", 3, "baseline", "max_ratio"), 3),
    "Baseline.max_delta": (("steps", 0, "check", 3, "baseline", "max_delta"), 0.5),
    "K8sCheck.k8s": (("steps", 0, "check", 4, "k8s", "deployment"), "web"),
    "K8sCheckSpec.deployment": (("steps", 0, "check", 4, "k8s", "deployment"), "web"),
    "K8sCheckSpec.namespace": (("steps", 0, "check", 4, "k8s", "namespace"), "other"),
    "K8sCheckSpec.available": (("steps", 0, "check", 4, "k8s", "available"), False),
    "K8sCheckSpec.max_restarts": (("steps", 0, "check", 4, "k8s", "max_restarts"), 3),
    "K8sCheckSpec.context": (("steps", 0, "check", 4, "k8s", "context"), "other"),
    "K8sAction.context": (("steps", 3, "k8s", "context"), "other"),
    "SshAction.max_output": (("steps", 2, "ssh", "max_output"), 4096),
    "Repeat.consecutive_errors": (("steps", 0, "check", 0, "consecutive_errors"), 5),
    "Repeat.timeout": (("steps", 0, "check", 0, "timeout"), "9s"),
    "PrometheusCheck.url": (("steps", 0, "check", 3, "url"), "http://127.0.0.1:9091"),
    "RollbackAction.k8s": (("steps", 3, "rollback"), {"k8s": "restore"}),
}

# env setting -> a value for group_vars/all.yml of env "test": the plan must differ.
ENV_PLAN: dict[str, Any] = {
    "golive_approvers": ["alice", "bob"],
    "golive_protected": True,
    "golive_prometheus_url": "http://127.0.0.1:9092",
}
# Settings written beside a key of ENV_PLAN so that the env stays valid (a protected env
# requires signed approvals, proven by the tests WITNESS names).
ENV_ALSO: dict[str, dict[str, Any]] = {"golive_protected": {"golive_require_signed_approvals": False}}

# field -> a new value: the go-live document (golive doc) must differ.
DOC: dict[str, tuple[tuple[str | int, ...], Any]] = {
    "Runbook.contacts": (("contacts",), None),
    "Runbook.risks": (("risks",), None),
    "Runbook.prerequisites": (("prerequisites",), ["change approved"]),
    "Contact.role": (("contacts", 0, "role"), "lead"),
    "Contact.name": (("contacts", 0, "name"), "Bo"),
    "Contact.phone": (("contacts", 0, "phone"), "+1 555 0199"),
    "Contact.chat": (("contacts", 0, "chat"), "@bo"),
    "Contact.email": (("contacts", 0, "email"), "bo@example.com"),
    "Risk.risk": (("risks", 0, "risk"), "lock contention"),
    "Risk.likelihood": (("risks", 0, "likelihood"), "high"),
    "Risk.impact": (("risks", 0, "impact"), "low"),
    "Risk.mitigation": (("risks", 0, "mitigation"), "throttle"),
    "Risk.owner": (("risks", 0, "owner"), "web"),
}

# field -> tests that prove what it does where the plan cannot show it.
WITNESS: dict[str, list[str]] = {
    "Runbook.envs": ["cases/43-env-not-allowed"],
    "SshAction.check_command": [
        "unit/test_check_path.py::test_the_path_names_each_step_what_it_would_do_and_where_it_would_wait"
    ],
    "Runbook.secrets": ["unit/test_secrets.py::test_a_run_uses_the_secret_and_no_journal_line_or_log_holds_it"],
    "SecretRef.env": ["unit/test_secrets.py::test_a_secret_from_env_or_file_is_resolved_and_registered"],
    "SecretRef.file": ["unit/test_secrets.py::test_a_secret_from_env_or_file_is_resolved_and_registered"],
    "SecretRef.prefect_block": ["integration/test_secrets_lab.py::test_a_cutover_with_a_secret_writes_it_nowhere"],
    "Runbook.snapshot": [
        "integration/test_rehearsal_lab.py::test_a_broken_rollback_turns_its_matrix_row_red_and_stops_the_matrix"
    ],
    "SnapshotProbe.name": [
        "integration/test_rehearsal_lab.py::test_snapshot_probes_read_a_command_an_http_body_and_a_file_and_diff_what_changed"
    ],
    "SnapshotProbe.command": [
        "integration/test_rehearsal_lab.py::test_snapshot_probes_read_a_command_an_http_body_and_a_file_and_diff_what_changed"
    ],
    "SnapshotProbe.http": [
        "integration/test_rehearsal_lab.py::test_snapshot_probes_read_a_command_an_http_body_and_a_file_and_diff_what_changed"
    ],
    "SnapshotProbe.file": [
        "integration/test_rehearsal_lab.py::test_snapshot_probes_read_a_command_an_http_body_and_a_file_and_diff_what_changed"
    ],
    "SnapshotProbe.hosts": [
        "integration/test_rehearsal_lab.py::test_snapshot_probes_read_a_command_an_http_body_and_a_file_and_diff_what_changed"
    ],
    "EnvSettings.golive_faults": [
        "integration/test_rehearsal_lab.py::test_host_down_from_golive_faults_is_a_real_fault"
    ],
    "Runbook.watch": ["unit/test_watch.py::test_a_good_release_succeeds_only_after_its_watch"],
    "Watch.duration": ["unit/test_watch.py::test_resume_after_a_crash_during_the_watch_watches_for_the_time_left"],
    "Watch.checks": ["unit/test_watch.py::test_a_check_failing_during_the_watch_rolls_every_step_back_newest_first"],
    "Watch.on_fail": ["unit/test_watch.py::test_on_fail_pause_waits_for_a_human_and_watches_on"],
    "Runbook.window": ["unit/test_run_window.py::test_the_refusal_names_the_next_opening_in_the_window_zone_and_utc"],
    "Window.allow": ["unit/test_windows.py::test_outside_a_window_it_is_closed_and_names_the_next_opening"],
    "Window.tz": ["unit/test_windows.py::test_the_plan_view_says_closed_and_the_next_opening_in_both_zones"],
    "EnvSettings.golive_notify": [
        "unit/test_notify.py::test_notify_test_sends_to_each_channel_and_says_which_failed",
        "unit/test_notify.py::test_bad_channel_settings_are_refused",
    ],
    "NotifySpec.to": ["unit/test_notify.py::test_a_notify_step_sends_its_message_to_the_channels_it_names"],
    "EnvSettings.golive_timezone": ["unit/test_windows.py::test_unknown_zone_and_backwards_freeze_are_refused"],
    "EnvSettings.golive_windows": ["unit/test_windows.py::test_runbook_and_env_windows_must_both_be_open"],
    "EnvSettings.golive_freezes": ["unit/test_run_window.py::test_a_freeze_starting_mid_run_pauses_it"],
    "EnvSettings.golive_min_approvers": ["cases/28-approval-too-few-in-prod"],
    "EnvSettings.golive_change_approvers": [
        "unit/test_changes.py::test_two_distinct_approvers_are_needed_where_configured_and_one_person_counts_once"
    ],
    "EnvSettings.golive_require_change": [
        "unit/test_change_cli.py::test_an_env_that_requires_changes_refuses_a_plain_run_and_says_how"
    ],
    "EnvSettings.golive_clusters": ["cases/35-unknown-k8s-cluster"],
    "EnvSettings.golive_known_hosts": ["integration/test_drivers.py::test_changed_host_key_is_refused"],
    "EnvSettings.golive_allowed_signers": [
        "unit/test_signed_approvals.py::test_a_signed_approval_counts_for_the_principal_whose_key_verified"
    ],
    "EnvSettings.golive_require_signed_approvals": [
        "unit/test_signed_approvals.py::test_where_signatures_are_required_an_unsigned_or_ui_approval_does_not_count",
        "unit/test_signed_approvals.py::test_an_env_that_requires_signatures_and_names_no_signers_is_refused_by_validate",
    ],
}

# Fields not proven yet: each is refused by validate until it does what it says.
KNOWN_GAPS: dict[str, str] = {}


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ in seen:
                return
            seen[tp.__name__] = tp
            for f in tp.model_fields.values():
                visit(f.annotation)
            return
        for arg in typing.get_args(tp):
            visit(arg)
        if isinstance(tp, types.UnionType):
            for arg in tp.__args__:
                visit(arg)

    visit(root)
    return seen


def _fields() -> list[str]:
    out: set[str] = set()
    for model in {**_models(Runbook), "EnvSettings": EnvSettings}.values():
        for field in model.model_fields:
            # a field is said once, by the class that declares it
            owner = next(c for c in reversed(model.__mro__) if field in getattr(c, "__annotations__", {}))
            out.add(f"{owner.__name__}.{field}")
    return sorted(out)


def test_every_field_has_a_witness() -> None:
    """No field of the runbook or the env settings is accepted without proof that it acts."""
    proven = {*PLAN, *DOC, *WITNESS, *KNOWN_GAPS, *(f"EnvSettings.{k}" for k in ENV_PLAN)}
    missing = [f for f in _fields() if f not in proven]
    assert not missing, f"fields with no test that they do something: {missing}"
    stale = [f for f in [*PLAN, *DOC, *WITNESS] if f not in _fields()]
    assert not stale, f"entries for fields that no longer exist: {stale}"


def _test_exists(ref: str) -> bool:
    if ref.startswith("cases/"):
        return (TESTS / ref / "expected.txt").exists() or (TESTS / ref / "expected-plan.json").exists()
    file, _, name = ref.partition("::")
    path = TESTS / file
    if not path.exists():
        return False
    tree = ast.parse(path.read_text())
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in ast.walk(tree))


@pytest.mark.parametrize("field", sorted(WITNESS))
def test_witness_tests_exist(field: str) -> None:
    """The tests named as proof of a run-time key exist."""
    refs = WITNESS[field]
    if field in KNOWN_GAPS or not refs:
        pytest.skip(f"{field}: {KNOWN_GAPS.get(field, 'proven elsewhere')}")
    assert all(_test_exists(r) for r in refs), f"{field}: {refs}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("every_key")
    shutil.copytree(DATA, root, dirs_exist_ok=True)
    (root / "manifests" / "other.yml").write_text((root / "manifests" / "api.yml").read_text())
    return root


def _plan(project: Path, body: dict[str, Any]) -> dict[str, Any]:
    path = project / "runbook.yml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    ctx = prepare(path, env="test", params={})
    errors = [i.render() for i in ctx.issues() if i.severity == "error"]
    assert not errors, errors
    return ctx.plan().model_dump(mode="json", exclude={"digest", "inputs", "file", "schedule"})


def _set(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


@pytest.mark.parametrize("field", sorted(PLAN))
def test_changing_the_field_changes_the_plan(project: Path, field: str) -> None:
    """Each key shown by the plan: a different value, a different plan."""
    base = yaml.safe_load((DATA / "runbook.yml").read_text())
    path, value = PLAN[field]
    changed = {**base, "steps": base["steps"][:-1]} if field == "Runbook.steps" else _set(base, path, value)
    assert _plan(project, changed) != _plan(project, base), f"{field}: {path} = {value!r} left the plan unchanged"


@pytest.mark.parametrize("key", sorted(ENV_PLAN))
def test_changing_an_env_setting_changes_the_plan(project: Path, key: str) -> None:
    """Each env setting shown by the plan: a different value, a different plan."""
    base = yaml.safe_load((DATA / "runbook.yml").read_text())
    settings = project / "inventory" / "test" / "group_vars" / "all.yml"
    original = settings.read_text()
    before = _plan(project, base)
    try:
        values = yaml.safe_load(original) or {}
        settings.write_text(yaml.safe_dump({**values, **ENV_ALSO.get(key, {}), key: ENV_PLAN[key]}))
        after = _plan(project, base)
    finally:
        settings.write_text(original)
    assert after != before, f"{key} = {ENV_PLAN[key]!r} left the plan unchanged"


def _document(project: Path, body: dict[str, Any]) -> str:
    from golive.report.document import render_document

    path = project / "runbook.yml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return render_document(prepare(path, env="test", params={}), fmt="md")


@pytest.mark.parametrize("field", sorted(DOC))
def test_changing_the_field_changes_the_golive_document(project: Path, field: str) -> None:
    """Each key the go-live document shows: a different value, a different document."""
    base = yaml.safe_load((DATA / "runbook.yml").read_text())
    path, value = DOC[field]
    assert _document(project, _set(base, path, value)) != _document(project, base), f"{field} left the doc unchanged"
