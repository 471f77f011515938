"""The Ansible driver's contract class, without running a play: its change as JSON, and what undo refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from golive.drivers.ansible import AnsibleChange, AnsibleDriver
from golive.drivers.base import UndoRecord
from golive.errors import PermanentError


def test_change_round_trips_through_json() -> None:
    """An AnsibleChange read back from its dict is the same change, its rollback left out."""
    change = AnsibleChange(
        playbook=Path("/p/deploy.yml"), hosts=["a", "b"], extravars={"version": "v2"}, forks=3, tags=["t"], timeout=9.0
    )
    assert AnsibleChange.from_dict(change.as_dict()) == change
    record = change.as_rollback("roll-app")
    assert (record.what, record.kind, record.name, record.spec) == ("rollback", "ansible", "roll-app", change.as_dict())


@pytest.mark.parametrize(
    "record",
    [
        UndoRecord(what="rollback", kind="ssh", name="s", spec={"commands": {"a": ["x"]}}),
        UndoRecord(what="saved", kind="ansible", name="s", spec={"playbook": "x.yml", "hosts": ["a"]}),
        UndoRecord(what="rollback", kind="ansible", name="s", spec=None),
    ],
)
def test_undo_refuses_what_is_not_an_ansible_rollback(tmp_path: Path, record: UndoRecord) -> None:
    """Only rollback plays are undone by Ansible; anything else fails before any play runs."""
    driver = AnsibleDriver(inventory=tmp_path / "hosts.yml", work_dir=tmp_path)
    with pytest.raises(PermanentError, match="cannot undo"):
        driver.undo([record])
