"""Lab orchestration: bring every part up, wait until it answers, take it all down.

What the lab records lives in :mod:`golive_lab.state`, what answers in :mod:`golive_lab.status`,
faults in :mod:`golive_lab.faults`, addresses and ports in :mod:`golive_lab.addresses`.

State lives in ``<labdir>/lab.json`` (see :class:`LabState`). Every process the lab
starts is recorded there with its PID and kernel start time, and ``down`` stops exactly
those. ``up`` on a running lab keeps what runs and starts only what is missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Literal

import httpx
import structlog

from golive_lab import addresses, envfiles, inbox, prefect_server, process, prometheus
from golive_lab import hosts as lab_hosts
from golive_lab.errors import LabError, MissingTool
from golive_lab.faults import FaultActions
from golive_lab.state import (
    HostState,
    KubeState,
    LabState,
    LabStatus,
    Proc,
    ServiceState,
    default_lab_dir,
    load_state,
)
from golive_lab.status import apps_pending, kube_ready, status_of

__all__ = [
    "Lab",
    "LabError",
    "LabState",
    "LabStatus",
    "MissingTool",
    "emulator_available",
    "load_state",
    "read_env",
]

log = structlog.get_logger(__name__)

DEFAULT_HOSTS = 10
PREFERRED_PORTS = {"prometheus": 9090, "kube": 6443, "prefect": 4200, "inbox": 8025}
EMULATOR_MODULE = "golive_lab.kube_emulator"


def read_env(lab_dir: Path | str | None = None) -> dict[str, str]:
    """The KEY=VALUE pairs of ``<labdir>/env`` (PREFECT_API_URL, KUBECONFIG, GOLIVE_LAB_DIR, ...)."""
    return envfiles.read_env(Path(lab_dir or default_lab_dir()))


def emulator_available() -> bool:
    try:
        return importlib.util.find_spec(f"{EMULATOR_MODULE}.__main__") is not None
    except ImportError:
        return False


# How long a restarted service waits for its old port (the stopped process's socket may linger).
SAME_PORT_WAIT_S = 15.0


def _port_for(service: ServiceState, name: str) -> int:
    """The port a stopped service starts on: the one it had (else the usual one) if free, else any free one.

    A service started again keeps its port when it can: runs, workers and tests hold its URL
    (a Prefect server restarted on another port would leave them talking to nothing). Its old
    port is ours (our own claim is dropped) and is waited for, bounded, before another is taken.
    """
    if service.port:
        addresses.release([service.port])
        deadline = time.monotonic() + SAME_PORT_WAIT_S
        while not addresses.bindable("127.0.0.1", service.port) and time.monotonic() < deadline:
            time.sleep(0.2)
    return addresses.pick_port(service.port or PREFERRED_PORTS[name])


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def _check_tools() -> None:
    """Refuse before anything starts when a program the lab runs is missing."""
    if not Path(lab_hosts.SSHD).exists():
        raise MissingTool(
            f"{lab_hosts.SSHD} is missing: the lab's hosts run it; install Debian's openssh-server "
            "(scripts/install-system.sh does)"
        )
    if shutil.which("unshare") is None:
        raise MissingTool("unshare is not on PATH: the lab's hosts need it; install util-linux")
    prometheus.find_binary()


class Lab(FaultActions):
    """One lab in one directory: up, down, and what answers."""

    # -- up ----------------------------------------------------------------------------
    def up(
        self,
        *,
        hosts: int | None = None,
        prefect: bool = True,
        traffic: bool = True,
        ip_base: int | Literal["free"] | None = None,
        timeout: float = 20.0,
        app_timeout: float = 60.0,
        prefect_timeout: float | None = 180.0,
    ) -> LabState:
        """Start whatever of the lab is not running; return once every part answers.

        Waited for, each bounded: sshd and the demo service on every host, Prometheus, the API
        emulator and the Prefect server (5-12 s to start). A part that does not answer raises
        :class:`LabError` naming its log; a missing program raises :class:`MissingTool` before
        anything starts. Hosts live at 127.0.0.(ip_base+i): ``None`` keeps the recorded lab's
        base, else 10; ``"free"`` takes the first base whose addresses are free, 10 first.
        ``prefect_timeout=None`` returns without waiting for the Prefect server (:meth:`wait_prefect`
        waits later), so that work not needing it starts while it starts.
        """
        _check_tools()
        self.dir.mkdir(parents=True, exist_ok=True)
        # Under the machine-wide lock until the hosts' addresses are bound: another lab starting
        # now would otherwise see them free (service ports are claimed as they are picked).
        with addresses.claim():
            state = self._plan(hosts=hosts, ip_base=ip_base)
            try:
                self._start_missing(state, prefect=prefect, traffic=traffic)
            finally:
                self.save(state)
            self._wait_ready(state, timeout=timeout)
        self._wait_apps(state, timeout=app_timeout)
        if prefect_timeout is not None:
            self._wait_prefect(state, timeout=prefect_timeout)
        addresses.release(
            [
                state.prometheus.port,
                state.kube.port,
                state.inbox.port,
                *([state.prefect.port] if prefect_timeout else []),
            ]
        )
        self._write_env(state)
        if prefect_timeout is not None:
            self._start_worker(state)
        self.save(state)
        log.info(
            "lab_up",
            dir=str(self.dir),
            hosts=len(state.hosts),
            addresses=f"{state.hosts[0].ip}..{state.hosts[-1].ip}",
            prometheus=state.prometheus.url,
            kube=state.kube.url,
            prefect=state.prefect.url,
            pids=len(state.pids()),
        )
        return state

    def _plan(self, *, hosts: int | None, ip_base: int | Literal["free"] | None) -> LabState:
        """The lab to run: the recorded one, or a new one on addresses nothing else holds."""
        state = self.load()
        count = hosts if hosts is not None else (len(state.hosts) if state else DEFAULT_HOSTS)
        running = state is not None and any(h.alive() for h in state.hosts)
        recorded = int(state.hosts[0].ip.rsplit(".", 1)[1]) - 1 if state and state.hosts else None
        if isinstance(ip_base, int):
            base = ip_base
        elif recorded is not None and (running or ip_base is None):
            base = recorded
        elif ip_base is None:
            base = addresses.DEFAULT_IP_BASE
        else:
            found = addresses.free_ip_base(count, prefer=recorded or addresses.DEFAULT_IP_BASE)
            if found is None:
                raise LabError(f"no {count} free loopback addresses in 127.0.0.11-254 (ports 2222 and 8080)")
            base = found
        specs = lab_hosts.plan_hosts(count, ip_base=base)
        if state is not None and [h.ip for h in state.hosts] != [s.ip for s in specs]:
            if running:
                raise LabError(
                    f"the lab in {self.dir} runs {len(state.hosts)} other hosts "
                    f"({state.hosts[0].ip}..{state.hosts[-1].ip}); run `golive lab down` first"
                )
            state = None
        if state is None:
            self._check_addresses_free(specs)
            state = LabState(
                dir=str(self.dir),
                hosts=[HostState(name=s.name, ip=s.ip, port=s.port, groups=list(s.groups)) for s in specs],
            )
        self._write_files(state, specs)
        return state

    @staticmethod
    def _check_addresses_free(specs: list[lab_hosts.HostSpec]) -> None:
        taken = addresses.taken_addresses(specs)
        if taken:
            free = addresses.free_ip_base(len(specs))
            hint = f"; or put this one on free addresses: --ip-base {free}" if free is not None else ""
            raise LabError(
                f"an SSH server already answers on {', '.join(taken)} port {specs[0].port} (or port "
                f"{lab_hosts.APP_PORT} is taken): another lab is running (golive lab down --dir <its dir>){hint}"
            )

    def _write_files(self, state: LabState, specs: list[lab_hosts.HostSpec]) -> None:
        if len(str(self.dir / "ansible" / "cp")) + 42 > 104:
            log.warning("lab_dir_long", dir=str(self.dir), reason="ssh control socket paths may be too long")
        key = lab_hosts.prepare_client_key(self.dir)
        known = [lab_hosts.prepare_host(self.dir, spec) for spec in specs]
        for spec in specs:
            lab_hosts.seed_release(self.dir, spec, "v1")
        state.known_hosts = str(lab_hosts.write_known_hosts(self.dir, known))
        state.ssh_key = str(key)
        state.inventory = str(lab_hosts.write_inventory(self.dir, specs))
        lab_hosts.write_ansible_cfg(self.dir)
        prometheus.write_config(self.dir)
        prometheus.write_host_targets(self.dir, specs)

    def _start_missing(self, state: LabState, *, prefect: bool, traffic: bool) -> None:
        prom = state.prometheus
        if not prom.alive():
            prom.port = _port_for(prom, "prometheus")
            prom.url = f"http://127.0.0.1:{prom.port}"
            prom.pid, prom.started = prometheus.start(self.dir, port=prom.port)
        # Prometheus and the emulator first: they take longest to become ready.
        self._start_kube(state.kube)
        for host in state.hosts:
            if not host.alive():
                host.pid, host.started = lab_hosts.start_host(self.dir, host.spec())
        if prefect and not state.prefect.alive():
            pre = state.prefect
            pre.port = _port_for(pre, "prefect")
            pre.url = prefect_server.api_url(pre.port)
            pre.pid, pre.started = prefect_server.start(self.dir, port=pre.port)
        if traffic and not state.traffic.alive():
            argv = [sys.executable, "-m", "golive_lab.traffic", "--sd-dir", str(prometheus.sd_dir(self.dir))]
            state.traffic.pid, state.traffic.started = process.spawn(argv, log_file=self.dir / "traffic.log")
        self._start_inbox(state.inbox)

    def _start_inbox(self, box: ServiceState) -> None:
        """The notification receiver; its URL goes to inbox.url, which the lab inventory's channel reads."""
        if box.alive():
            return
        box.port = _port_for(box, "inbox")
        box.url = f"http://127.0.0.1:{box.port}"
        out = inbox.messages_file(self.dir)
        argv = [sys.executable, "-m", "golive_lab.inbox", "--port", str(box.port), "--out", str(out)]
        box.pid, box.started = process.spawn(argv, log_file=self.dir / "inbox.log")
        (self.dir / inbox.URL_FILE).write_text(inbox.url_of(box.port) + "\n")

    def _start_kube(self, kube: KubeState) -> None:
        if kube.alive():
            return
        kube.kubeconfig = str(self.dir / "kubeconfig")
        if not emulator_available():
            kube.skipped = f"{EMULATOR_MODULE} is not installed"
            log.warning("kube_emulator_skipped", reason=kube.skipped)
            return
        kube.skipped = None
        kube.port = _port_for(kube, "kube")
        kube.url = f"http://127.0.0.1:{kube.port}"
        argv = [
            sys.executable,
            "-m",
            EMULATOR_MODULE,
            "--port",
            str(kube.port),
            "--state-dir",
            str(self.dir / "kube"),
            "--sd-file",
            str(prometheus.sd_dir(self.dir) / "pods.json"),
            "--kubeconfig",
            kube.kubeconfig,
        ]
        kube.pid, kube.started = process.spawn(argv, log_file=self.dir / "kube" / "emulator.log")
        log.info("kube_emulator_started", port=kube.port, pid=kube.pid)

    def _wait_ready(self, state: LabState, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        missing = lab_hosts.wait_ssh([h.spec() for h in state.hosts], timeout=timeout)
        if missing:
            raise LabError(
                f"sshd did not answer within {timeout:.0f}s on: {', '.join(missing)}; "
                f"see {self.dir}/hosts/<name>/host.log"
            )
        prom_url = state.prometheus.url or ""
        if not prometheus.wait_ready(prom_url, timeout=max(0.5, deadline - time.monotonic())):
            raise LabError(f"Prometheus did not become ready; see {self.dir}/prometheus/prometheus.log")
        kube = state.kube
        if kube.pid:
            while time.monotonic() < deadline:
                if kube_ready(kube):
                    break
                if not kube.alive():
                    raise LabError(f"the kube emulator exited; see {self.dir}/kube/emulator.log")
                time.sleep(0.05)
            else:
                raise LabError(f"the kube emulator did not answer; see {self.dir}/kube/emulator.log")
        box = state.inbox
        if box.pid:
            while not _answers(box.url or ""):
                if not box.alive():
                    raise LabError(f"the inbox exited; see {self.dir}/inbox.log")
                if time.monotonic() >= deadline:
                    raise LabError(f"the inbox did not answer; see {self.dir}/inbox.log")
                time.sleep(0.05)

    def _wait_prefect(self, state: LabState, *, timeout: float) -> None:
        pre = state.prefect
        if not pre.pid or not pre.url:
            return
        deadline = time.monotonic() + timeout
        while not prefect_server.is_healthy(pre.url, timeout=1.0):
            if not pre.alive():
                raise LabError(f"the Prefect server exited; see {self.dir}/prefect/server.log")
            if time.monotonic() >= deadline:
                raise LabError(
                    f"the Prefect server did not answer within {timeout:.0f}s; see {self.dir}/prefect/server.log"
                )
            time.sleep(0.2)

    def _wait_apps(self, state: LabState, *, timeout: float) -> None:
        # A host whose service was stopped on purpose (a fault) is not waited for.
        faulted = {fault.get("host") for fault in state.faults}
        missing = apps_pending([h for h in state.hosts if h.name not in faulted], timeout=timeout)
        if missing:
            raise LabError(
                f"the demo service did not answer /version within {timeout:.0f}s on: {', '.join(missing)}; "
                f"see {self.dir}/hosts/<name>/srv/demo/app.log"
            )

    def _write_env(self, state: LabState) -> None:
        env = {
            "GOLIVE_LAB_DIR": str(self.dir),
            "KUBECONFIG": str(self.dir / "kubeconfig"),
            "GOLIVE_PROMETHEUS_URL": state.prometheus.url or "",
            "GOLIVE_KUBE_URL": state.kube.url or "",
            "ANSIBLE_CONFIG": str(self.dir / "ansible.cfg"),
        }
        if state.prefect.pid and state.prefect.url and state.prefect.alive():
            env["PREFECT_API_URL"] = state.prefect.url
        state.env_file = str(envfiles.write_env(self.dir, env))
        settings = envfiles.golive_settings_file(self.dir)
        if settings is not None:
            envfiles.publish(settings, env)
            state.settings_file = str(settings)

    def status(self) -> LabStatus:
        """What runs and what answers, component by component."""
        return status_of(self.dir, self.load())

    def wait_apps(self, *, timeout: float = 30.0) -> list[str]:
        """Wait until every host's demo service answers /version; return the hosts that did not."""
        return apps_pending(self.require().hosts, timeout=timeout)

    def wait_prefect(self, *, timeout: float = 40.0) -> bool:
        """Wait until the lab's Prefect server answers /api/health (then its worker is started)."""
        state = self.require()
        healthy = bool(state.prefect.url) and prefect_server.wait_healthy(state.prefect.url or "", timeout=timeout)
        if healthy and not state.worker.alive():
            self._write_env(state)  # PREFECT_API_URL, now that the server answers
            self._start_worker(state)
            self.save(state)
        return healthy

    def _start_worker(self, state: LabState) -> None:
        """The Prefect worker of the lab's work pool, once the server answers: scheduled runs need it."""
        pre = state.prefect
        if state.worker.alive() or not pre.url or not pre.alive():
            return
        env = envfiles.read_env(self.dir)
        state.worker.pid, state.worker.started = prefect_server.start_worker(
            self.dir, api_url=pre.url, env=env, cwd=Path.cwd()
        )

    # -- down --------------------------------------------------------------------------
    def down(self) -> list[int]:
        """Stop every recorded process; return the PIDs still alive afterwards (empty on success)."""
        state = self.load()
        if state is None:
            return []
        procs: list[Proc] = [
            state.worker,
            state.traffic,
            state.inbox,
            state.kube,
            state.prefect,
            state.prometheus,
            *state.hosts,
        ]
        (self.dir / inbox.URL_FILE).unlink(missing_ok=True)
        with contextlib.suppress(httpx.HTTPError):
            if state.kube.url and state.kube.alive():
                # Faults left behind would slow the emulator's own shutdown requests.
                httpx.delete(f"{state.kube.url}/_emulator/faults", timeout=1.0)
        # Signal all first and wait after: stopping one by one would add the waits up.
        for proc in procs:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid or 0, signal.SIGTERM)
        left = [proc.pid for proc in procs if proc.pid and not process.stop(proc.pid, proc.started)]
        if left:
            log.error("lab_down_incomplete", pids=left)
            return left
        if state.settings_file:
            envfiles.withdraw(Path(state.settings_file), self.dir)
        self.state_path.unlink(missing_ok=True)
        log.info("lab_down", dir=str(self.dir), stopped=len(procs))
        return []
