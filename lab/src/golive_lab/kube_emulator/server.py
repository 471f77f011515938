"""The emulator process: API server, controllers, kubelet and service proxies together."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import structlog
import yaml

from .api import ApiContext, make_handler
from .controller import Controller
from .faults import Faults
from .ippool import POD_NETWORK, SERVICE_NETWORK, IpPool
from .kubelet import Kubelet
from .proxy import ListeningServer, ServiceProxies
from .resources import BY_KIND
from .store import Store

log = structlog.get_logger(__name__)

CONTEXTS = ("lab", "staging", "prod")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public")
STATE_WRITE_INTERVAL_S = 1.0
JOIN_TIMEOUT_S = 5.0


def kubeconfig_document(server: str) -> dict[str, Any]:
    """A kubeconfig whose contexts ``lab``, ``staging`` and ``prod`` all point at ``server``."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": "golive-lab", "cluster": {"server": server}}],
        "users": [{"name": "lab-user", "user": {"token": "golive-lab-token"}}],
        "contexts": [
            {"name": name, "context": {"cluster": "golive-lab", "user": "lab-user", "namespace": "default"}}
            for name in CONTEXTS
        ],
        "current-context": "lab",
    }


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    temp.replace(path)


class Emulator:
    """Owns every thread and child process of one emulator instance."""

    def __init__(
        self,
        *,
        port: int,
        state_dir: Path,
        sd_file: Path | None,
        kubeconfig: Path | None,
        host: str = "127.0.0.1",
    ) -> None:
        self.state_dir = state_dir
        self.kubeconfig = kubeconfig
        self.shutdown = threading.Event()
        self.store = Store()
        self.faults = Faults()
        self.cluster_ips = IpPool(SERVICE_NETWORK)
        self.pod_ips = IpPool(POD_NETWORK)
        self.kubelet = Kubelet(
            store=self.store,
            pod_ips=self.pod_ips,
            sd_file=sd_file,
            log_dir=state_dir / "pods",
            shutdown=self.shutdown,
        )
        self.proxies = ServiceProxies(store=self.store)
        self.controller = Controller(store=self.store, shutdown=self.shutdown, extra_sync=self._after_tick)
        self.store.add_listener(self.controller.wake.set)
        self.store.add_listener(self.kubelet.wake.set)
        self.context = ApiContext(
            store=self.store,
            faults=self.faults,
            cluster_ips=self.cluster_ips,
            shutdown=self.shutdown,
            server_address=f"{host}:{port}",
            admin_pods=self.kubelet.describe,
        )
        self.httpd = ListeningServer((host, port), make_handler(self.context))
        self.host, self.port = host, int(self.httpd.server_address[1])
        self.context.server_address = f"{self.host}:{self.port}"
        self.url = f"http://{self.host}:{self.port}"
        self._threads: list[threading.Thread] = []
        self._stop_requested = threading.Event()
        self._state_written_rv = -1
        self._state_written_at = 0.0

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for name in INITIAL_NAMESPACES:
            self.store.create(
                BY_KIND["Namespace"],
                {"metadata": {"name": name}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}},
            )
        if self.kubeconfig is not None:
            write_atomically(self.kubeconfig, yaml.safe_dump(kubeconfig_document(self.url), sort_keys=False))
        write_atomically(
            self.state_dir / "emulator.json",
            json.dumps({"url": self.url, "pid": os.getpid(), "port": self.port}) + "\n",
        )
        targets = {
            "controller": self.controller.run,
            "kubelet": self.kubelet.run,
            "api": lambda: self.httpd.serve_forever(poll_interval=0.2),
        }
        for name, target in targets.items():
            thread = threading.Thread(target=target, name=f"emulator-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("kube_emulator_started", url=self.url, pid=os.getpid(), state_dir=str(self.state_dir))

    def _after_tick(self) -> None:
        self.proxies.sync()
        rv = self.store.resource_version
        now = time.monotonic()
        if rv != self._state_written_rv and now - self._state_written_at >= STATE_WRITE_INTERVAL_S:
            write_atomically(self.state_dir / "state.json", json.dumps(self.store.snapshot(), indent=1))
            self._state_written_rv, self._state_written_at = rv, now

    def stop(self) -> None:
        """Stop serving, stop every pod process by PID, close every proxy."""
        if self.shutdown.is_set():
            return
        log.info("kube_emulator_stopping", pods=len(self.kubelet.pods))
        self.shutdown.set()
        self.controller.wake.set()
        self.kubelet.wake.set()
        self.httpd.shutdown()
        for thread in self._threads:
            thread.join(timeout=JOIN_TIMEOUT_S)
        # The kubelet stops its pods when its loop ends; this catches a loop that hung.
        self.kubelet.stop_all()
        self.proxies.stop_all()
        with contextlib.suppress(OSError):
            self.httpd.server_close()
        log.info("kube_emulator_stopped")

    def request_stop(self) -> None:
        """Ask :meth:`wait` to return; safe to call from a signal handler."""
        self._stop_requested.set()

    def wait(self) -> None:
        """Block until :meth:`request_stop` or :meth:`stop` is called."""
        while not self._stop_requested.wait(1.0) and not self.shutdown.is_set():
            pass
