"""The changes the Kubernetes driver makes, one dataclass per operation (rendered: no templates left).

``context`` names the cluster (a key of the env's ``golive_clusters``; None: its only or
``default`` one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApplyManifest", "Change", "CreateOrReplace", "Delete", "Scale", "SetImage", "Switch"]


@dataclass(frozen=True)
class SetImage:
    """Patch a Deployment's images (a string: its first container; a map: by container name), and/or replicas.

    ``labels`` are added to the pod template (a blue-green colour on the base Deployment).
    """

    deployment: str
    namespace: str = "default"
    image: str | dict[str, str] | None = None
    replicas: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    context: str | None = None


@dataclass(frozen=True)
class Scale:
    deployment: str
    replicas: int
    namespace: str = "default"
    context: str | None = None


@dataclass(frozen=True)
class CreateOrReplace:
    """Make the object exactly ``body`` (a Deployment or Service): create it, or replace the whole object."""

    body: dict[str, Any]
    context: str | None = None

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"].get("namespace") or "default")


@dataclass(frozen=True)
class Switch:
    """Point a Service at other pods: its whole selector becomes ``selector``."""

    service: str
    selector: dict[str, str]
    namespace: str = "default"
    context: str | None = None


@dataclass(frozen=True)
class ApplyManifest:
    """Create each document that does not exist, patch each one that does (Deployments and Services)."""

    docs: tuple[dict[str, Any], ...]
    namespace: str = "default"  # for documents that name none
    context: str | None = None


@dataclass(frozen=True)
class Delete:
    kind: str
    name: str
    namespace: str = "default"
    context: str | None = None


Change = SetImage | Scale | CreateOrReplace | Switch | ApplyManifest | Delete
