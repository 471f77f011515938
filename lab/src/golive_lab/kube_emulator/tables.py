"""Server-side ``Table`` rendering, so ``kubectl get`` prints the familiar columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from .store import Obj


def _age(obj: Obj) -> str:
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    start = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    seconds = max(int((dt.datetime.now(dt.UTC) - start).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _deployment(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}"
    return [ready, status.get("updatedReplicas", 0), status.get("availableReplicas", 0)]


def _replicaset(obj: Obj) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [spec.get("replicas", 0), status.get("replicas", 0), status.get("readyReplicas", 0)]


def _pod(obj: Obj) -> list[Any]:
    status = obj.get("status") or {}
    containers = status.get("containerStatuses") or []
    total = len((obj.get("spec") or {}).get("containers") or [])
    ready = sum(1 for c in containers if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in containers)
    return [f"{ready}/{total}", status.get("phase", "Pending"), restarts, status.get("podIP") or "<none>"]


def _service(obj: Obj) -> list[Any]:
    spec = obj.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    return [spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", ports or "<none>"]


def _namespace(obj: Obj) -> list[Any]:
    return [(obj.get("status") or {}).get("phase", "Active")]


_COLUMNS: dict[str, tuple[list[tuple[str, str]], Callable[[Obj], list[Any]]]] = {
    "Deployment": ([("Ready", "string"), ("Up-to-date", "integer"), ("Available", "integer")], _deployment),
    "ReplicaSet": ([("Desired", "integer"), ("Current", "integer"), ("Ready", "integer")], _replicaset),
    "Pod": ([("Ready", "string"), ("Status", "string"), ("Restarts", "integer"), ("IP", "string")], _pod),
    "Service": ([("Type", "string"), ("Cluster-IP", "string"), ("Port(s)", "string")], _service),
    "Namespace": ([("Status", "string")], _namespace),
}


def render_table(kind: str, items: list[Obj], resource_version: str) -> Obj:
    columns, cells = _COLUMNS[kind]
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    definitions += [{"name": n, "type": t, "format": "", "description": n, "priority": 0} for n, t in columns]
    definitions.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    rows = [
        {
            "cells": [obj["metadata"]["name"], *cells(obj), _age(obj)],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata") or {},
            },
        }
        for obj in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
