"""Service proxies: a round-robin HTTP proxy on each Service's cluster IP and port.

The backends are looked up per request (ready pods in the Service's namespace matching
its current selector), so a selector switch (blue-green) or a change in replica counts
(canary) shows in the very next request.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog

from .resources import BY_KIND
from .selectors import Requirement, matches_labels
from .store import Obj, Store

log = structlog.get_logger(__name__)

UPSTREAM_TIMEOUT_S = 5.0
MAX_PROXY_BODY = 1024 * 1024
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def _pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


@dataclass
class Route:
    namespace: str
    service: str
    port: int
    target_port: Any


class ListeningServer(ThreadingHTTPServer):
    """A socket of the emulator (the API, a Service): a client opening many connections at
    once (a parallel rollout, kubectl's discovery) is queued, not reset (the default backlog
    is 5), and a restarted emulator binds its address again at once."""

    allow_reuse_address = True
    request_queue_size = 128
    daemon_threads = True


class ServiceProxy:
    """One listening socket (cluster IP, port) forwarding to the ready endpoints."""

    def __init__(self, *, store: Store, route: Route, address: str) -> None:
        self.store = store
        self.route = route
        self.address = address
        self._counter = itertools.count()
        self.server = ListeningServer((address, route.port), self._handler())
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
            name=f"svc-{route.namespace}-{route.service}-{route.port}",
        )  # fmt: skip

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=2)

    def endpoints(self) -> list[tuple[str, int]]:
        svc = self.store.find(BY_KIND["Service"], self.route.namespace, self.route.service)
        if svc is None:
            return []
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector:
            return []
        requirements = [Requirement(k, "in", frozenset({str(v)})) for k, v in selector.items()]
        pods, _ = self.store.list(BY_KIND["Pod"], self.route.namespace)
        found = []
        for pod in pods:
            if not _pod_ready(pod) or not matches_labels(pod["metadata"].get("labels"), requirements):
                continue
            ip = (pod.get("status") or {}).get("podIP")
            if ip:
                found.append((ip, self._target_port(pod)))
        return sorted(found)

    def _target_port(self, pod: Obj) -> int:
        target = self.route.target_port
        if isinstance(target, int):
            return target
        if isinstance(target, str) and target.isdigit():
            return int(target)
        for container in (pod.get("spec") or {}).get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("name") == target:
                    return int(port["containerPort"])
        return self.route.port

    def pick(self) -> tuple[str, int] | None:
        endpoints = self.endpoints()
        if not endpoints:
            return None
        return endpoints[next(self._counter) % len(endpoints)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _forward(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_PROXY_BODY)
                body = self.rfile.read(length) if length else None
                target = proxy.pick()
                if target is None:
                    self._reply(503, b"no ready endpoints\n", {})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                conn = http.client.HTTPConnection(target[0], target[1], timeout=UPSTREAM_TIMEOUT_S)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    passed = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS}
                    passed.pop("Content-Length", None)
                    passed["X-Emulator-Endpoint"] = f"{target[0]}:{target[1]}"
                    self._reply(response.status, data, passed)
                except OSError as exc:
                    self._reply(502, f"upstream {target[0]}:{target[1]} failed: {exc}\n".encode(), {})
                finally:
                    conn.close()

            def _reply(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

        return Handler


class ServiceProxies:
    """Keeps one proxy per (service, port) in step with the stored Services."""

    def __init__(self, *, store: Store) -> None:
        self.store = store
        self.proxies: dict[tuple[str, str, str, int], ServiceProxy] = {}
        self._failed: set[tuple[str, str, str, int]] = set()

    def sync(self) -> None:
        wanted: dict[tuple[str, str, str, int], Route] = {}
        for svc in self.store.list(BY_KIND["Service"])[0]:
            spec = svc.get("spec") or {}
            address = spec.get("clusterIP")
            if not address or address == "None":
                continue
            for port in spec.get("ports") or []:
                key = (svc["metadata"]["namespace"], svc["metadata"]["name"], address, int(port["port"]))
                wanted[key] = Route(key[0], key[1], key[3], port.get("targetPort", port["port"]))
        for key in [k for k in self.proxies if k not in wanted]:
            self.proxies.pop(key).stop()
            log.info("service_proxy_stopped", namespace=key[0], service=key[1], address=key[2], port=key[3])
        self._failed &= set(wanted)
        for key, route in wanted.items():
            proxy = self.proxies.get(key)
            if proxy is not None:
                proxy.route = route
                continue
            if key in self._failed:
                continue
            try:
                proxy = ServiceProxy(store=self.store, route=route, address=key[2])
            except OSError as exc:
                self._failed.add(key)
                log.warning(
                    "service_proxy_failed",
                    namespace=key[0],
                    service=key[1],
                    address=key[2],
                    port=key[3],
                    error=str(exc),
                )
                continue
            proxy.start()
            self.proxies[key] = proxy
            log.info("service_proxy_started", namespace=key[0], service=key[1], address=key[2], port=key[3])

    def stop_all(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
        self.proxies.clear()
