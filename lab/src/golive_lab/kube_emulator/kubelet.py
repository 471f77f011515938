"""Runs each Pod as a real demo-service process on its own loopback address.

A Pod is Ready while its ``/health`` answers 200 within :data:`PROBE_TIMEOUT_S`; the
``-bad`` demo versions answer too slowly and never become Ready. A process that exits is
started again and counted in ``restartCount``. Running pods are published to a Prometheus
``file_sd`` file so Prometheus scrapes them as they come and go.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from .ippool import IpPool
from .resources import BY_KIND
from .store import Obj, Store, now_rfc3339

log = structlog.get_logger(__name__)

POD_PORT = 8080
PROBE_TIMEOUT_S = 1.0
FAILURE_THRESHOLD = 3
PROBE_INTERVAL_S = 0.5
STOP_GRACE_S = 2.0
RESTART_BACKOFF_S = 1.0
_PR_SET_PDEATHSIG = 1
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not on Linux
    _LIBC = None


def _die_with_parent() -> None:
    """Ask the kernel to stop a pod when the emulator dies without cleaning up."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def image_version(image: str) -> str:
    """The demo version an image stands for: ``registry.local/demo:v2`` -> ``v2``."""
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


@dataclass
class PodProcess:
    namespace: str
    name: str
    uid: str
    ip: str
    port: int
    version: str
    app: str
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    started_at: str = ""
    restarts: int = 0
    ready: bool = False
    probing: bool = False
    probe_failures: int = 0
    last_probe: float = 0.0
    exited_at: float | None = None
    last_exit_code: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class Kubelet:
    """Keeps one process per Pod object and reports readiness back into the Pod status."""

    def __init__(
        self,
        *,
        store: Store,
        pod_ips: IpPool,
        sd_file: Path | None,
        log_dir: Path,
        shutdown: threading.Event,
    ) -> None:
        self.store = store
        self.pod_ips = pod_ips
        self.sd_file = sd_file
        self.log_dir = log_dir
        self.shutdown = shutdown
        self.pods: dict[str, PodProcess] = {}
        self._lock = threading.Lock()
        self._probes = ThreadPoolExecutor(max_workers=16, thread_name_prefix="probe")
        self._sd_written: str | None = None
        self.wake = threading.Event()

    # -- loop --------------------------------------------------------------------------
    def run(self, tick: float = 0.25) -> None:
        """Sync until shutdown; each pass is bounded by the number of pods."""
        while not self.shutdown.is_set():
            try:
                self.sync()
                self._schedule_probes()
            except Exception:
                log.exception("kubelet_sync_failed")
            self.wake.wait(tick)
            self.wake.clear()
        self.stop_all()
        self._probes.shutdown(wait=False, cancel_futures=True)

    def sync(self) -> None:
        pods, _ = self.store.list(BY_KIND["Pod"])
        wanted = {pod["metadata"]["uid"]: pod for pod in pods}
        for uid in [uid for uid in self.pods if uid not in wanted]:
            self._stop(self.pods.pop(uid))
        for uid, pod in wanted.items():
            proc = self.pods.get(uid)
            if proc is None:
                proc = self._start(pod)
                if proc is None:
                    continue
                self.pods[uid] = proc
            elif not proc.running():
                self._handle_exit(proc)
            self._report(proc, pod)
        self._write_sd()

    def _start(self, pod: Obj) -> PodProcess | None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        containers = spec.get("containers") or [{}]
        image = str(containers[0].get("image") or "")
        ports = containers[0].get("ports") or []
        port = int(ports[0].get("containerPort", POD_PORT)) if ports else POD_PORT
        ip = self.pod_ips.allocate(ports=[port])
        proc = PodProcess(
            namespace=meta.get("namespace", ""),
            name=meta["name"],
            uid=meta["uid"],
            ip=ip,
            port=port,
            version=image_version(image),
            app=str((meta.get("labels") or {}).get("app", "")),
            log_path=self.log_dir / f"{meta.get('namespace', '')}_{meta['name']}.log",
        )
        self._spawn(proc)
        return proc

    def _spawn(self, proc: PodProcess) -> None:
        command = [
            sys.executable, "-m", "golive_lab.demo_app",
            "--bind", proc.ip, "--port", str(proc.port),
            "--version", proc.version, "--name", proc.name,
        ]  # fmt: skip
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with proc.log_path.open("ab") as out:
            proc.popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        proc.started_at = now_rfc3339()
        proc.ready = False
        proc.exited_at = None
        log.info("pod_started", namespace=proc.namespace, pod=proc.name, ip=proc.ip, pid=proc.pid, version=proc.version)

    def _handle_exit(self, proc: PodProcess) -> None:
        now = time.monotonic()
        if proc.exited_at is None:
            proc.exited_at = now
            proc.ready = False
            proc.last_exit_code = proc.popen.returncode if proc.popen is not None else None
            log.warning("pod_exited", namespace=proc.namespace, pod=proc.name, code=proc.last_exit_code)
        if now - proc.exited_at >= RESTART_BACKOFF_S * min(2**proc.restarts, 16):
            proc.restarts += 1
            self._spawn(proc)

    def _stop(self, proc: PodProcess) -> None:
        popen = proc.popen
        if popen is not None and popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=STOP_GRACE_S)
        self.pod_ips.release(proc.ip)
        log.info("pod_stopped", namespace=proc.namespace, pod=proc.name, pid=proc.pid)

    def stop_all(self) -> None:
        """Stop every pod process this kubelet started, by PID."""
        procs = list(self.pods.values())
        self.pods.clear()
        for proc in procs:
            if proc.popen is not None and proc.popen.poll() is None:
                proc.popen.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in procs:
            if proc.popen is None:
                continue
            try:
                proc.popen.wait(timeout=max(deadline - time.monotonic(), 0.05))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.popen.wait(timeout=STOP_GRACE_S)
            self.pod_ips.release(proc.ip)
        self._write_sd(force_empty=True)

    # -- probes ------------------------------------------------------------------------
    def _schedule_probes(self) -> None:
        now = time.monotonic()
        for proc in list(self.pods.values()):
            if proc.probing or now - proc.last_probe < PROBE_INTERVAL_S or not proc.running():
                continue
            proc.probing = True
            proc.last_probe = now
            self._probes.submit(self._probe, proc)

    def _probe(self, proc: PodProcess) -> None:
        ready = False
        try:
            conn = http.client.HTTPConnection(proc.ip, proc.port, timeout=PROBE_TIMEOUT_S)
            try:
                conn.request("GET", "/health")
                ready = conn.getresponse().status == 200
            finally:
                conn.close()
        except OSError:
            ready = False
        finally:
            proc.probing = False
        # Like a readinessProbe's failureThreshold (3 by default): one slow answer on a busy
        # machine does not take a ready pod out of its Service.
        proc.probe_failures = 0 if ready else proc.probe_failures + 1
        if proc.ready and not ready and proc.probe_failures < FAILURE_THRESHOLD:
            return
        if ready != proc.ready:
            proc.ready = ready
            log.info("pod_readiness_changed", namespace=proc.namespace, pod=proc.name, ready=ready)
            self.wake.set()

    # -- status ------------------------------------------------------------------------
    def _report(self, proc: PodProcess, pod: Obj) -> None:
        ready = proc.ready and proc.running()
        containers = (pod.get("spec") or {}).get("containers") or []
        state: dict[str, Any]
        if proc.running():
            state = {"running": {"startedAt": proc.started_at}}
        else:
            state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}}
        statuses = [
            {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": "",
                "containerID": f"emulator://{proc.pid}",
                "ready": ready,
                "started": proc.running(),
                "restartCount": proc.restarts,
                "state": state,
                **(
                    {"lastState": {"terminated": {"exitCode": proc.last_exit_code or 0, "reason": "Error"}}}
                    if proc.restarts
                    else {}
                ),
            }
            for c in containers
        ]
        flag = "True" if ready else "False"

        def change(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            previous = {c.get("type"): c for c in status.get("conditions") or []}

            def condition(kind: str, value: str) -> dict[str, Any]:
                old = previous.get(kind)
                since = old["lastTransitionTime"] if old and old.get("status") == value else now_rfc3339()
                return {"type": kind, "status": value, "lastProbeTime": None, "lastTransitionTime": since}

            obj.setdefault("spec", {})["nodeName"] = "emulator"
            status.update(
                {
                    "phase": "Running",
                    "podIP": proc.ip,
                    "podIPs": [{"ip": proc.ip}],
                    "hostIP": "127.0.0.1",
                    "startTime": status.get("startTime") or proc.started_at,
                    "containerStatuses": statuses,
                    "conditions": [
                        condition("Initialized", "True"),
                        condition("Ready", flag),
                        condition("ContainersReady", flag),
                        condition("PodScheduled", "True"),
                    ],
                }
            )

        self.store.mutate(BY_KIND["Pod"], proc.namespace, proc.name, change)

    def _write_sd(self, *, force_empty: bool = False) -> None:
        if self.sd_file is None:
            return
        groups = (
            []
            if force_empty
            else [
                {
                    "targets": [f"{proc.ip}:{proc.port}"],
                    "labels": {
                        "namespace": proc.namespace,
                        "pod": proc.name,
                        "deployment": proc.app,
                        "version": proc.version,
                    },
                }
                for proc in sorted(self.pods.values(), key=lambda p: (p.namespace, p.name))
                if proc.running()
            ]
        )
        text = json.dumps(groups, indent=1)
        if text == self._sd_written:
            return
        self.sd_file.parent.mkdir(parents=True, exist_ok=True)
        temp = self.sd_file.with_name(f".{self.sd_file.name}.tmp")
        temp.write_text(text)
        temp.replace(self.sd_file)
        self._sd_written = text

    def describe(self) -> list[dict[str, Any]]:
        """Pod processes for the admin API (lab status, debugging)."""
        return [
            {
                "namespace": proc.namespace,
                "pod": proc.name,
                "ip": proc.ip,
                "port": proc.port,
                "pid": proc.pid,
                "version": proc.version,
                "ready": proc.ready,
                "running": proc.running(),
                "restarts": proc.restarts,
            }
            for proc in list(self.pods.values())
        ]
