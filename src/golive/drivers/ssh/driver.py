"""The SSH driver behind the contract of drivers/base.py: commands per host, undo by rollback commands.

Connecting is transport.py's, running commands commands.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from golive.drivers.base import ActionResult, HostResult, Save, UndoRecord
from golive.drivers.compensate import run_rollbacks
from golive.drivers.ssh.commands import run_commands
from golive.errors import TransientError
from golive.inventory import Connection

__all__ = ["KIND", "SshChange", "SshDriver"]

KIND = "ssh"


@dataclass(frozen=True)
class SshChange:
    """Rendered commands per host, run in order; a host stops at its first failing command.

    ``timeout`` bounds each command, ``max_output`` what is kept per host.  ``rollback`` is the
    compensating change the engine rendered for this one (of any kind), saved before anything runs.
    """

    commands: dict[str, list[str]]
    timeout: float = 60.0
    max_output: int = 65536
    rollback: UndoRecord | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON for the journal (without ``rollback``)."""
        return {
            "commands": {h: list(c) for h, c in self.commands.items()},
            "timeout": self.timeout,
            "max_output": self.max_output,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SshChange:
        return cls(
            commands={str(h): [str(c) for c in cmds] for h, cmds in data["commands"].items()},
            timeout=float(data.get("timeout") or 60.0),
            max_output=int(data.get("max_output") or 65536),
        )

    def as_rollback(self, name: str) -> UndoRecord:
        """This change as the undo record of another one (``name``: what it compensates, say the step id)."""
        return UndoRecord(what="rollback", kind=KIND, name=name, spec=self.as_dict())


class SshDriver:
    """Commands over SSH (paramiko), reaching each host through ``connection(host)``."""

    kind = KIND

    def __init__(
        self,
        connection: Callable[[str], Connection],
        *,
        max_workers: int = 10,
        attempts: int = 3,
        sleep_fn: Callable[[float], None] | None = None,
    ) -> None:
        self.connection = connection
        self.max_workers = max_workers
        self.attempts = attempts
        self.sleep_fn = sleep_fn

    def apply(self, change: SshChange, *, save: Save) -> ActionResult:
        if change.rollback is not None:
            save(change.rollback)
        return self._run(change)

    def undo(self, records: list[UndoRecord]) -> ActionResult:
        """Run each record's rollback commands, newest first (records of kind ``ssh`` only)."""
        return run_rollbacks(records, kind=KIND, run=lambda spec: self._run(SshChange.from_dict(spec)))

    def check(self, change: SshChange) -> ActionResult:
        """The commands each host would run, running nothing."""
        return ActionResult(
            results={
                host: HostResult(host=host, ok=True, changed=False, output="\n".join(cmds))
                for host, cmds in change.commands.items()
            },
            detail={"check": True},
        )

    def _run(self, change: SshChange) -> ActionResult:
        """Hosts with the same command list run as one parallel group.

        TransientError only when no host of any group answered: then nothing ran anywhere and the
        whole change may be retried.  A group nobody answered, beside groups that ran, is reported
        as unreachable hosts instead, so a retry never repeats commands that already ran.
        """

        groups: dict[tuple[str, ...], list[str]] = {}
        for host, cmds in change.commands.items():
            groups.setdefault(tuple(cmds), []).append(host)
        merged = ActionResult(detail={"groups": len(groups)})
        transient: list[TransientError] = []
        for commands, hosts in groups.items():
            try:
                part = run_commands(
                    connections=[self.connection(h) for h in hosts],
                    commands=list(commands),
                    timeout=change.timeout,
                    max_output=change.max_output,
                    max_workers=self.max_workers,
                    attempts=self.attempts,
                    sleep_fn=self.sleep_fn,
                )
            except TransientError as exc:
                transient.append(exc)
                part = ActionResult(
                    results={h: HostResult(host=h, ok=False, unreachable=True, message=str(exc)) for h in hosts}
                )
            merged.results.update(part.results)
        if groups and len(transient) == len(groups):
            raise transient[0] if len(transient) == 1 else TransientError(f"no host answered: {merged.summary()}")
        return merged
