"""``ssh:`` steps: commands on a host pattern over SSH, batch by batch."""

from __future__ import annotations

from typing import Any, ClassVar

from golive.kinds.batched import BatchedKind
from golive.runbook.models import SshAction, SshStep, StepBase

__all__ = ["SshKind"]

BATCH_S = 1.0


class SshKind(BatchedKind):
    name: ClassVar[str] = "ssh"
    model: ClassVar[type[StepBase]] = SshStep

    def action_of(self, step: StepBase) -> SshAction:
        assert isinstance(step, SshStep)
        return step.ssh

    def action(self, step: StepBase) -> dict[str, Any]:
        action = self.action_of(step)
        return {
            "hosts": action.hosts,
            "commands": action.commands,
            "timeout_s": action.timeout,
            "max_output": action.max_output,
        }

    def commands(self, step: StepBase) -> list[str]:
        return [*self.action_of(step).commands, *super().commands(step)]

    def per_batch_s(self, hosts: int) -> float:
        return BATCH_S
