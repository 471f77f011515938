"""Helpers shared by the integration tests."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.25) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what} not within {timeout:g}s (last: {last!r})")


def deployment(
    name: str,
    *,
    image: str = "registry.local/demo:v1",
    replicas: int = 3,
    labels: dict[str, str] | None = None,
    deadline: int = 30,
) -> dict[str, Any]:
    """A Deployment of the demo service, one container on port 8080, rolling one pod at a time."""
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": deadline,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]},
            },
        },
    }
