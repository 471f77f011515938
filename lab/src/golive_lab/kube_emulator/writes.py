"""Writes on the emulated API: create, replace, patch (JSON, merge, strategic), delete, the scale subresource."""

from __future__ import annotations

import json
from typing import Any

import structlog

from . import patch as patching
from .handler_base import HandlerBase, Target, drop_nulls, scale_of
from .resources import BY_PATH
from .selectors import SelectorError, matches_fields, matches_labels, parse_field_selector, parse_label_selector
from .store import ApiError, Obj
from .validation import apply_defaults, validate

log = structlog.get_logger(__name__)

PATCH_RETRIES = 5


class WriteRoutes(HandlerBase):
    def _body_object(self, target: Target) -> Obj:
        body = drop_nulls(self._read_body())
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        if target.namespace is not None:
            sent = meta.get("namespace")
            if sent and sent != target.namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            meta["namespace"] = target.namespace
        return body

    def _create(self, target: Target, *, dry_run: bool) -> None:
        self._require_namespace(target.namespace)
        obj = self._body_object(target)
        apply_defaults(target.res, obj)
        obj.pop("status", None)
        if target.res.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
        if target.res.kind == "Pod":
            obj["status"] = {"phase": "Pending"}
        validate(target.res, obj)
        allocated = self._assign_cluster_ip(obj, dry_run=dry_run)
        try:
            created = self.context.store.create(target.res, obj, dry_run=dry_run)
        except ApiError:
            if allocated:
                self.context.cluster_ips.release(allocated)
            raise
        if not dry_run:
            log.info(
                "object_created", kind=target.res.kind, namespace=target.namespace, name=created["metadata"]["name"]
            )
        self._send_json(201, created)

    def _assign_cluster_ip(self, obj: Obj, *, dry_run: bool) -> str | None:
        spec = obj.get("spec")
        if obj.get("kind") not in (None, "Service") or not isinstance(spec, dict):
            return None
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
            return None
        pool = self.context.cluster_ips
        wanted = spec.get("clusterIP")
        if wanted:
            if not pool.contains(wanted):
                raise ApiError(422, "Invalid", f"spec.clusterIP: Invalid value: {wanted!r}: not in 127.2.0.0/16")
            if dry_run:
                return None
            if not pool.reserve(wanted):
                raise ApiError(422, "Invalid", f"spec.clusterIP: Invalid value: {wanted!r}: already allocated")
            spec["clusterIPs"] = [wanted]
            return str(wanted)
        if dry_run:
            spec["clusterIP"] = "127.2.255.254"
            return None
        address = pool.allocate(ports=[int(p.get("port", 0)) for p in spec.get("ports") or [] if p.get("port")])
        spec["clusterIP"] = address
        spec["clusterIPs"] = [address]
        return address

    def _check_conflict_fault(self, target: Target) -> None:
        if self.context.faults.take_conflict():
            from .store import conflict

            raise conflict(target.res, target.name or "")

    def _replace(self, target: Target, *, dry_run: bool) -> None:
        self._check_conflict_fault(target)
        store = self.context.store
        body = self._body_object(target)
        assert target.name is not None
        if body["metadata"].get("name") not in (None, target.name):
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        body["metadata"]["name"] = target.name
        current = store.get(target.res, target.namespace or "", target.name)
        if target.subresource == "scale":
            updated = self._write_scale(target, current, body, dry_run=dry_run)
            self._send_json(200, scale_of(updated))
            return
        result = self._write(target, current, body, dry_run=dry_run, check_version=True)
        self._send_json(200, result)

    def _write_scale(self, target: Target, current: Obj, scale: Obj, *, dry_run: bool) -> Obj:
        sent_rv = (scale.get("metadata") or {}).get("resourceVersion")
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        updated = json.loads(json.dumps(current))
        updated.setdefault("spec", {})["replicas"] = replicas
        if sent_rv:
            updated["metadata"]["resourceVersion"] = sent_rv
        return self._write(target, current, updated, dry_run=dry_run, check_version=True, subresource=None)

    def _write(
        self,
        target: Target,
        current: Obj,
        obj: Obj,
        *,
        dry_run: bool,
        check_version: bool,
        subresource: str | None = "",
    ) -> Obj:
        sub = target.subresource if subresource == "" else subresource
        res = target.res
        if sub != "status":
            apply_defaults(res, obj)
            if res.kind == "Service":
                self._keep_cluster_ip(current, obj)
            validate(res, obj, old=current if res.kind in ("Deployment", "ReplicaSet") else None)
        return self.context.store.update(res, obj, dry_run=dry_run, subresource=sub, check_version=check_version)

    def _keep_cluster_ip(self, current: Obj, obj: Obj) -> None:
        old_spec = current.get("spec") or {}
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        if not spec.get("clusterIP"):
            spec["clusterIP"] = old_spec.get("clusterIP")
            if old_spec.get("clusterIPs"):
                spec["clusterIPs"] = old_spec["clusterIPs"]
        elif spec["clusterIP"] != old_spec.get("clusterIP"):
            raise ApiError(422, "Invalid", f"spec.clusterIP: Invalid value: {spec['clusterIP']!r}: field is immutable")

    def _patch(self, target: Target, *, dry_run: bool) -> None:
        self._check_conflict_fault(target)
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type == patching.APPLY_PATCH:
            raise ApiError(415, "UnsupportedMediaType", "server-side apply is not supported by the emulator")
        if content_type not in (patching.JSON_PATCH, patching.MERGE_PATCH, patching.STRATEGIC_MERGE_PATCH):
            raise ApiError(
                415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}"
            )
        body = self._read_body()
        assert target.name is not None
        store = self.context.store
        explicit_rv = _mentions_resource_version(body)
        for attempt in range(PATCH_RETRIES):
            current = store.get(target.res, target.namespace or "", target.name)
            base = scale_of(current) if target.subresource == "scale" else current
            try:
                patched = drop_nulls(patching.apply_patch(base, body, content_type))
            except patching.PatchError as exc:
                raise ApiError(422, "Invalid", f"the patch could not be applied: {exc}") from exc
            try:
                if target.subresource == "scale":
                    if not explicit_rv:
                        patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    updated = self._write_scale(target, current, patched, dry_run=dry_run)
                    self._send_json(200, scale_of(updated))
                    return
                meta = patched.setdefault("metadata", {})
                if meta.get("name") != target.name:
                    raise ApiError(400, "BadRequest", "a patch cannot change the object's name")
                result = self._write(target, current, patched, dry_run=dry_run, check_version=True)
            except ApiError as error:
                if error.code == 409 and not explicit_rv and attempt < PATCH_RETRIES - 1:
                    continue
                raise
            self._send_json(200, result)
            return

    def _delete(self, target: Target, *, dry_run: bool) -> None:
        assert target.name is not None
        store = self.context.store
        if target.res.kind == "Namespace" and not dry_run and store.namespace_exists(target.name):
            for svc in store.list(BY_PATH[("v1", "services")], target.name)[0]:
                self.context.cluster_ips.release((svc.get("spec") or {}).get("clusterIP"))
        deleted = store.delete(target.res, target.namespace or "", target.name, dry_run=dry_run)
        if target.res.kind == "Service" and not dry_run:
            self.context.cluster_ips.release((deleted.get("spec") or {}).get("clusterIP"))
        if not dry_run:
            log.info("object_deleted", kind=target.res.kind, namespace=target.namespace, name=target.name)
        self._send_json(
            200,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": target.name,
                    "group": target.res.group,
                    "kind": target.res.plural,
                    "uid": deleted["metadata"].get("uid"),
                },
            },
        )

    def _delete_collection(self, target: Target, query: dict[str, str], *, dry_run: bool) -> None:
        store = self.context.store
        try:
            labels = parse_label_selector(query.get("labelSelector"))
            fields = parse_field_selector(query.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        items, _ = store.list(target.res, target.namespace)
        deleted = []
        for obj in items:
            meta = obj["metadata"]
            if matches_labels(meta.get("labels"), labels) and matches_fields(obj, fields):
                try:
                    deleted.append(store.delete(target.res, meta.get("namespace", ""), meta["name"], dry_run=dry_run))
                except ApiError:
                    continue
        self._send_json(
            200,
            {"kind": f"{target.res.kind}List", "apiVersion": target.res.api_version, "metadata": {}, "items": deleted},
        )


def _mentions_resource_version(patch: Any) -> bool:
    if isinstance(patch, dict):
        return bool((patch.get("metadata") or {}).get("resourceVersion"))
    if isinstance(patch, list):
        return any(
            isinstance(op, dict) and str(op.get("path", "")).startswith("/metadata/resourceVersion") for op in patch
        )
    return False
