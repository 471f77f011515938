"""Changes: the store on disk and the rules of approving, rejecting and running a change."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from golive.changes import (
    BadChangeId,
    Change,
    ChangeEvent,
    ChangePolicy,
    ChangeRefused,
    DiskChangeStore,
    UnknownChange,
    approve,
    new_change_id,
    reject,
)
from golive.changes.model import CHANGE_ID
from golive.plan import PlanInput

PROD = ChangePolicy(required=1, protected=True, require_change=True)
TWO = ChangePolicy(required=2, protected=True, approvers=["bob", "carol", "dave"])


def _change(store: DiskChangeStore, policy: ChangePolicy = PROD, *, proposer: str = "alice") -> Change:
    change = Change(
        id=new_change_id(),
        created="2026-12-03T06:12:00+00:00",
        proposer=proposer,
        runbook="payments",
        file="runbook.yml",
        file_abs="/srv/project/runbook.yml",
        env="prod",
        digest="a" * 64,
        inputs=[PlanInput(kind="file", name="playbooks/deploy.yml", sha256="1" * 64)],
        policy=policy,
        plan={"steps": []},
    )
    store.create(change)
    return change


@pytest.fixture
def store(tmp_path: Path) -> DiskChangeStore:
    return DiskChangeStore(tmp_path / "runs" / "changes")


def test_a_change_id_is_short_readable_and_matches_the_id_pattern() -> None:
    """New ids read chg-YYYYMMDD-HHMM-xxxx."""
    cid = new_change_id()
    assert CHANGE_ID.match(cid) and len(cid) == len("chg-20261203-0612-ab12")


def test_a_change_is_kept_owner_only_and_read_back_whole(store: DiskChangeStore) -> None:
    """The record is 0600 in a 0700 directory and reads back equal, with no temporary file left."""
    change = _change(store)
    path = store.dir / f"{change.id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.dir.stat().st_mode) == 0o700
    assert store.get(change.id) == change
    assert store.ids() == [change.id]
    assert not list(store.dir.glob("*.tmp"))


def test_a_malformed_id_is_bad_input(store: DiskChangeStore) -> None:
    """An id not shaped like chg-YYYYMMDD-HHMM-xxxx is refused as bad input, saying what one looks like."""
    with pytest.raises(BadChangeId, match="chg-20261203-0612-ab12"):
        store.get("../../etc/passwd")


def test_an_unknown_id_names_the_nearest_and_the_known_ones(store: DiskChangeStore) -> None:
    """An unknown change id says which changes exist and which one was probably meant."""
    change = _change(store)
    typo = change.id[:-1] + ("0" if change.id[-1] != "0" else "1")
    with pytest.raises(UnknownChange) as exc:
        store.get(typo)
    assert f"did you mean {change.id}" in str(exc.value) and "known changes" in str(exc.value)


def test_approvals_survive_a_restart(store: DiskChangeStore) -> None:
    """Approvals are on disk: a new store over the same directory sees them and the change approved."""
    change = _change(store)
    approve(store, change.id, by="bob", comment="looks right")
    again = DiskChangeStore(store.dir).get(change.id)
    assert again.state().name == "approved" and again.approvals() == ["bob"]
    assert again.events[0].comment == "looks right"


def test_the_proposer_may_not_approve_in_a_protected_env(store: DiskChangeStore) -> None:
    """In a protected env the proposer's approval is refused and not recorded."""
    change = _change(store)
    with pytest.raises(ChangeRefused, match="proposer may not approve"):
        approve(store, change.id, by="Alice")
    assert store.get(change.id).events == []


def test_the_proposer_may_approve_where_the_env_is_not_protected(store: DiskChangeStore) -> None:
    """Outside protected envs the proposer's own approval counts."""
    change = _change(store, ChangePolicy(required=1))
    assert approve(store, change.id, by="alice").state().name == "approved"


def test_two_distinct_approvers_are_needed_where_configured_and_one_person_counts_once(
    store: DiskChangeStore,
) -> None:
    """With two approvers required, one person approving twice leaves it proposed; a second person approves it."""
    change = _change(store, TWO)
    approve(store, change.id, by="bob")
    twice = approve(store, change.id, by="BOB")
    assert twice.state().name == "proposed" and twice.approvals() == ["bob"]
    done = approve(store, change.id, by="carol")
    assert done.state().name == "approved" and done.approvals() == ["bob", "carol"]


def test_only_the_listed_approvers_may_approve(store: DiskChangeStore) -> None:
    """When golive_approvers lists people, anyone else's approval is refused."""
    change = _change(store, TWO)
    with pytest.raises(ChangeRefused, match="not among the env's approvers"):
        approve(store, change.id, by="mallory")


def test_a_rejected_change_is_never_approved_again(store: DiskChangeStore) -> None:
    """After a rejection the change is rejected for good: approving it is refused."""
    change = _change(store)
    approve(store, change.id, by="bob")
    reject(store, change.id, by="carol", comment="not tonight")
    with pytest.raises(ChangeRefused, match="rejected by carol"):
        approve(store, change.id, by="dave")
    assert store.get(change.id).state().name == "rejected"


def test_a_change_that_ran_can_no_longer_be_approved(store: DiskChangeStore) -> None:
    """A change whose run started is ran(run id), then failed when the run did not succeed; approving it is refused."""
    change = _change(store)
    approve(store, change.id, by="bob")
    store.append(change.id, ChangeEvent(kind="ran", at="t", by="bob", run_id="r1"))
    assert store.get(change.id).state().label() == "ran(r1)"
    store.append(change.id, ChangeEvent(kind="finished", at="t", run_id="r1", status="rolled_back", exit_code=1))
    assert store.get(change.id).state().label() == "failed(r1)"
    with pytest.raises(ChangeRefused, match="already ran"):
        approve(store, change.id, by="carol")


def test_a_run_refused_before_it_started_does_not_use_the_change_up(store: DiskChangeStore) -> None:
    """A run that was refused (Prefect down, env locked) leaves the change approved, to run again."""
    change = _change(store)
    approve(store, change.id, by="bob")
    store.append(change.id, ChangeEvent(kind="ran", at="t", run_id="r1"))
    store.append(change.id, ChangeEvent(kind="finished", at="t", run_id="r1", status="refused", exit_code=4))
    assert store.get(change.id).state().name == "approved"


def test_execute_change_records_the_run_and_its_outcome(
    store: DiskChangeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change gets ran (run id) as the run starts and finished with the run's outcome; the run carries the id."""
    from golive.changes import execute_change
    from golive.engine import execute
    from golive.engine.execute import RunHandle

    change = _change(store, ChangePolicy())
    seen: dict[str, object] = {}

    def fake_execute_new(ctx: object, **kw: object) -> tuple[RunHandle, int]:
        handle = RunHandle("run-1", store.dir.parent / "run-1")
        handle.journal.append(
            "run_finished", run_id="run-1", status="succeeded", exit_code=0
        )  # a journal whose end says how it went
        seen.update(kw)
        kw["on_started"](handle)
        assert store.get(change.id).state().label() == "ran(run-1)"
        return handle, 0

    monkeypatch.setattr(execute, "execute_new", fake_execute_new)
    execute_change(store, change, ctx=_NoInventory(), initiator="bob")
    assert seen["change_id"] == change.id
    done = store.get(change.id)
    assert [e.kind for e in done.events] == ["ran", "finished"]
    assert done.events[-1].status == "succeeded" and done.state().name == "ran"


def test_a_run_refused_after_it_was_marked_leaves_the_change_approved(
    store: DiskChangeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefect refusing the flow after the change was marked ran is recorded; the change stays approved."""
    from golive.changes import execute_change
    from golive.engine import execute
    from golive.engine.execute import Refused, RunHandle

    change = _change(store, ChangePolicy())

    def refused_execute_new(ctx: object, **kw: object) -> tuple[RunHandle, int]:
        kw["on_started"](RunHandle("run-2", store.dir.parent / "run-2"))
        raise Refused("Prefect could not start the flow")

    monkeypatch.setattr(execute, "execute_new", refused_execute_new)
    with pytest.raises(Refused):
        execute_change(store, change, ctx=_NoInventory(), initiator="bob")
    done = store.get(change.id)
    assert done.events[-1].status == "refused" and done.state().name == "approved"


class _NoInventory:
    inventory = None


def test_the_store_is_on_disk_unless_prefect_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GOLIVE_CHANGE_STORE picks the store: disk by default, prefect needs PREFECT_API_URL, others are bad input."""
    from golive.changes import BadStoreSetting, change_store
    from golive.changes.prefect_store import PrefectChangeStore

    for var in ("GOLIVE_CHANGE_STORE", "GOLIVE_RUNS_DIR", "PREFECT_API_URL", "GOLIVE_ENV_FILE"):
        monkeypatch.delenv(var, raising=False)
    disk = change_store(tmp_path)
    assert isinstance(disk, DiskChangeStore) and disk.dir == tmp_path / "runs" / "changes"
    monkeypatch.setenv("GOLIVE_CHANGE_STORE", "prefect")
    with pytest.raises(BadStoreSetting, match="PREFECT_API_URL"):
        change_store(tmp_path)
    (tmp_path / ".golive").mkdir()
    (tmp_path / ".golive" / "env").write_text("PREFECT_API_URL=http://127.0.0.1:4200/api\n")
    on_server = change_store(tmp_path)
    assert isinstance(on_server, PrefectChangeStore) and on_server.api_url == "http://127.0.0.1:4200/api"
    monkeypatch.setenv("GOLIVE_CHANGE_STORE", "s3")
    with pytest.raises(BadStoreSetting, match="disk"):
        change_store(tmp_path)


def test_a_resumed_run_that_ends_records_its_outcome_on_the_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change whose run failed(interrupted) and was then resumed to success reads ran, its last outcome."""
    from golive.changes import change_store, note_run_end
    from golive.engine.execute import RunHandle

    for var in ("GOLIVE_CHANGE_STORE", "GOLIVE_RUNS_DIR"):
        monkeypatch.delenv(var, raising=False)
    store = change_store(tmp_path)
    assert isinstance(store, DiskChangeStore)
    change = _change(store, ChangePolicy())
    store.append(change.id, ChangeEvent(kind="ran", at="t", run_id="r1"))
    store.append(change.id, ChangeEvent(kind="finished", at="t", run_id="r1", status="interrupted", exit_code=130))
    assert store.get(change.id).state().label() == "failed(r1)"
    handle = RunHandle("r1", tmp_path / "runs" / "r1")
    journal = handle.journal
    journal.append(
        "run_started",
        run_id="r1",
        runbook="payments",
        file="runbook.yml",
        env="prod",
        params={},
        previous={},
        digest="a" * 64,
        initiator="bob",
        pid=1,
        machine="m",
        steps=[],
        change_id=change.id,
    )
    journal.append("run_finished", run_id="r1", status="succeeded", exit_code=0)
    assert note_run_end(tmp_path, handle) is None
    assert store.get(change.id).state().label() == "ran(r1)"
