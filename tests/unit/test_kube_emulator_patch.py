"""Strategic merge, merge and JSON patch of the kube emulator, as data cases."""

from __future__ import annotations

from typing import Any

import pytest

from golive_lab.kube_emulator.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    apply_patch,
)


def pod_spec(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": list(containers)}}}}


WEB = {
    "name": "web",
    "image": "demo:v1",
    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
}
SIDECAR = {"name": "sidecar", "image": "proxy:1"}

# (name, original, patch, expected)
STRATEGIC_CASES: list[tuple[str, dict[str, Any], Any, dict[str, Any]]] = [
    (
        "container image by name keeps the other containers",
        pod_spec(WEB, SIDECAR),
        pod_spec({"name": "sidecar", "image": "proxy:2"}),
        pod_spec(WEB, {"name": "sidecar", "image": "proxy:2"}),
    ),
    (
        "env merges by name",
        pod_spec(WEB),
        pod_spec({"name": "web", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}),
        pod_spec(
            {
                **WEB,
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
            }
        ),
    ),
    (
        "container ports merge by containerPort",
        pod_spec(WEB),
        pod_spec({"name": "web", "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090}]}),
        pod_spec(
            {
                **WEB,
                "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}, {"containerPort": 9090}],
            }
        ),
    ),
    (
        "service ports merge by port",
        {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}},
        {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
        {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
    ),
    (
        "$patch delete removes a list item",
        pod_spec(WEB, SIDECAR),
        pod_spec({"name": "sidecar", "$patch": "delete"}),
        pod_spec(WEB),
    ),
    (
        "$patch replace on a list replaces it",
        pod_spec(WEB, SIDECAR),
        pod_spec({"$patch": "replace"}, {"name": "only", "image": "x:1"}),
        pod_spec({"name": "only", "image": "x:1"}),
    ),
    (
        "$patch replace on a map replaces it",
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
        {"metadata": {"labels": {"c": "3"}}},
    ),
    (
        "null deletes a key",
        {"spec": {"selector": {"app": "shop", "track": "blue"}}},
        {"spec": {"selector": {"track": None}}},
        {"spec": {"selector": {"app": "shop"}}},
    ),
    (
        "lists without a merge key are replaced",
        {"spec": {"args": ["a", "b"]}},
        {"spec": {"args": ["c"]}},
        {"spec": {"args": ["c"]}},
    ),
    (
        "$setElementOrder orders merged items",
        pod_spec(WEB, SIDECAR),
        {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
                        "containers": [{"name": "web", "image": "demo:v2"}],
                    }
                }
            }
        },
        pod_spec(SIDECAR, {**WEB, "image": "demo:v2"}),
    ),
    (
        "$deleteFromPrimitiveList removes values",
        {"metadata": {"finalizers": ["a", "b"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
        {"metadata": {"finalizers": ["b"]}},
    ),
    (
        "finalizers merge as a set",
        {"metadata": {"finalizers": ["a"]}},
        {"metadata": {"finalizers": ["a", "b"]}},
        {"metadata": {"finalizers": ["a", "b"]}},
    ),
]


@pytest.mark.parametrize(
    ("original", "patch", "expected"),
    [case[1:] for case in STRATEGIC_CASES],
    ids=[case[0] for case in STRATEGIC_CASES],
)
def test_strategic_merge_patch(original: dict[str, Any], patch: Any, expected: dict[str, Any]) -> None:
    """A strategic merge patch merges keyed lists and honours its directives like the API server."""
    assert apply_patch(original, patch, STRATEGIC_MERGE_PATCH) == expected


MERGE_CASES: list[tuple[str, dict[str, Any], Any, dict[str, Any]]] = [
    ("maps merge", {"a": {"b": 1}}, {"a": {"c": 2}}, {"a": {"b": 1, "c": 2}}),
    ("null deletes", {"a": 1, "b": 2}, {"a": None}, {"b": 2}),
    ("lists replace", pod_spec(WEB, SIDECAR), pod_spec(SIDECAR), pod_spec(SIDECAR)),
]


@pytest.mark.parametrize(
    ("original", "patch", "expected"), [case[1:] for case in MERGE_CASES], ids=[case[0] for case in MERGE_CASES]
)
def test_merge_patch(original: dict[str, Any], patch: Any, expected: dict[str, Any]) -> None:
    """A JSON merge patch follows RFC 7386: maps merge, null deletes, lists replace."""
    assert apply_patch(original, patch, MERGE_PATCH) == expected


JSON_CASES: list[tuple[str, dict[str, Any], Any, dict[str, Any]]] = [
    (
        "replace an image by index",
        pod_spec(WEB),
        [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "demo:v2"}],
        pod_spec({**WEB, "image": "demo:v2"}),
    ),
    ("add and remove", {"a": 1}, [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/a"}], {"b": 2}),
]


@pytest.mark.parametrize(
    ("original", "patch", "expected"), [case[1:] for case in JSON_CASES], ids=[case[0] for case in JSON_CASES]
)
def test_json_patch(original: dict[str, Any], patch: Any, expected: dict[str, Any]) -> None:
    """A JSON patch applies RFC 6902 operations in order."""
    assert apply_patch(original, patch, JSON_PATCH) == expected


@pytest.mark.parametrize(
    ("patch", "content_type"),
    [
        ([{"op": "test", "path": "/a", "value": 2}], JSON_PATCH),
        ([{"op": "remove", "path": "/missing"}], JSON_PATCH),
        ({"a": 1}, JSON_PATCH),
        ([1, 2], STRATEGIC_MERGE_PATCH),
        ({"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}}, STRATEGIC_MERGE_PATCH),
        ({"a": 1}, "application/yaml"),
    ],
)
def test_unapplicable_patch_is_refused(patch: Any, content_type: str) -> None:
    """A patch that cannot apply raises PatchError, which the API answers with 422."""
    with pytest.raises(PatchError):
        apply_patch({"a": 1, **pod_spec(WEB)}, patch, content_type)


def test_patch_leaves_the_original_untouched() -> None:
    """Patching works on a copy, so a failed or dry-run patch cannot change stored state."""
    original = pod_spec(WEB)
    snapshot = repr(original)
    apply_patch(original, pod_spec({"name": "web", "image": "demo:v9"}), STRATEGIC_MERGE_PATCH)
    assert repr(original) == snapshot
