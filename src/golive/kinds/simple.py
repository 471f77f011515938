"""The kinds that change nothing: checks, approvals, pauses and notices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from golive.drivers.base import ActionResult
from golive.errors import Issue
from golive.kinds.base import Kind, StepRun, StepUnit
from golive.runbook.models import ApprovalStep, CheckStep, CommandCheck, NotifyStep, PauseStep, StepBase
from golive.runbook.render import render

if TYPE_CHECKING:
    from golive.inventory import Inventory
    from golive.runbook.load import LoadedRunbook

__all__ = ["ApprovalKind", "CheckKind", "NotifyKind", "PauseKind"]

CHECK_S = 0.2


class _Unchanging(Kind):
    def undo(self, step: StepBase, unit: StepUnit, run: StepRun) -> ActionResult | None:
        return None  # nothing was changed, so nothing is undone


class CheckKind(_Unchanging):
    name: ClassVar[str] = "check"
    model: ClassVar[type[StepBase]] = CheckStep

    def action(self, step: StepBase) -> dict[str, Any]:
        assert isinstance(step, CheckStep)
        return {"checks": len(step.check)}

    def commands(self, step: StepBase) -> list[str]:
        assert isinstance(step, CheckStep)
        return [c.command for c in step.check if isinstance(c, CommandCheck)] + super().commands(step)

    def estimate(self, step: StepBase, *, batch_hosts: list[int], verify_s: float, history_s: float | None) -> float:
        return verify_s or CHECK_S

    def run(self, step: StepBase, run: StepRun) -> None:
        assert isinstance(step, CheckStep)
        run.gate(list(step.check), hosts=[], batch=None)


class ApprovalKind(_Unchanging):
    name: ClassVar[str] = "approval"
    model: ClassVar[type[StepBase]] = ApprovalStep

    def validate_env(self, loaded: LoadedRunbook, index: int, step: StepBase, inv: Inventory) -> list[Issue]:
        assert isinstance(step, ApprovalStep)
        out = []
        file = str(loaded.path)
        if step.approval.approvers < inv.min_approvers:
            out.append(
                Issue(
                    file,
                    loaded.step_line(index, "approval"),
                    f"approval asks for {step.approval.approvers} approver(s); env {inv.env!r} requires "
                    f"at least {inv.min_approvers}",
                    f"set approvers: {inv.min_approvers}",
                )
            )
        signers = inv.allowed_signers
        if inv.require_signed_approvals and (signers is None or not signers.is_file()):
            out.append(
                Issue(
                    file,
                    loaded.step_line(index, "approval"),
                    f"env {inv.env!r} accepts only signed approvals, and "
                    + (f"its allowed signers file {signers} does not exist" if signers else "names no allowed signers"),
                    "set golive_allowed_signers: FILE in the env's group_vars (lines 'name ssh-ed25519 AAAA...'), "
                    "or golive_require_signed_approvals: false",
                )
            )
        if step.approval.exclude_initiator is False and inv.protected:
            out.append(
                Issue(
                    file,
                    loaded.step_line(index, "approval"),
                    f"env {inv.env!r} is protected: the initiator may not approve their own run",
                    "remove exclude_initiator: false",
                )
            )
        return out

    def run(self, step: StepBase, run: StepRun) -> None:
        assert isinstance(step, ApprovalStep)
        run.await_approval(step.approval.message)


class PauseKind(_Unchanging):
    name: ClassVar[str] = "pause"
    model: ClassVar[type[StepBase]] = PauseStep

    def action(self, step: StepBase) -> dict[str, Any]:
        assert isinstance(step, PauseStep)
        return step.pause.model_dump(mode="json", exclude_none=True)

    def estimate(self, step: StepBase, *, batch_hosts: list[int], verify_s: float, history_s: float | None) -> float:
        assert isinstance(step, PauseStep)
        return step.pause.duration or 0.0

    def run(self, step: StepBase, run: StepRun) -> None:
        assert isinstance(step, PauseStep)
        if step.pause.duration is None:
            run.pause(step.pause.reason or "pause step: waiting for `golive resume`")
        else:
            run.wait(step.pause.duration, promotable=True)


class NotifyKind(_Unchanging):
    name: ClassVar[str] = "notify"
    model: ClassVar[type[StepBase]] = NotifyStep

    def action(self, step: StepBase) -> dict[str, Any]:
        assert isinstance(step, NotifyStep)
        return step.notify.model_dump(mode="json")

    def estimate(self, step: StepBase, *, batch_hosts: list[int], verify_s: float, history_s: float | None) -> float:
        return 0.0

    def validate_env(self, loaded: LoadedRunbook, index: int, step: StepBase, inv: Inventory) -> list[Issue]:
        assert isinstance(step, NotifyStep)
        from golive.notify.channels import channels_of

        known = channels_of(inv.settings, base=inv.path if inv.path.is_dir() else inv.path.parent)
        return [
            Issue(
                str(loaded.path),
                loaded.step_line(index, "notify", "to", i),
                f"notify step {step.id!r} sends to channel {name!r}, which env {inv.env!r} does not define",
                f"channels of {inv.env}: {', '.join(known) or 'none'} (golive_notify in its group_vars)",
            )
            for i, name in enumerate(step.notify.to)
            if name not in known
        ]

    def run(self, step: StepBase, run: StepRun) -> None:
        assert isinstance(step, NotifyStep)
        to = {"to": list(step.notify.to)} if step.notify.to else {}
        run.record("notified", message=render(step.notify.message, run.context()), **to)
