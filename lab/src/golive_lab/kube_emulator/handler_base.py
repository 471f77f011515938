"""What every request handler of the emulated API shares: the context, body reading, JSON replies."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from . import protobuf
from .faults import Faults
from .ippool import IpPool
from .protobuf import ProtobufError
from .resources import BY_PATH, Resource
from .store import ApiError, Obj, Store, not_found

MAX_BODY_BYTES = 3 * 1024 * 1024


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


class HandlerBase(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; request bodies read whole before anything is answered."""

    protocol_version = "HTTP/1.1"
    server_version = "golive-kube-emulator"
    context: ApiContext
    _raw_body: bytes = b""

    def log_message(self, format: str, *args: object) -> None:
        return

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

    def _send_text(self, code: int, text: str) -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _require_namespace(self, namespace: str | None) -> None:
        if namespace is not None and not self.context.store.namespace_exists(namespace):
            ns_res = BY_PATH[("v1", "namespaces")]
            raise not_found(ns_res, namespace)

    def _wants_table(self, query: dict[str, str]) -> bool:
        return "as=Table" in (self.headers.get("Accept") or "") and query.get("watch") not in ("true", "True", "1")
