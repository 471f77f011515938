"""The three patch formats the Kubernetes API accepts.

* JSON patch (RFC 6902, ``application/json-patch+json``): delegated to the ``jsonpatch``
  library.
* JSON merge patch (RFC 7386, ``application/merge-patch+json``): maps merge, ``null``
  deletes, everything else (lists included) replaces.
* Strategic merge patch (``application/strategic-merge-patch+json``): no maintained
  Python library implements it, so this module carries a focused implementation. It
  covers what kubectl and the Python client send for workloads: lists of objects merged
  by their merge key (containers, env, ports, volumes, volumeMounts, conditions, ...),
  ``$patch: replace|delete|merge`` directives in maps and list items,
  ``$deleteFromPrimitiveList/<field>``, and ``$setElementOrder/<field>`` (honoured for
  ordering). ``$retainKeys`` keeps only the named keys. Fields the real API server
  merges from its Go type tags but that are not in :data:`MERGE_KEYS` are replaced, as
  a merge patch would.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Field name -> merge key for lists that the API merges element by element.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "ownerReferences": "uid",
}
# Lists of scalars the API merges as sets.
PRIMITIVE_MERGE_LISTS = frozenset({"finalizers"})


class PatchError(ValueError):
    """A patch that cannot be applied to the object."""


def apply_json_patch(document: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Apply an RFC 6902 operation list."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    try:
        result = jsonpatch.apply_patch(document, operations, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, TypeError) as exc:
        raise PatchError(str(exc)) from exc
    if not isinstance(result, dict):
        raise PatchError("a JSON patch must leave an object")
    return result


def apply_merge_patch(document: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(document) if isinstance(document, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def _list_merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        # Container ports merge on containerPort, Service ports on port.
        sample = next((item for item in items if isinstance(item, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def apply_strategic_merge_patch(document: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a strategic merge patch to an object."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be an object")
    result = _merge_map(copy.deepcopy(document), patch)
    if result is None:
        raise PatchError("a strategic merge patch cannot delete the whole object")
    return result


def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any]) -> dict[str, Any] | None:
    original = original if isinstance(original, dict) else {}
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {key: value for key, value in patch.items() if key != "$patch"}
    if directive == "replace":
        return _strip_directives(body)
    if directive not in (None, "merge"):
        raise PatchError(f"unknown $patch directive {directive!r}")

    retain = body.pop("$retainKeys", None)
    orders = {k.split("/", 1)[1]: v for k, v in body.items() if k.startswith("$setElementOrder/")}
    deletions = {k.split("/", 1)[1]: v for k, v in body.items() if k.startswith("$deleteFromPrimitiveList/")}
    body = {k: v for k, v in body.items() if not k.startswith("$")}

    result = dict(original)
    for key, value in body.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _merge_map(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    for key, values in deletions.items():
        if isinstance(result.get(key), list):
            result[key] = [item for item in result[key] if item not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list) and isinstance(order, list):
            result[key] = _apply_order(key, result[key], order)
    if isinstance(retain, list):
        result = {key: value for key, value in result.items() if key in retain}
    return result


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    original_list = original if isinstance(original, list) else []
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_strip_directives(item) for item in patch if not (isinstance(item, dict) and "$patch" in item)]
    if field in PRIMITIVE_MERGE_LISTS and all(not isinstance(item, dict) for item in patch):
        merged = list(original_list)
        merged.extend(item for item in patch if item not in merged)
        return merged
    key = _list_merge_key(field, patch + original_list)
    if key is None or not all(isinstance(item, dict) for item in patch):
        return [_strip_directives(item) for item in patch]

    result = [copy.deepcopy(item) for item in original_list]
    for item in patch:
        if key not in item:
            raise PatchError(f"list item in {field!r} lacks its merge key {key!r}")
        index = next(
            (i for i, existing in enumerate(result) if isinstance(existing, dict) and existing.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(_strip_directives(item))
        else:
            merged_item = _merge_map(result[index], item)
            if merged_item is None:
                result.pop(index)
            else:
                result[index] = merged_item
    return result


def _apply_order(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    """Order merged list items as ``$setElementOrder`` asks; unnamed items go last."""
    key = _list_merge_key(field, items)

    def identity(item: Any) -> Any:
        if key is not None and isinstance(item, dict):
            return item.get(key)
        return item

    wanted = [identity(entry) for entry in order]
    ranked = sorted(
        enumerate(items),
        key=lambda pair: (wanted.index(identity(pair[1])) if identity(pair[1]) in wanted else len(wanted), pair[0]),
    )
    return [item for _, item in ranked]


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return copy.deepcopy(value)


def apply_patch(document: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """Apply a patch body of the given content type (without parameters)."""
    if content_type == JSON_PATCH:
        return apply_json_patch(document, patch)
    if content_type == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise PatchError("a merge patch must be an object")
        result = apply_merge_patch(document, patch)
        assert isinstance(result, dict)
        return result
    if content_type == STRATEGIC_MERGE_PATCH:
        return apply_strategic_merge_patch(document, patch)
    raise PatchError(f"unsupported patch type {content_type!r}")
