"""The Ansible driver behind the contract of drivers/base.py: apply a play, undo by its rollback play, check mode."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from golive.drivers.ansible.events import EventHandler
from golive.drivers.ansible.rolling import RollingPlaybook, remove_dead_copies, rolling_playbook
from golive.drivers.ansible.run import run_playbook
from golive.drivers.base import ActionResult, Save, UndoRecord
from golive.drivers.compensate import run_rollbacks

__all__ = ["KIND", "AnsibleChange", "AnsibleDriver"]

KIND = "ansible"


@dataclass(frozen=True)
class AnsibleChange:
    """One rendered play: ``playbook`` limited to ``hosts``.

    ``rollback`` is the compensating change the engine rendered for this one (of any kind); it is
    saved before the play starts, since a play has no undo of its own.
    """

    playbook: Path
    hosts: list[str]
    extravars: dict[str, Any] = field(default_factory=dict)
    forks: int = 10
    tags: list[str] | None = None
    timeout: float | None = None
    rollback: UndoRecord | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON for the journal (without ``rollback``)."""
        return {
            "playbook": str(self.playbook),
            "hosts": list(self.hosts),
            "extravars": dict(self.extravars),
            "forks": self.forks,
            "tags": list(self.tags) if self.tags else None,
            "timeout": self.timeout,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnsibleChange:
        return cls(
            playbook=Path(data["playbook"]),
            hosts=list(data["hosts"]),
            extravars=dict(data.get("extravars") or {}),
            forks=int(data.get("forks") or 10),
            tags=list(data["tags"]) if data.get("tags") else None,
            timeout=data.get("timeout"),
        )

    def as_rollback(self, name: str) -> UndoRecord:
        """This change as the undo record of another one (``name``: what it compensates, say the step id)."""
        return UndoRecord(what="rollback", kind=KIND, name=name, spec=self.as_dict())


class AnsibleDriver:
    """Plays on the hosts of one inventory; everything Ansible writes locally stays under ``work_dir``.

    ``on_event`` gets compact per-task events; setting ``cancel`` stops a running play within
    about half a second.
    """

    kind = KIND

    def __init__(
        self,
        *,
        inventory: Path,
        work_dir: Path,
        on_event: EventHandler | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.inventory = Path(inventory)
        self.work_dir = Path(work_dir)
        self.on_event = on_event
        self.cancel = cancel

    def tidy(self) -> None:
        """Remove what killed processes of this run left beside the playbooks (gated copies)."""
        remove_dead_copies(self.work_dir)

    def apply(self, change: AnsibleChange, *, save: Save) -> ActionResult:
        if change.rollback is not None:
            save(change.rollback)
        return self._run(change, check=False)

    def undo(self, records: list[UndoRecord]) -> ActionResult:
        """Run each record's rollback play, newest first (records of kind ``ansible`` only)."""
        return run_rollbacks(records, kind=KIND, run=lambda spec: self._run(AnsibleChange.from_dict(spec), check=False))

    def check(self, change: AnsibleChange) -> ActionResult:
        """The play in check mode (``--check --diff``): what it would change, changing nothing."""
        return self._run(change, check=True)

    def rolling(
        self, change: AnsibleChange, *, batches: list[tuple[int, list[str]]], match: Callable[[str], list[str]]
    ) -> tuple[RollingPlaybook | None, str]:
        """The change's batches as one gated play (see :func:`rolling_playbook`), or None and why not."""
        return rolling_playbook(
            playbook=change.playbook,
            inventory=self.inventory,
            batches=batches,
            match=match,
            extravars=change.extravars,
            forks=change.forks,
            tags=change.tags,
            on_event=self.on_event,
            cancel=self.cancel,
            work_dir=self.work_dir,
        )

    def _run(self, change: AnsibleChange, *, check: bool) -> ActionResult:
        return run_playbook(
            playbook=change.playbook,
            inventory=self.inventory,
            hosts=list(change.hosts),
            extravars=change.extravars,
            forks=change.forks,
            tags=change.tags,
            check=check,
            timeout=change.timeout,
            on_event=self.on_event,
            cancel=self.cancel,
            work_dir=self.work_dir,
        )
