"""Kubernetes objects as plain dicts: what is saved for undo, siblings, and the patches golive sends."""

from __future__ import annotations

import copy
from typing import Any

from golive.errors import PermanentError

__all__ = [
    "COLOR_LABEL",
    "containers_patch",
    "key",
    "label_selector",
    "sibling",
    "strip",
    "template_patch",
    "with_images",
]

COLOR_LABEL = "golive-color"
VOLATILE_META = ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink")
CONTROLLER_ANNOTATIONS = ("deployment.kubernetes.io/revision",)

Image = str | dict[str, str]


def key(kind: str, namespace: str, name: str) -> str:
    """How results name an object: ``deployment/default/web``."""
    return f"{kind.lower()}/{namespace}/{name}"


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as saved for restore: no status, no server-managed metadata."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for name in VOLATILE_META:
        meta.pop(name, None)
    annotations = meta.get("annotations") or {}
    for name in CONTROLLER_ANNOTATIONS:
        annotations.pop(name, None)
    if not annotations:
        meta.pop("annotations", None)
    return out


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def containers_patch(template: dict[str, Any], image: Image) -> list[dict[str, str]]:
    """The container entries that set ``image`` (one image: the first container; a map: by name)."""
    containers = (template.get("spec") or {}).get("containers") or []
    if isinstance(image, str):
        if not containers:
            raise PermanentError("the deployment's pod template has no container to set the image of")
        return [{"name": containers[0]["name"], "image": image}]
    names = {c["name"] for c in containers}
    unknown = sorted(set(image) - names)
    if unknown:
        raise PermanentError(
            f"no container {', '.join(unknown)} in the pod template; containers: {', '.join(sorted(names))}"
        )
    return [{"name": n, "image": i} for n, i in image.items()]


def with_images(template: dict[str, Any], image: Image | None) -> dict[str, Any]:
    out = copy.deepcopy(template)
    if image is None:
        return out
    wanted = {c["name"]: c["image"] for c in containers_patch(template, image)}
    for c in out["spec"]["containers"]:
        if c["name"] in wanted:
            c["image"] = wanted[c["name"]]
    return out


def template_patch(
    current: dict[str, Any], *, image: Image | None, replicas: int | None, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A strategic-merge patch of a Deployment: images by container name, replicas, extra pod labels."""
    spec: dict[str, Any] = {}
    template: dict[str, Any] = {}
    if image is not None:
        template["spec"] = {"containers": containers_patch(current["spec"]["template"], image)}
    if labels:
        template["metadata"] = {"labels": dict(labels)}
    if template:
        spec["template"] = template
    if replicas is not None:
        spec["replicas"] = replicas
    return {"spec": spec}


def sibling(
    stable: dict[str, Any], *, suffix: str, label: tuple[str, str], image: Image | None, replicas: int
) -> dict[str, Any]:
    """A Deployment next to ``stable``: same template with the new image and one extra label."""
    meta = stable["metadata"]
    spec = copy.deepcopy(stable["spec"])
    spec["template"] = with_images(spec["template"], image)
    spec["template"].setdefault("metadata", {}).setdefault("labels", {})[label[0]] = label[1]
    spec["selector"] = copy.deepcopy(spec.get("selector") or {})
    spec["selector"].setdefault("matchLabels", {})[label[0]] = label[1]
    spec["replicas"] = replicas
    spec.pop("paused", None)
    labels = dict(meta.get("labels") or {})
    labels[label[0]] = label[1]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": meta["name"] + suffix, "namespace": meta.get("namespace"), "labels": labels},
        "spec": spec,
    }
