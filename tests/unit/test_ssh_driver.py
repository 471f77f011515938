"""The SSH driver's contract class: grouping of identical command lists, transient faults, check, undo."""

from __future__ import annotations

from typing import Any

import pytest

from golive.drivers.base import ActionResult, HostResult, UndoRecord
from golive.drivers.ssh import SshChange, SshDriver, driver
from golive.errors import PermanentError, TransientError
from golive.inventory import Connection


def _conn(name: str) -> Connection:
    return Connection(name=name, address="127.0.0.1", port=2222, user="root", key_file=None, known_hosts=None)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], list[str]]]:
    """run_commands replaced: records (hosts, commands); hosts named 'down-*' answer nothing."""
    seen: list[tuple[list[str], list[str]]] = []

    def fake(*, connections: list[Connection], commands: list[str], **_: Any) -> ActionResult:
        hosts = [c.name for c in connections]
        seen.append((hosts, commands))
        if all(h.startswith("down") for h in hosts):
            raise TransientError(f"no host answered: {hosts}")
        return ActionResult(
            results={h: HostResult(host=h, ok=True, changed=True, output="\n".join(commands)) for h in hosts}
        )

    monkeypatch.setattr(driver, "run_commands", fake)
    return seen


def test_identical_command_lists_run_as_one_group(calls: list[tuple[list[str], list[str]]]) -> None:
    """Hosts sharing a command list run together; each host still gets its own result."""
    change = SshChange(commands={"a": ["x"], "b": ["x"], "c": ["y"]})
    result = SshDriver(_conn).apply(change, save=lambda r: None)
    assert result.ok and sorted(result.results) == ["a", "b", "c"]
    assert sorted(calls) == [(["a", "b"], ["x"]), (["c"], ["y"])]


def test_apply_saves_the_rollback_before_running(calls: list[tuple[list[str], list[str]]]) -> None:
    """The change's rollback record is saved before any command runs."""
    rollback = SshChange(commands={"a": ["undo"]}).as_rollback("step")
    order: list[str] = []

    def save(record: UndoRecord) -> None:
        order.append(f"saved with {len(calls)} runs")
        assert record == rollback

    SshDriver(_conn).apply(SshChange(commands={"a": ["do"]}, rollback=rollback), save=save)
    assert order == ["saved with 0 runs"] and len(calls) == 1


def test_a_silent_group_beside_one_that_ran_is_unreachable_not_retried(
    calls: list[tuple[list[str], list[str]]],
) -> None:
    """Commands that ran elsewhere must not run again, so a group nobody answered comes back as failed hosts."""
    result = SshDriver(_conn).apply(SshChange(commands={"a": ["x"], "down-1": ["y"]}), save=lambda r: None)
    assert result.results["a"].ok
    assert result.results["down-1"].unreachable and not result.results["down-1"].ok


def test_nobody_answering_anywhere_is_transient(calls: list[tuple[list[str], list[str]]]) -> None:
    """When no host of any group answered, nothing ran and the whole change may be retried."""
    with pytest.raises(TransientError):
        SshDriver(_conn).apply(SshChange(commands={"down-1": ["x"], "down-2": ["y"]}), save=lambda r: None)


def test_check_renders_the_commands_and_runs_nothing(calls: list[tuple[list[str], list[str]]]) -> None:
    """check gives each host its commands as output, ok and unchanged, without connecting."""
    result = SshDriver(_conn).check(SshChange(commands={"a": ["one", "two"]}))
    assert result.results["a"] == HostResult(host="a", ok=True, changed=False, output="one\ntwo")
    assert calls == []


def test_undo_runs_rollbacks_newest_first_from_their_json(calls: list[tuple[list[str], list[str]]]) -> None:
    """undo runs each saved rollback change, as read back from JSON, newest first."""
    first = SshChange(commands={"a": ["undo-1"]}).as_rollback("s1")
    second = SshChange(commands={"a": ["undo-2"]}).as_rollback("s2")
    records = [UndoRecord.from_dict(r.as_dict()) for r in (first, second)]
    result = SshDriver(_conn).undo(records)
    assert result.ok
    assert [c for _, c in calls] == [["undo-2"], ["undo-1"]]


def test_undo_refuses_records_of_another_kind(calls: list[tuple[list[str], list[str]]]) -> None:
    """A record that is not an ssh rollback fails the undo before anything runs."""
    own = SshChange(commands={"a": ["undo"]}).as_rollback("s1")
    other = UndoRecord(what="rollback", kind="ansible", name="s2", spec={"playbook": "x.yml", "hosts": ["a"]})
    with pytest.raises(PermanentError, match="cannot undo"):
        SshDriver(_conn).undo([own, other])
    assert calls == []


def test_change_round_trips_through_json() -> None:
    """An SshChange read back from its dict is the same change."""
    change = SshChange(commands={"a": ["x", "y"]}, timeout=5.0, max_output=100)
    assert SshChange.from_dict(change.as_dict()) == change
