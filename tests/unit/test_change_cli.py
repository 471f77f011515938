"""golive plan --save, change approve/reject/show, changes and run --change, on a small project in tmp."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from golive.cli import app

CASES = Path(__file__).resolve().parents[1] / "cases"
EXIT_BAD_INPUT, EXIT_REFUSED = 2, 4
RUNBOOK = """\
name: smoke
params: {version: "1"}
steps:
  - id: deploy
    ansible: {playbook: playbooks/deploy.yml, hosts: app}
    rollback: {ansible: {playbook: playbooks/deploy.yml, hosts: app}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The case fixtures' inventories (test, prod) and playbooks, plus env "gated": two approvers of three."""
    shutil.copytree(CASES / "inventory", tmp_path / "inventory")
    shutil.copytree(CASES / "playbooks", tmp_path / "playbooks")
    (tmp_path / "keys").mkdir()  # prod counts only signed approvals: alice's and bob's keys are listed
    for name in ("alice", "bob"):
        key = tmp_path / "keys" / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
        with (tmp_path / "keys" / "prod_allowed_signers").open("a") as f:
            f.write(f"{name} {' '.join(key.with_suffix('.pub').read_text().split()[:2])}\n")
    gated = tmp_path / "inventory" / "gated"
    shutil.copytree(tmp_path / "inventory" / "test", gated)
    with (gated / "group_vars" / "all.yml").open("a") as f:
        f.write("golive_change_approvers: 2\ngolive_approvers: [bob, carol, dave]\ngolive_require_change: true\n")
    (tmp_path / "rb.yml").write_text(RUNBOOK)
    for var in ("GOLIVE_RUNS_DIR", "GOLIVE_INVENTORY", "PREFECT_API_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GOLIVE_USER", "alice")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def golive(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result


def propose(env: str = "prod", *extra: str) -> str:
    done = golive("plan", "rb.yml", "-e", env, "--save", *extra)
    assert done.exit_code == 0, done.output
    found = re.search(r"change (chg-\S+) proposed by", done.output)
    assert found, done.output
    return found.group(1)


def test_plan_save_records_the_change_owner_only_and_prints_its_id(project: Path) -> None:
    """plan --save writes runs/changes/<id>.json (0600) with proposer, comment, params, digest and inputs."""
    cid = propose("prod", "-p", "version=2", "--as", "erin", "--comment", "tonight")
    path = project / "runs" / "changes" / f"{cid}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    shown = golive("change", "show", cid)
    assert shown.exit_code == 0
    for text in (
        "proposed by erin",
        "tonight",
        "version=2",
        "playbooks/deploy.yml",
        "approvals 0/1 (proposer excluded)",
    ):
        assert text in shown.output
    assert re.search(r"plan digest [0-9a-f]{64}", shown.output)


def test_a_saved_change_carries_the_go_live_document_its_approvers_read(project: Path) -> None:
    """plan --save attaches golive doc's Markdown; change show --document prints it, step and rollback included."""
    cid = propose("prod")
    shown = golive("change", "show", cid, "--document")
    assert shown.exit_code == 0
    assert "deploy" in shown.output and "Rollback" in shown.output, shown.output[:2000]


def test_changes_lists_id_runbook_env_proposer_and_state_filtered_by_env(project: Path) -> None:
    """golive changes shows one row per change; -e keeps one env's."""
    in_prod, in_test = propose("prod"), propose("test")
    listed = golive("changes")
    assert in_prod in listed.output and in_test in listed.output and "proposed" in listed.output
    only = golive("changes", "-e", "test")
    assert in_test in only.output and in_prod not in only.output


def test_an_unknown_or_malformed_change_id_is_bad_input_listing_the_known_ones(project: Path) -> None:
    """approve, show and run --change of an id that names no change exit 2 and list the changes there are."""
    cid = propose("prod")
    for args in (
        ("change", "approve", "chg-20990101-0000-ffff", "--as", "bob"),
        ("run", "--change", "chg-20990101-0000-ffff"),
    ):
        done = golive(*args)
        assert done.exit_code == EXIT_BAD_INPUT and cid in done.output
    malformed = golive("change", "show", "change-1")
    assert malformed.exit_code == EXIT_BAD_INPUT and "change ids look like" in malformed.output


def test_the_proposer_approving_in_prod_is_refused(project: Path) -> None:
    """In prod (protected) the proposer's approval exits 4."""
    cid = propose("prod")
    done = golive("change", "approve", cid, "--sign", "keys/alice")
    assert done.exit_code == EXIT_REFUSED and "proposer may not approve" in done.output


def test_prod_counts_only_signed_change_approvals(project: Path) -> None:
    """Unsigned: exit 4 naming --sign; signed by bob's key: approved, shown as signed, and run --change goes on."""
    cid = propose("prod")
    unsigned = golive("change", "approve", cid, "--as", "bob")
    assert unsigned.exit_code == EXIT_REFUSED and "--sign" in unsigned.output
    signed = golive("change", "approve", cid, "--sign", "keys/bob")
    assert signed.exit_code == 0 and "approved by bob (signed)" in signed.output, signed.output
    assert "approved by bob (signed)" in golive("change", "show", cid).output
    assert golive("change", "approve", cid).exit_code == EXIT_BAD_INPUT  # neither --as nor --sign


def test_a_rejected_change_is_neither_approved_nor_run(project: Path) -> None:
    """After change reject, approve and run --change both exit 4."""
    cid = propose("prod")
    assert golive("change", "reject", cid, "--as", "carol", "--comment", "no").exit_code == 0
    assert golive("change", "approve", cid, "--as", "bob").exit_code == EXIT_REFUSED
    ran = golive("run", "--change", cid)
    assert ran.exit_code == EXIT_REFUSED and "rejected by carol" in ran.output


def test_run_change_with_params_or_a_runbook_is_bad_input(project: Path) -> None:
    """The change fixes runbook, env and params: giving them beside --change exits 2."""
    cid = propose("prod")
    for extra in (("-p", "version=3"), ("rb.yml",), ("-e", "test")):
        done = golive("run", "--change", cid, *extra)
        assert done.exit_code == EXIT_BAD_INPUT and "cannot be given with --change" in done.output


def test_an_env_that_requires_changes_refuses_a_plain_run_and_says_how(project: Path) -> None:
    """golive run in prod without --change exits 4, naming plan --save, change approve and run --change."""
    done = golive("run", "rb.yml", "-e", "prod", "--no-prefect")
    assert done.exit_code == EXIT_REFUSED
    for text in ("--save", "golive change approve", "golive run --change"):
        assert text in done.output
    assert not (project / "runs").exists() or not list((project / "runs").glob("*/journal.jsonl"))


def test_run_change_without_enough_distinct_approvers_is_refused(project: Path) -> None:
    """In an env needing two approvers, one person approving twice is not enough: run --change exits 4."""
    cid = propose("gated")
    golive("change", "approve", cid, "--as", "bob")
    golive("change", "approve", cid, "--as", "bob")
    done = golive("run", "--change", cid, "--no-prefect")
    assert done.exit_code == EXIT_REFUSED and "approved by bob: 2 distinct approver(s) needed" in done.output
    outsider = golive("change", "approve", cid, "--as", "mallory")
    assert outsider.exit_code == EXIT_REFUSED and "not among the env's approvers" in outsider.output


def test_run_change_refuses_an_input_changed_since_approval_naming_it(project: Path) -> None:
    """A change whose playbook was edited after approval exits 4, naming the file and both hashes; nothing runs."""
    cid = propose("prod")
    assert golive("change", "approve", cid, "--sign", "keys/bob").exit_code == 0
    with (project / "playbooks" / "deploy.yml").open("a") as f:
        f.write("# edited after approval\n")
    done = golive("run", "--change", cid, "--no-prefect")
    assert done.exit_code == EXIT_REFUSED
    assert re.search(r"playbooks/deploy\.yml: [0-9a-f]{12} → [0-9a-f]{12}", done.output), done.output
    assert not list((project / "runs").glob("*/journal.jsonl"))
    assert "approved" in golive("changes").output


def test_change_settings_of_the_wrong_type_fail_validation(project: Path) -> None:
    """golive validate names golive_change_approvers and golive_require_change of the wrong type, exit 2."""
    bad = project / "inventory" / "test" / "group_vars" / "all.yml"
    with bad.open("a") as f:
        f.write("golive_change_approvers: two\ngolive_require_change: 'yes'\n")
    done = golive("validate", "rb.yml", "-e", "test")
    assert done.exit_code == EXIT_BAD_INPUT
    assert "golive_change_approvers: Input should be a valid integer" in done.output
    assert "golive_require_change: Input should be a valid boolean" in done.output


def test_change_settings_default_by_protection(project: Path) -> None:
    """prod (protected) needs one approver and requires changes; test needs none and does not."""
    from golive.inventory import load_inventory

    prod, test = (load_inventory(root=project, env=e) for e in ("prod", "test"))
    assert (prod.change_approvers, prod.require_change) == (1, True)
    assert (test.change_approvers, test.require_change) == (0, False)
