"""HTTP front end: Kubernetes API paths, discovery, watch streams and the admin API.

Built on the standard library's ``ThreadingHTTPServer``: one thread per connection keeps
chunked watch streams simple (write a chunk per event, end with the zero chunk), and the
Go and Python clients both speak HTTP/1.1 with keep-alive to it.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import structlog

from .handler_base import ApiContext, Target
from .reads import ReadRoutes
from .resources import (
    BY_PATH,
    RESOURCES,
    api_group_list,
    api_resource_list,
    api_versions,
    openapi_v3_document,
    openapi_v3_root,
)
from .store import ApiError, qualified
from .writes import WriteRoutes

log = structlog.get_logger(__name__)

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


def make_handler(ctx: ApiContext) -> type[BaseHTTPRequestHandler]:
    class Handler(ApiHandler):
        context = ctx

    return Handler


class ApiHandler(ReadRoutes, WriteRoutes):
    """One request against the emulated API: routed here, answered by the read and write routes."""

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


__all__ = ["RESOURCES", "ApiContext", "make_handler", "parse_target"]
