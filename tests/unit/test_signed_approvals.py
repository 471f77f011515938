"""Approvers who are who they say: approvals signed with an SSH key and verified against the env's
allowed signers (ssh-keygen -Y), as git verifies signed commits. Keys are made for each test."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_runner import APPROVAL, FakeWorld, events, make_runner

from golive.signing import SigningError, payload, sign, verify


def keypair(where: Path, name: str) -> Path:
    key = where / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """bob and carol are listed approvers; mallory has a key nobody listed."""
    made = {name: keypair(tmp_path, name) for name in ("bob", "carol", "mallory")}
    lines = [f"{n} {' '.join(made[n].with_suffix('.pub').read_text().split()[:2])}" for n in ("bob", "carol")]
    (tmp_path / "allowed_signers").write_text("\n".join(lines) + "\n")
    return made


def approve(r: Any, *, by: str, key: Path | None, digest: str | None = None, **extra: Any) -> Callable[[], None]:
    """What `golive approve --as BY --sign KEY` journals (the signature over this run, step and plan)."""
    digest = digest or r.plan.digest
    data = payload(run_id="r1", step="approve", digest=digest, decision="approve")
    signature = sign(key, data) if key else None
    return lambda: r.journal.append(
        "control", run_id="r1", action="approve", by=by, digest=digest, step="approve", signature=signature, **extra
    )


def test_a_signature_verifies_only_for_its_run_step_and_plan(tmp_path: Path, keys: dict[str, Path]) -> None:
    signers = tmp_path / "allowed_signers"
    data = payload(run_id="r1", step="approve", digest="d1", decision="approve")
    assert verify(sign(keys["bob"], data), data, allowed_signers=signers) == "bob"
    for other in (
        payload(run_id="r2", step="approve", digest="d1", decision="approve"),
        payload(run_id="r1", step="other", digest="d1", decision="approve"),
        payload(run_id="r1", step="approve", digest="d2", decision="approve"),
    ):
        with pytest.raises(SigningError, match="does not verify"):
            verify(sign(keys["bob"], data), other, allowed_signers=signers)
    with pytest.raises(SigningError, match="not in"):
        verify(sign(keys["mallory"], data), data, allowed_signers=signers)


def test_a_signed_approval_counts_for_the_principal_whose_key_verified(tmp_path: Path, keys: dict[str, Path]) -> None:
    """bob signs but types --as ceo: the approval counts, journaled as bob's and signed."""
    world = FakeWorld()
    r = make_runner(tmp_path, world, text=APPROVAL)
    r.svc.signers = lambda: tmp_path / "allowed_signers"
    world.at.update({2.0: approve(r, by="ceo", key=keys["bob"]), 3.0: approve(r, by="carol", key=keys["carol"])})
    assert r.start() == 0
    accepted = events(r, "approval_accepted")
    assert [(a["by"], a["signed"]) for a in accepted] == [("bob", True), ("carol", True)]


def test_where_signatures_are_required_an_unsigned_or_ui_approval_does_not_count(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    """Unsigned (CLI or Prefect UI), an unlisted key, a signature over another plan: refused; the run waits on."""
    world = FakeWorld()
    r = make_runner(tmp_path, world, text=APPROVAL)
    r.svc.signers = lambda: tmp_path / "allowed_signers"
    world.at.update(
        {
            2.0: approve(r, by="bob", key=None),
            3.0: approve(r, by="carol", key=None, source="prefect-ui"),
            4.0: approve(r, by="mallory", key=keys["mallory"]),
            5.0: approve(r, by="bob", key=keys["bob"], digest="0" * 64),
            6.0: approve(r, by="bob", key=keys["bob"]),
            7.0: approve(r, by="carol", key=keys["carol"]),
        }
    )
    assert r.start() == 0
    refused = [e["reason"] for e in events(r, "approval_refused")]
    assert len(refused) == 4
    assert refused[0].startswith("unsigned") and "--sign" in refused[0]
    assert refused[1].startswith("unsigned")
    assert "not in" in refused[2]
    assert "plan 000000000000" in refused[3] or "does not verify" in refused[3]
    assert [a["by"] for a in events(r, "approval_accepted")] == ["bob", "carol"]
    assert "--sign" in events(r, "approval_requested")[0]["howto"]


def test_an_env_that_requires_signatures_and_names_no_signers_is_refused_by_validate(tmp_path: Path) -> None:
    from golive.context import prepare

    inv = tmp_path / "inventory" / "test"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all: {hosts: {h1: {}}}\n")
    (inv / "group_vars" / "all.yml").write_text("golive_require_signed_approvals: true\n")
    (tmp_path / "rb.yml").write_text("name: a\nsteps:\n  - id: ok\n    approval: {approvers: 1}\n")
    errors = [i.render() for i in prepare(tmp_path / "rb.yml", env="test", params={}).issues() if i.severity == "error"]
    assert len(errors) == 1 and "accepts only signed approvals, and names no allowed signers" in errors[0]
    (inv / "group_vars" / "all.yml").write_text(
        "golive_require_signed_approvals: true\ngolive_allowed_signers: ../../missing_signers\n"
    )
    errors = [i.render() for i in prepare(tmp_path / "rb.yml", env="test", params={}).issues() if i.severity == "error"]
    assert len(errors) == 1 and "missing_signers does not exist" in errors[0]


# ------------------------------------------------------------------ change approvals


def _signed_change(tmp_path: Path) -> tuple[Any, Any]:
    from golive.changes import Change, ChangePolicy, DiskChangeStore, new_change_id

    store = DiskChangeStore(tmp_path / "runs" / "changes")
    policy = ChangePolicy(required=2, protected=True, signers=str(tmp_path / "allowed_signers"))
    change = Change(
        id=new_change_id(),
        created="2026-12-03T06:12:00+00:00",
        proposer="alice",
        runbook="payments",
        file="runbook.yml",
        file_abs="/srv/project/runbook.yml",
        env="prod",
        digest="a" * 64,
        policy=policy,
        plan={"steps": []},
    )
    store.create(change)
    return store, change


def test_a_change_approval_signed_counts_for_the_keys_principal(tmp_path: Path, keys: dict[str, Path]) -> None:
    """bob signs typing --as ceo: recorded as bob's, signed; with carol's the change is approved."""
    from golive.changes import approve

    store, change = _signed_change(tmp_path)
    once = approve(store, change.id, by="ceo", sign=keys["bob"])
    assert once.events[-1].by == "bob" and once.events[-1].signature and once.approvals() == ["bob"]
    assert approve(store, change.id, by=None, sign=keys["carol"]).state().name == "approved"


def test_where_change_approvals_are_signed_unsigned_and_unlisted_ones_are_refused(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    from golive.changes import ChangeRefused, approve

    store, change = _signed_change(tmp_path)
    with pytest.raises(ChangeRefused, match=r"counts only signed approvals.*--sign"):
        approve(store, change.id, by="bob")
    with pytest.raises(ChangeRefused, match="not in"):
        approve(store, change.id, by="mallory", sign=keys["mallory"])
    assert store.get(change.id).events == []


def test_a_forged_or_edited_change_approval_does_not_count(tmp_path: Path, keys: dict[str, Path]) -> None:
    """An approval written into the record by hand, or a signature moved to another name, counts for no one."""
    from golive.changes import ChangeEvent, approve

    store, change = _signed_change(tmp_path)
    signed = approve(store, change.id, by=None, sign=keys["bob"]).events[-1]
    store.append(change.id, ChangeEvent(kind="approved", at=signed.at, by="carol", signature=signed.signature))
    store.append(change.id, ChangeEvent(kind="approved", at=signed.at, by="dave"))
    again = store.get(change.id)
    assert again.approvals() == ["bob"] and again.state().name == "proposed"
    other = again.model_copy(update={"digest": "b" * 64})  # a signature over another plan
    assert other.approvals() == []


def test_change_approvals_in_a_signed_env_carry_its_signers_file(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from golive.changes import policy_of

    inv = SimpleNamespace(
        change_approvers=1,
        protected=True,
        approvers=None,
        require_change=True,
        require_signed_approvals=True,
        allowed_signers=tmp_path / "allowed_signers",
    )
    assert policy_of(inv).signers == str(tmp_path / "allowed_signers")  # type: ignore[arg-type]
    inv.require_signed_approvals = False
    assert policy_of(inv).signers is None  # type: ignore[arg-type]


def test_the_allowed_signers_file_is_an_input_of_the_plan(tmp_path: Path, keys: dict[str, Path]) -> None:
    """A key added to allowed_signers after a plan was approved changes its digest, naming the file."""
    from types import SimpleNamespace

    from golive.inputs import collect_inputs, diff_inputs

    signers = tmp_path / "allowed_signers"
    inv = SimpleNamespace(
        env="prod",
        require_signed_approvals=True,
        allowed_signers=signers,
        raw_vars=lambda hosts: {},
        raw_settings=lambda: {},
    )
    loaded = SimpleNamespace(runbook=SimpleNamespace(name="rb", steps=[], model_dump=lambda mode: {}))

    def inputs() -> list[Any]:
        return collect_inputs(
            loaded,  # type: ignore[arg-type]
            root=tmp_path,
            inventory=inv,  # type: ignore[arg-type]
            params={},
            previous={},
            placement={},
            touched=[],
        )

    before = inputs()
    with signers.open("a") as f:
        f.write(f"mallory {' '.join(keys['mallory'].with_suffix('.pub').read_text().split()[:2])}\n")
    assert [line for line in diff_inputs(before, inputs()) if "allowed_signers" in line]
