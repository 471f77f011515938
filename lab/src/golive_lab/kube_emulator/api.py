"""HTTP front end: Kubernetes API paths, discovery, watch streams and the admin API.

Built on the standard library's ``ThreadingHTTPServer``: one thread per connection keeps
chunked watch streams simple (write a chunk per event, end with the zero chunk), and the
Go and Python clients both speak HTTP/1.1 with keep-alive to it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from . import patch as patching
from . import protobuf
from .faults import Faults
from .ippool import IpPool
from .protobuf import ProtobufError
from .resources import (
    BY_PATH,
    RESOURCES,
    Resource,
    api_group_list,
    api_resource_list,
    api_versions,
    openapi_v3_document,
    openapi_v3_root,
)
from .selectors import (
    SelectorError,
    matches_fields,
    matches_labels,
    parse_field_selector,
    parse_label_selector,
)
from .store import ApiError, Obj, Store, not_found, qualified
from .tables import render_table
from .validation import apply_defaults, validate

log = structlog.get_logger(__name__)

WATCH_DEFAULT_TIMEOUT_S = 300
WATCH_MAX_TIMEOUT_S = 600
WATCH_POLL_S = 0.5
MAX_BODY_BYTES = 3 * 1024 * 1024
PATCH_RETRIES = 5
VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-golive-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass
class ApiContext:
    """Everything request handlers share."""

    store: Store
    faults: Faults
    cluster_ips: IpPool
    shutdown: threading.Event
    server_address: str
    admin_pods: Callable[[], list[dict[str, Any]]]


@dataclass
class Target:
    res: Resource
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_target(parts: list[str]) -> Target | None:
    """Map a path under /api or /apis to the resource it names."""
    if parts[:2] == ["api", "v1"]:
        group_version, rest = "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and (group_version, rest[2]) in BY_PATH:
        namespace, rest = rest[1], rest[2:]
    if not rest or (group_version, rest[0]) not in BY_PATH:
        return None
    res = BY_PATH[(group_version, rest[0])]
    if res.namespaced is False and namespace is not None:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if len(rest) > 3 or (sub is not None and sub not in res.subresources):
        return None
    return Target(res, namespace, name, sub)


def drop_nulls(value: Any) -> Any:
    """Remove null fields, as decoding into the API's typed objects does."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(item) for item in value]
    return value


def scale_of(obj: Obj) -> Obj:
    meta = obj["metadata"]
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items())),
        },
    }


def make_handler(ctx: ApiContext) -> type[BaseHTTPRequestHandler]:
    class Handler(ApiHandler):
        context = ctx

    return Handler


class ApiHandler(BaseHTTPRequestHandler):
    """One request against the emulated API."""

    protocol_version = "HTTP/1.1"
    server_version = "golive-kube-emulator"
    context: ApiContext
    _raw_body: bytes = b""

    # -- plumbing --------------------------------------------------------------------
    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _send_json(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_error(self, error: ApiError) -> None:
        self._send_json(error.code, error.status(), error.headers)

    def _receive_body(self) -> bytes:
        """Read the whole request body first, so an early error leaves a clean keep-alive stream."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge", "request body too large")
        if length:
            return self.rfile.read(length)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        return b""

    def _read_body(self) -> Any:
        raw = self._raw_body
        if not raw:
            return None
        if (self.headers.get("Content-Type") or "").startswith(protobuf.CONTENT_TYPE):
            try:
                return protobuf.decode_object(raw)
            except ProtobufError as exc:
                raise ApiError(415, "UnsupportedMediaType", str(exc)) from exc
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ApiError(400, "BadRequest", f"the request body is not valid JSON: {exc}") from exc

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while len(data) <= MAX_BODY_BYTES:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return bytes(data)
            data += self.rfile.read(size)
            self.rfile.readline()
        self.close_connection = True
        raise ApiError(413, "RequestEntityTooLarge", "request body too large")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self._raw_body = b""
        try:
            self._raw_body = self._receive_body()
            if parts and parts[0] == "_emulator":
                self._admin(method, parts[1:])
            elif parts and parts[0] in ("api", "apis"):
                self._api(method, parts, query)
            elif method == "GET" and parts in (["healthz"], ["readyz"], ["livez"]):
                self._send_text(200, "ok")
            elif method == "GET" and parts == ["version"]:
                self._send_json(200, VERSION_INFO)
            elif method == "GET" and parts[:2] == ["openapi", "v3"]:
                self._openapi(parts[2:])
            else:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
        except ApiError as error:
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            log.exception("api_request_failed", method=method, path=url.path)
            self._send_error(ApiError(500, "InternalError", f"internal error: {exc}"))

    def _send_text(self, code: int, text: str) -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _openapi(self, rest: list[str]) -> None:
        document = openapi_v3_root() if not rest else openapi_v3_document("/".join(rest))
        if document is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        self._send_json(200, document)

    # -- admin -----------------------------------------------------------------------
    def _admin(self, method: str, parts: list[str]) -> None:
        faults = self.context.faults
        if parts == ["faults"]:
            if method == "GET":
                self._send_json(200, faults.describe())
            elif method == "POST":
                body = self._read_body() or {}
                if not isinstance(body, dict):
                    raise ApiError(400, "BadRequest", "fault settings must be a JSON object")
                try:
                    faults.configure(body)
                except (TypeError, ValueError) as exc:
                    raise ApiError(400, "BadRequest", str(exc)) from exc
                log.info("faults_configured", **faults.describe())
                self._send_json(200, faults.describe())
            elif method == "DELETE":
                faults.clear()
                log.info("faults_cleared")
                self._send_json(200, faults.describe())
            else:
                raise ApiError(405, "MethodNotAllowed", "use GET, POST or DELETE")
        elif parts == ["pods"] and method == "GET":
            self._send_json(200, {"pods": self.context.admin_pods()})
        else:
            raise ApiError(404, "NotFound", "unknown admin path")

    # -- API -------------------------------------------------------------------------
    def _api(self, method: str, parts: list[str], query: dict[str, str]) -> None:
        ctx = self.context
        latency = ctx.faults.current_latency()
        if latency:
            ctx.shutdown.wait(latency)
        injected = ctx.faults.take_error()
        if injected is not None:
            raise injected
        if method == "GET" and self._discovery(parts):
            return
        target = parse_target(parts)
        if target is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        self._check_forbidden(method, target)
        dry_run = query.get("dryRun") == "All"
        if method == "GET":
            self._get(target, query)
        elif method == "POST" and target.name is None:
            self._create(target, dry_run=dry_run)
        elif method == "PUT" and target.name is not None:
            self._replace(target, dry_run=dry_run)
        elif method == "PATCH" and target.name is not None:
            self._patch(target, dry_run=dry_run)
        elif method == "DELETE" and target.name is not None and target.subresource is None:
            self._delete(target, dry_run=dry_run)
        elif method == "DELETE" and target.name is None:
            self._delete_collection(target, query, dry_run=dry_run)
        else:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on this path")

    def _discovery(self, parts: list[str]) -> bool:
        if parts == ["api"]:
            self._send_json(200, api_versions(self.context.server_address))
        elif parts == ["apis"]:
            self._send_json(200, api_group_list())
        elif parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"):
            group_version = "v1" if parts[0] == "api" else f"{parts[1]}/{parts[2]}"
            listing = api_resource_list(group_version)
            if listing is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            self._send_json(200, listing)
        else:
            return False
        return True

    def _check_forbidden(self, method: str, target: Target) -> None:
        namespace = target.namespace
        if target.res.kind == "Namespace":
            namespace = target.name
        if not self.context.faults.forbids(namespace):
            return
        verb = {"GET": "get" if target.name else "list", "POST": "create", "PUT": "update"}.get(method, method.lower())
        res = target.res
        message = (
            f"{qualified(res)}{' ' + repr(target.name).replace(chr(39), chr(34)) if target.name else ''} is forbidden: "
            f'User "lab-user" cannot {verb} resource "{res.plural}" in API group "{res.group}" '
            f'in the namespace "{namespace}"'
        )
        raise ApiError(
            403, "Forbidden", message, details={"name": target.name or "", "group": res.group, "kind": res.plural}
        )

    def _require_namespace(self, namespace: str | None) -> None:
        if namespace is not None and not self.context.store.namespace_exists(namespace):
            ns_res = BY_PATH[("v1", "namespaces")]
            raise not_found(ns_res, namespace)

    def _wants_table(self, query: dict[str, str]) -> bool:
        return "as=Table" in (self.headers.get("Accept") or "") and query.get("watch") not in ("true", "True", "1")

    # GET -----------------------------------------------------------------------------
    def _get(self, target: Target, query: dict[str, str]) -> None:
        store = self.context.store
        if target.name is not None:
            obj = store.get(target.res, target.namespace or "", target.name)
            if target.subresource == "scale":
                self._send_json(200, scale_of(obj))
            elif self._wants_table(query):
                self._send_json(200, render_table(target.res.kind, [obj], obj["metadata"]["resourceVersion"]))
            else:
                self._send_json(200, obj)
            return
        try:
            labels = parse_label_selector(query.get("labelSelector"))
            fields = parse_field_selector(query.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        if query.get("watch") in ("true", "True", "1"):
            self._watch(target, query, labels=labels, fields=fields)
            return
        items, rv = store.list(target.res, target.namespace)
        items = [
            obj
            for obj in items
            if matches_labels((obj.get("metadata") or {}).get("labels"), labels) and matches_fields(obj, fields)
        ]
        if self._wants_table(query):
            self._send_json(200, render_table(target.res.kind, items, str(rv)))
            return
        self._send_json(
            200,
            {
                "kind": f"{target.res.kind}List",
                "apiVersion": target.res.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            },
        )

    def _watch(self, target: Target, query: dict[str, str], *, labels: Any, fields: Any) -> None:
        store, shutdown = self.context.store, self.context.shutdown
        try:
            timeout = float(query.get("timeoutSeconds") or WATCH_DEFAULT_TIMEOUT_S)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", "timeoutSeconds must be a number") from exc
        deadline = time.monotonic() + min(max(timeout, 0.0), WATCH_MAX_TIMEOUT_S)

        def wanted(plural: str, obj: Obj) -> bool:
            meta = obj.get("metadata") or {}
            return (
                plural == target.res.plural
                and (target.namespace is None or meta.get("namespace") == target.namespace)
                and matches_labels(meta.get("labels"), labels)
                and matches_fields(obj, fields)
            )

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

        requested = query.get("resourceVersion") or ""
        if requested in ("", "0"):
            items, last = store.list(target.res, target.namespace)
            for obj in items:
                if wanted(target.res.plural, obj):
                    self._chunk({"type": "ADDED", "object": obj})
        else:
            try:
                last = int(requested)
            except ValueError:
                last = -1
            if last < 0 or last < store.oldest_event_version() - 1:
                expired = ApiError(410, "Expired", f"too old resource version: {requested}")
                self._chunk({"type": "ERROR", "object": expired.status()})
                self._end_chunks()
                return
        while not shutdown.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            store.wait_for_change(last, min(remaining, WATCH_POLL_S))
            for event in store.events_after(last):
                last = event.resource_version
                if wanted(event.plural, event.obj):
                    self._chunk({"type": event.type, "object": event.obj})
        self._end_chunks()

    def _chunk(self, payload: Obj) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # writes --------------------------------------------------------------------------
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


__all__ = ["RESOURCES", "ApiContext", "make_handler", "parse_target"]
