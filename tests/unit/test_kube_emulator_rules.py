"""Validation and rollout arithmetic of the kube emulator."""

from __future__ import annotations

from typing import Any

import pytest

from golive_lab.kube_emulator.controller import resolve_int_or_percent, template_hash
from golive_lab.kube_emulator.kubelet import image_version
from golive_lab.kube_emulator.resources import BY_KIND
from golive_lab.kube_emulator.store import ApiError
from golive_lab.kube_emulator.validation import apply_defaults, validate


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [("25%", 3, True, 1), ("25%", 3, False, 0), ("50%", 4, False, 2), (2, 10, True, 2), ("0%", 5, True, 0)],
)
def test_int_or_percent(value: Any, total: int, round_up: bool, expected: int) -> None:
    """maxSurge rounds up and maxUnavailable rounds down, as the Deployment controller does."""
    assert resolve_int_or_percent(value, total, round_up=round_up) == expected


def test_template_hash_ignores_hash_label_and_nulls() -> None:
    """The template hash is stable across the pod-template-hash label and null fields clients add."""
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}
    with_extras = {
        "metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}, "creationTimestamp": None},
        "spec": {"containers": [{"name": "a", "image": "x", "resources": {}}]},
    }
    assert template_hash(template) == template_hash(with_extras)
    changed = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "y"}]}}
    assert template_hash(template) != template_hash(changed)


@pytest.mark.parametrize(
    ("image", "version"),
    [("registry.local/demo:v2", "v2"), ("registry.local:5000/demo:v2-bad", "v2-bad"), ("demo", "latest")],
)
def test_image_version(image: str, version: str) -> None:
    """A pod's demo version is its image tag, ignoring a registry port."""
    assert image_version(image) == version


def good_deployment() -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "demo:v1"}]},
            },
        },
    }


def test_valid_deployment_passes_and_gets_defaults() -> None:
    """A well-formed Deployment validates and gets the API's rolling-update defaults."""
    dep = good_deployment()
    apply_defaults(BY_KIND["Deployment"], dep)
    validate(BY_KIND["Deployment"], dep)
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert dep["spec"]["progressDeadlineSeconds"] == 600


def test_changed_selector_is_immutable() -> None:
    """Changing a Deployment's selector on update is refused, as in apps/v1."""
    old = good_deployment()
    new = good_deployment()
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "x": "y"}}
    new["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    with pytest.raises(ApiError) as error:
        validate(BY_KIND["Deployment"], new, old=old)
    assert error.value.code == 422
    assert [c["field"] for c in error.value.details["causes"]] == ["spec.selector"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("kind", "obj", "field"),
    [
        ("Service", {"metadata": {"name": "svc"}, "spec": {}}, "spec.ports"),
        ("Service", {"metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}}, "metadata.name"),
        ("Pod", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}, "spec.containers[0].image"),
        ("Namespace", {"metadata": {"name": "a.b"}}, "metadata.name"),
    ],
)
def test_invalid_objects_name_the_field(kind: str, obj: dict[str, Any], field: str) -> None:
    """Validation errors carry a cause naming the offending field."""
    with pytest.raises(ApiError) as error:
        validate(BY_KIND[kind], obj)
    assert field in [c["field"] for c in error.value.details["causes"]]  # type: ignore[index]
