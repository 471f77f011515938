"""A Kubernetes API emulator for the lab: enough API for kubectl and the official client.

It is not a real cluster. It serves Namespaces, Pods, Services, Deployments and
ReplicaSets over plain HTTP on loopback, runs every Pod as a real demo-service process on
an address of 127.1.0.0/16, proxies every Service from an address of 127.2.0.0/16, and
takes injected faults through ``/_emulator/faults``.

Start it from Python with :func:`start` (a child process, waited for on ``/healthz``) or
from a shell::

    python -m golive_lab.kube_emulator --port 6443 --state-dir lab/kube \\
        --sd-file lab/prometheus/pods.json --kubeconfig lab/kubeconfig

Fault injection (any HTTP client)::

    POST /_emulator/faults {"code": 503, "count": 5, "retry_after": 1}
    POST /_emulator/faults {"latency": 2.0}
    POST /_emulator/faults {"conflicts": 1}
    POST /_emulator/faults {"forbidden_namespaces": ["locked"]}
    DELETE /_emulator/faults
    GET /_emulator/pods      -> {"pods": [{"namespace", "pod", "ip", "port", "pid", "version", "ready", ...}]}
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EmulatorProcess", "start"]

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


@dataclass
class EmulatorProcess:
    """A running emulator child process."""

    popen: subprocess.Popen[bytes]
    url: str
    kubeconfig: Path
    sd_file: Path
    state_dir: Path
    log_file: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the admin API (``/_emulator/...``) and return its JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def inject(self, **settings: Any) -> Any:
        """Inject faults, e.g. ``inject(code=503, count=3, retry_after=1)``."""
        return self.admin("POST", "faults", settings)

    def clear_faults(self) -> Any:
        return self.admin("DELETE", "faults")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM the emulator by PID (it stops its pods), SIGKILL after ``timeout``."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=timeout)
        return int(self.popen.returncode)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start(
    *,
    port: int,
    state_dir: Path,
    sd_file: Path,
    kubeconfig: Path,
    host: str = "127.0.0.1",
    timeout: float = START_TIMEOUT_S,
    python: str = sys.executable,
) -> EmulatorProcess:
    """Start the emulator as a child process and wait until ``/healthz`` answers."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log_file = state_dir / "emulator.log"
    command = [
        python, "-m", "golive_lab.kube_emulator",
        "--port", str(port), "--host", host, "--state-dir", str(state_dir),
        "--sd-file", str(sd_file), "--kubeconfig", str(kubeconfig),
    ]  # fmt: skip
    with log_file.open("ab") as out:
        popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://{host}:{port}"
    handle = EmulatorProcess(popen, url, kubeconfig, sd_file, state_dir, log_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            tail = log_file.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"kube emulator exited with {popen.returncode}: {tail}")
        if _healthy(url):
            return handle
        time.sleep(0.1)
    handle.stop()
    raise TimeoutError(f"kube emulator did not answer {url}/healthz within {timeout:.0f} s")
