"""Faults a lab injects on purpose: hosts down, sshd stopped, partitions, the demo service killed, API errors."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import httpx
import structlog

from golive_lab import hosts as lab_hosts
from golive_lab import process
from golive_lab.errors import LabError
from golive_lab.state import LabDir, LabState

log = structlog.get_logger(__name__)

# Services a fault may stop (their state fields in LabState); the kube emulator has API faults instead.
SERVICES = ("prometheus", "prefect")


class FaultActions(LabDir):
    """Break a running lab on purpose, and mend it; every fault is recorded in ``lab.json``."""

    def _record(self, state: LabState, fault: dict[str, object]) -> None:
        state.faults.append(fault)
        self.save(state)
        log.info("fault_injected", **{str(k): v for k, v in fault.items()})

    def host_down(self, name: str) -> None:
        """Take a host off: its sshd and every process in it end, as when a machine dies."""
        state = self.require()
        host = state.host(name)
        if not process.stop(host.pid, host.started):
            raise LabError(f"host {name} (pid {host.pid}) did not stop")
        host.pid = host.started = None
        self._record(state, {"fault": "host-down", "host": name})

    def host_up(self, name: str, *, timeout: float = 10.0) -> None:
        """Bring a host back: boot it if it is down, start sshd if only sshd was stopped."""
        self.heal(name)
        state = self.require()
        host = state.host(name)
        if host.alive():
            lab_hosts.signal_init(host.pid or 0, signal.SIGUSR1)
        else:
            host.pid, host.started = lab_hosts.start_host(self.dir, host.spec())
        state.faults = [f for f in state.faults if f.get("host") != name]
        self.save(state)
        if lab_hosts.wait_ssh([host.spec()], timeout=timeout):
            raise LabError(f"sshd on {name} did not answer within {timeout:.0f}s")
        log.info("host_up", host=name, pid=host.pid)

    def partition(self, name: str) -> list[int]:
        """Cut a host off so that packets vanish: every process in it is stopped (SIGSTOP).

        The kernel still completes TCP handshakes on its addresses, but nothing answers:
        clients hang until their own timeouts, as behind a dead link, instead of being refused.
        Returns the PIDs stopped; ``heal`` (or ``host_up``, ``clear``) continues them.
        """
        state = self.require()
        host = state.host(name)
        if not host.alive():
            raise LabError(f"host {name} is not running")
        stopped = _descendants(host.pid or 0)
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        self._record(state, {"fault": "partition", "host": name, "pids": stopped})
        return stopped

    def heal(self, name: str) -> None:
        """End a partition: the host's processes go on where they stopped (SIGCONT)."""
        state = self.require()
        host = state.host(name)
        if host.alive():
            for pid in _descendants(host.pid or 0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        state.faults = [f for f in state.faults if not (f.get("fault") == "partition" and f.get("host") == name)]
        self.save(state)

    def sshd_stop(self, name: str) -> None:
        """Stop only the host's sshd; its services keep running."""
        state = self.require()
        host = state.host(name)
        if not host.alive() or not lab_hosts.signal_init(host.pid or 0, signal.SIGUSR2):
            raise LabError(f"host {name} is not running")
        deadline = time.monotonic() + 5.0
        while lab_hosts.ssh_answers(host.ip, host.port, timeout=0.2) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._record(state, {"fault": "sshd-stop", "host": name})

    def app_crash(self, name: str) -> int:
        """Kill the host's demo service with SIGKILL; return the PID that was killed."""
        state = self.require()
        host = state.host(name)
        pid = lab_hosts.app_pid(self.dir, name, host.pid or 0) if host.alive() else None
        if pid is None:
            raise LabError(f"no demo service runs on {name}")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while process.is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        self._record(state, {"fault": "app-crash", "host": name, "pid": pid})
        return pid

    def service_down(self, name: str) -> None:
        """Stop one of the lab's services (``prometheus`` or ``prefect``); ``golive lab up`` starts it again."""
        if name not in SERVICES:
            raise LabError(f"no lab service {name!r}: one of {', '.join(SERVICES)}")
        state = self.require()
        svc = getattr(state, name)
        if not process.stop(svc.pid, svc.started):
            raise LabError(f"{name} (pid {svc.pid}) did not stop")
        svc.pid = svc.started = None
        self._record(state, {"fault": "service-down", "service": name})

    def _kube_admin(self, method: str, body: dict[str, object] | None = None) -> None:
        state = self.require()
        if not state.kube.url or not state.kube.alive():
            raise LabError("the kube emulator is not running")
        resp = httpx.request(method, f"{state.kube.url}/_emulator/faults", json=body, timeout=5.0)
        if resp.status_code >= 400:
            raise LabError(f"emulator refused the fault: {resp.status_code} {resp.text.strip()}")

    def api_errors(self, *, code: int = 503, count: int = 5, retry_after: float | None = 1.0) -> None:
        """Make the Kubernetes API answer the next ``count`` requests with ``code``."""
        body: dict[str, object] = {"code": code, "count": count}
        if retry_after is not None:
            body["retry_after"] = retry_after
        self._kube_admin("POST", body)
        self._record(self.require(), {"fault": "api-errors", **body})

    def api_latency(self, seconds: float) -> None:
        """Delay every Kubernetes API answer by ``seconds``."""
        self._kube_admin("POST", {"latency": seconds})
        self._record(self.require(), {"fault": "api-latency", "latency": seconds})

    def api_conflicts(self, count: int) -> None:
        """Make the next ``count`` writes to the Kubernetes API fail with 409 Conflict."""
        self._kube_admin("POST", {"conflicts": count})
        self._record(self.require(), {"fault": "api-conflicts", "conflicts": count})

    def clear(self) -> None:
        """Undo every fault: API faults cleared, hosts and sshd back, crashed services restarted."""
        state = self.require()
        if state.kube.url and state.kube.alive():
            self._kube_admin("DELETE")
        for host in state.hosts:
            if host.alive():
                for pid in _descendants(host.pid or 0):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
            if not host.alive():
                host.pid, host.started = lab_hosts.start_host(self.dir, host.spec())
            else:
                lab_hosts.signal_init(host.pid or 0, signal.SIGUSR1)
                if lab_hosts.app_pid(self.dir, host.name, host.pid or 0) is None:
                    lab_hosts.signal_init(host.pid or 0, signal.SIGHUP)
        state.faults = []
        self.save(state)
        missing = lab_hosts.wait_ssh([h.spec() for h in state.hosts], timeout=10.0)
        if missing:
            raise LabError(f"sshd did not come back on: {', '.join(missing)}")
        log.info("faults_cleared", dir=str(self.dir))


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, parents before children."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        if process.is_alive(current):
            found.append(current)
            todo += process.children(current)
    return found
