"""The lab's Prefect server: ``prefect server start`` with sqlite in the lab dir.

It needs 5-12 s to answer /api/health, so the lab starts it and goes on; ``lab status``
shows when it is ready.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx
import structlog

from golive_lab import process

log = structlog.get_logger(__name__)


def server_env(lab_dir: Path) -> dict[str, str]:
    home = lab_dir / "prefect"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
    )
    return env


def start(lab_dir: Path, *, port: int) -> tuple[int, int]:
    """Start the server on 127.0.0.1:``port``; return (pid, start) without waiting for it."""
    home = lab_dir / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    prefect = Path(sys.executable).with_name("prefect")
    argv = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    pid, started = process.spawn(argv, log_file=home / "server.log", env=server_env(lab_dir), cwd=home)
    log.info("prefect_server_started", port=port, pid=pid)
    return pid, started


def api_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/api"


def is_healthy(url: str, *, timeout: float = 0.5) -> bool:
    """Whether the server at ``url`` (ending in /api) answers its health check."""
    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(url: str, *, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_healthy(url):
            return True
        time.sleep(0.2)
    return False


# The work pool golive schedule deploys to by default, and the lab's worker serves.
WORK_POOL = "golive"


def start_worker(lab_dir: Path, *, api_url: str, env: dict[str, str], cwd: Path) -> tuple[int, int]:
    """``prefect worker start`` for the lab's process work pool (created if missing); return (pid, start).

    It polls every 2 s (not 10), so a scheduled run starts within seconds of its time; its flow
    runs inherit ``env`` (the lab's settings: GOLIVE_LAB_DIR, PREFECT_API_URL, KUBECONFIG, ...).
    """
    prefect = Path(sys.executable).with_name("prefect")
    worker_env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    worker_env.update(env)
    worker_env.update(
        {
            "PREFECT_API_URL": api_url,
            "PREFECT_HOME": str(lab_dir / "prefect" / "worker"),
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "PREFECT_WORKER_PREFETCH_SECONDS": "5",
            "PREFECT_LOGGING_LEVEL": "INFO",
        }
    )
    argv = [str(prefect), "worker", "start", "--pool", WORK_POOL, "--type", "process", "--name", "golive-lab"]
    pid, started = process.spawn(argv, log_file=lab_dir / "prefect" / "worker.log", env=worker_env, cwd=cwd)
    log.info("prefect_worker_started", pool=WORK_POOL, pid=pid)
    return pid, started
