"""PLACEHOLDER until the Kubernetes kind lands (the helper writing drivers/k8s/ replaces this file)."""

from __future__ import annotations

from typing import ClassVar

from golive.kinds.base import Kind
from golive.runbook.models import K8sStep, StepBase


class K8sKind(Kind):
    name: ClassVar[str] = "k8s"
    model: ClassVar[type[StepBase]] = K8sStep
    undoes_itself: ClassVar[bool] = True
