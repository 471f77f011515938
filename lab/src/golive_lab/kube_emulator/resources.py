"""The resource kinds the emulator serves and the discovery documents describing them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resource:
    """One served resource type."""

    plural: str
    singular: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def has_generation(self) -> bool:
        return self.kind in ("Deployment", "ReplicaSet")


VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]

RESOURCES: tuple[Resource, ...] = (
    Resource("namespaces", "namespace", "Namespace", "", "v1", False, ("ns",), ("status",)),
    Resource("pods", "pod", "Pod", "", "v1", True, ("po",), ("status",)),
    Resource("services", "service", "Service", "", "v1", True, ("svc",), ("status",)),
    Resource("deployments", "deployment", "Deployment", "apps", "v1", True, ("deploy",), ("status", "scale")),
    Resource("replicasets", "replicaset", "ReplicaSet", "apps", "v1", True, ("rs",), ("status", "scale")),
)
BY_PATH: dict[tuple[str, str], Resource] = {(r.api_version, r.plural): r for r in RESOURCES}
BY_KIND: dict[str, Resource] = {r.kind: r for r in RESOURCES}


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group_list() -> dict[str, Any]:
    version = {"groupVersion": "apps/v1", "version": "v1"}
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [{"name": "apps", "versions": [version], "preferredVersion": version}],
    }


def api_resource_list(group_version: str) -> dict[str, Any] | None:
    served = [r for r in RESOURCES if r.api_version == group_version]
    if not served:
        return None
    entries: list[dict[str, Any]] = []
    for res in served:
        entries.append(
            {
                "name": res.plural,
                "singularName": res.singular,
                "namespaced": res.namespaced,
                "kind": res.kind,
                "verbs": VERBS,
                "shortNames": list(res.short_names),
                **({"categories": ["all"]} if res.kind != "Namespace" else {}),
            }
        )
        for sub in res.subresources:
            kind = "Scale" if sub == "scale" else res.kind
            group = {"group": "autoscaling", "version": "v1"} if sub == "scale" else {}
            entries.append(
                {
                    "name": f"{res.plural}/{sub}",
                    "singularName": "",
                    "namespaced": res.namespaced,
                    "kind": kind,
                    "verbs": ["get", "patch", "update"],
                    **group,
                }
            )
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}


def openapi_v3_root() -> dict[str, Any]:
    """The OpenAPI v3 index: one document per served group version."""
    versions = sorted({r.api_version for r in RESOURCES})
    return {
        "paths": {
            _gv_path(gv): {"serverRelativeURL": f"/openapi/v3/{_gv_path(gv)}?hash=golive-emulator"} for gv in versions
        }
    }


def _gv_path(group_version: str) -> str:
    return "api/v1" if group_version == "v1" else f"apis/{group_version}"


def openapi_v3_document(path: str) -> dict[str, Any] | None:
    """A minimal OpenAPI v3 document for one group version.

    It lists only the PATCH operations with their group-version-kind and query parameters:
    that is what kubectl reads to learn that the server validates fields itself
    (``fieldValidation``), so it does not need full schemas to validate client-side.
    Without schemas kubectl computes apply patches from its built-in types.
    """
    served = [r for r in RESOURCES if _gv_path(r.api_version) == path]
    if not served:
        return None
    parameters = [
        {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for name in ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")
    ]
    paths: dict[str, Any] = {}
    for res in served:
        prefix = f"/{path}/namespaces/{{namespace}}" if res.namespaced else f"/{path}"
        paths[f"{prefix}/{res.plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{res.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": res.group, "version": res.version, "kind": res.kind},
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (golive lab emulator)", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }
