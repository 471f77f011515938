"""Kubernetes steps: objects saved, created, restored and deleted; canary stages; Service switches."""

from __future__ import annotations

from typing import Any, Literal

from golive.engine.events.base import Event

__all__ = [
    "CanaryStage",
    "K8sCreated",
    "K8sDeleted",
    "K8sRestored",
    "K8sSaved",
    "K8sSwitched",
    "UndoSaved",
    "UnitApplied",
]


class UnitApplied(Event):
    """A step that is not batched changed something: it now has a unit to undo."""

    event: Literal["unit_applied"] = "unit_applied"
    step: str


class UndoSaved(Event):
    """What undo will need of a change (a saved spec, an object about to be created, a rollback change),
    journaled by the engine before the driver makes the change."""

    event: Literal["undo_saved"] = "undo_saved"
    step: str
    record: dict[str, Any]


class K8sSaved(Event):
    """An object as it was before the step changed it; undo puts it back."""

    event: Literal["k8s_saved"] = "k8s_saved"
    step: str
    kind: str
    namespace: str
    name: str
    spec: dict[str, Any]


class K8sCreated(Event):
    event: Literal["k8s_created"] = "k8s_created"
    step: str
    kind: str
    namespace: str
    name: str


class K8sRestored(Event):
    event: Literal["k8s_restored"] = "k8s_restored"
    step: str
    kind: str
    namespace: str
    name: str


class K8sDeleted(Event):
    event: Literal["k8s_deleted"] = "k8s_deleted"
    step: str
    kind: str
    namespace: str
    name: str


class K8sSwitched(Event):
    event: Literal["k8s_switched"] = "k8s_switched"
    step: str
    service: str
    selector: dict[str, str]
    from_selector: dict[str, str] | None = None
    to_selector: dict[str, str] | None = None
    label: str | None = None
    from_color: str | None = None
    to_color: str | None = None


class CanaryStage(Event):
    event: Literal["canary_stage"] = "canary_stage"
    step: str
    percent: int
    canary_replicas: int
    stable_replicas: int
