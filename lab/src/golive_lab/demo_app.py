"""The lab's demo service: what golive releases onto lab hosts and emulated pods.

Versions are plain labels; a version ending in ``-bad`` misbehaves the way a bad
release does in production: a share of 5xx answers and slow responses, including a
health endpoint that answers 200 but too slowly for a 2 s latency gate.

Run: ``python -m golive_lab.demo_app --bind 127.0.0.11 --port 8080 --version v2``
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

BAD_ERROR_SHARE = 0.3
BAD_HEALTH_DELAY_S = 2.5
BAD_WORK_DELAY_S = 0.3


class DemoService:
    """State and metrics of one running demo service."""

    def __init__(self, *, version: str, name: str, seed: int | None = None) -> None:
        self.version = version
        self.name = name
        self.bad = version.endswith("-bad")
        self.rng = random.Random(seed)
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by status code and version",
            ["code", "version", "path"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["version", "path"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
        )
        info = Gauge(
            "demo_app_info", "Version of the running demo service", ["version", "name"], registry=self.registry
        )
        info.labels(version=version, name=name).set(1)
        # Zero-valued series from the start, so an error ratio exists (as 0) for a healthy version.
        for code in ("200", "500"):
            self.requests.labels(code=code, version=version, path="/work")

    def answer(self, path: str) -> tuple[int, str, float]:
        """Return (status, body, delay in seconds) for a request path."""
        if path == "/health":
            return 200, "ok\n", BAD_HEALTH_DELAY_S if self.bad else 0.0
        if path == "/version":
            return 200, f"{self.version}\n", 0.0
        if path in ("/", "/work"):
            if self.bad and self.rng.random() < BAD_ERROR_SHARE:
                return 500, "internal error\n", BAD_WORK_DELAY_S
            return 200, f"hello from {self.name} {self.version}\n", BAD_WORK_DELAY_S if self.bad else 0.0
        return 404, "not found\n", 0.0


def make_handler(service: DemoService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "golive-demo"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body = generate_latest(service.registry)
                self._send(200, body, CONTENT_TYPE_LATEST)
                return
            start = time.monotonic()
            status, text, delay = service.answer(path)
            if delay:
                time.sleep(delay)
            self._send(status, text.encode(), "text/plain; charset=utf-8")
            label = path if path in ("/", "/work", "/health", "/version") else "other"
            service.requests.labels(code=str(status), version=service.version, path=label).inc()
            service.latency.labels(version=service.version, path=label).observe(time.monotonic() - start)

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Demo-Version", service.version)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--version", required=True)
    parser.add_argument("--name", default="demo")
    parser.add_argument("--pidfile", type=Path)
    args = parser.parse_args(argv)
    service = DemoService(version=args.version, name=args.name)
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer((args.bind, args.port), make_handler(service))
    if args.pidfile:
        import os

        args.pidfile.write_text(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
