"""Step kinds, registered in one table: adding a kind touches its module and this table."""

from __future__ import annotations

from golive.kinds.ansible import AnsibleKind
from golive.kinds.base import Kind, RollbackInfo, Stage, StepRun, StepUnit
from golive.kinds.simple import ApprovalKind, CheckKind, NotifyKind, PauseKind
from golive.kinds.ssh import SshKind
from golive.runbook.models import StepBase

__all__ = ["KINDS", "Kind", "RollbackInfo", "Stage", "StepRun", "StepUnit", "kind_of"]


def _k8s() -> Kind:
    from golive.kinds.k8s import K8sKind

    return K8sKind()


KINDS: dict[str, Kind] = {
    k.name: k for k in (CheckKind(), AnsibleKind(), SshKind(), _k8s(), ApprovalKind(), PauseKind(), NotifyKind())
}


def kind_of(step: StepBase) -> Kind:
    """The kind of a runbook step."""
    return KINDS[step.kind]
