"""The lab's Prometheus: Debian's server binary scraping hosts and pods every second.

Targets come from file_sd JSON files in ``<labdir>/prometheus/sd/``: ``hosts.json``
(written here) and ``pods.json`` (written by the Kubernetes API emulator as pods come
and go). The binary is looked up in ``<repo>/.golive/tools/prometheus`` (where
``scripts/install-system.sh`` puts it), then on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import structlog
import yaml

from golive_lab import process
from golive_lab.errors import MissingTool
from golive_lab.hosts import APP_PORT, HostSpec

log = structlog.get_logger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
TOOLS_SUBPATH = Path("prometheus/usr/bin/prometheus")


class PrometheusNotFound(MissingTool):
    """No Prometheus binary: run ``scripts/install-system.sh`` (``make install``)."""


def find_binary() -> Path:
    """Locate the prometheus binary: GOLIVE_PROMETHEUS, the repo's tools dir, the cwd's, then PATH."""
    candidates = []
    if env := os.environ.get("GOLIVE_PROMETHEUS"):
        candidates.append(Path(env))
    candidates += [REPO_ROOT / ".golive" / "tools" / TOOLS_SUBPATH, Path.cwd() / ".golive" / "tools" / TOOLS_SUBPATH]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which("prometheus")
    if found:
        return Path(found)
    raise PrometheusNotFound(
        "prometheus binary not found (GOLIVE_PROMETHEUS, .golive/tools, PATH): run scripts/install-system.sh, "
        "which puts it in .golive/tools, or set GOLIVE_PROMETHEUS to a prometheus binary"
    )


def sd_dir(lab_dir: Path) -> Path:
    return lab_dir / "prometheus" / "sd"


def _write_json_atomic(path: Path, data: object) -> None:
    # Prometheus watches the directory; a rename never shows it a half-written file.
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def write_host_targets(lab_dir: Path, specs: list[HostSpec]) -> Path:
    """Write ``hosts.json``: one target per host's demo service, labelled with host and group."""
    sd = sd_dir(lab_dir)
    sd.mkdir(parents=True, exist_ok=True)
    groups = [
        {"targets": [f"{s.ip}:{APP_PORT}"], "labels": {"host": s.name, "group": s.groups[0], "kind": "host"}}
        for s in specs
    ]
    path = sd / "hosts.json"
    _write_json_atomic(path, groups)
    pods = sd / "pods.json"
    if not pods.exists():
        _write_json_atomic(pods, [])
    return path


def write_config(lab_dir: Path) -> Path:
    """Write ``prometheus.yml``: 1 s scrape and evaluation, file_sd for hosts and pods."""
    sd = sd_dir(lab_dir)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "hosts",
                "file_sd_configs": [{"files": [str(sd / "hosts.json")], "refresh_interval": "1s"}],
            },
            {
                "job_name": "pods",
                "file_sd_configs": [{"files": [str(sd / "pods.json")], "refresh_interval": "1s"}],
            },
        ],
    }
    path = lab_dir / "prometheus" / "prometheus.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start(lab_dir: Path, *, port: int) -> tuple[int, int]:
    """Start Prometheus on 127.0.0.1:``port`` with its data in the lab dir; return (pid, start)."""
    binary = find_binary()
    base = lab_dir / "prometheus"
    argv = [
        str(binary),
        f"--config.file={base / 'prometheus.yml'}",
        f"--storage.tsdb.path={base / 'data'}",
        "--storage.tsdb.retention.time=1d",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--log.level=warn",
    ]
    pid, started = process.spawn(argv, log_file=base / "prometheus.log")
    log.info("prometheus_started", port=port, pid=pid)
    return pid, started


def is_ready(url: str, *, timeout: float = 0.5) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(url: str, *, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_ready(url):
            return True
        time.sleep(0.05)
    return False


def query(url: str, promql: str, *, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Run an instant query and return its result vector."""
    resp = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=timeout)
    resp.raise_for_status()
    body = resp.json()
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def targets(url: str, *, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Active scrape targets with their health (``up``, ``down``, ``unknown``)."""
    resp = httpx.get(f"{url}/api/v1/targets", params={"state": "active"}, timeout=timeout)
    resp.raise_for_status()
    active: list[dict[str, Any]] = resp.json()["data"]["activeTargets"]
    return active
