"""Whether each part of a lab runs and answers."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx

from golive_lab import hosts as lab_hosts
from golive_lab import prefect_server, prometheus
from golive_lab.state import ComponentStatus, HostState, KubeState, LabState, LabStatus


def http_ok(url: str, *, timeout: float = 0.5) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code < 400
    except httpx.HTTPError:
        return False


def kube_ready(kube: KubeState) -> bool:
    if not kube.url:
        return False
    return http_ok(f"{kube.url}/healthz") or http_ok(f"{kube.url}/version")


def apps_pending(hosts: list[HostState], *, timeout: float) -> list[str]:
    """Wait until each host's demo service answers /version; return the names that did not in ``timeout``."""
    pending = {h.name: h.ip for h in hosts}
    deadline = time.monotonic() + timeout
    while pending:
        for name, ip in list(pending.items()):
            if http_ok(f"http://{ip}:{lab_hosts.APP_PORT}/version", timeout=0.5):
                del pending[name]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return sorted(pending)


def status_of(lab_dir: Path, state: LabState | None) -> LabStatus:
    """What runs and what answers, component by component."""
    if state is None:
        return LabStatus(dir=str(lab_dir), up=False, components=[])
    comps: list[ComponentStatus] = []
    for host in state.hosts:
        running = host.alive()
        sshd = running and lab_hosts.ssh_answers(host.ip, host.port, timeout=0.3)
        app = running and http_ok(f"http://{host.ip}:{lab_hosts.APP_PORT}/version", timeout=0.5)
        version = ""
        if app:
            with contextlib.suppress(httpx.HTTPError):
                version = httpx.get(f"http://{host.ip}:{lab_hosts.APP_PORT}/version", timeout=0.5).text.strip()
        detail = f"sshd {'up' if sshd else 'down'}, app {version or 'down'}"
        comps.append(
            ComponentStatus(
                name=host.name,
                kind="host",
                pid=host.pid,
                running=running,
                ready=sshd,
                url=f"ssh://root@{host.ip}:{host.port}",
                detail=detail,
            )
        )
    prom = state.prometheus
    comps.append(
        ComponentStatus(
            name="prometheus",
            kind="prometheus",
            pid=prom.pid,
            running=prom.alive(),
            ready=bool(prom.url) and prometheus.is_ready(prom.url or ""),
            url=prom.url,
        )
    )
    kube = state.kube
    comps.append(
        ComponentStatus(
            name="kube-api",
            kind="kube",
            pid=kube.pid,
            running=kube.alive(),
            ready=kube_ready(kube),
            url=kube.url,
            detail=kube.skipped or "emulator, not a real cluster",
        )
    )
    pre = state.prefect
    if pre.pid:
        running = pre.alive()
        healthy = running and prefect_server.is_healthy(pre.url or "")
        comps.append(
            ComponentStatus(
                name="prefect",
                kind="prefect",
                pid=pre.pid,
                running=running,
                ready=healthy,
                url=pre.url,
                detail="" if healthy or not running else "starting (5-12 s)",
            )
        )
    if state.traffic.pid:
        running = state.traffic.alive()
        comps.append(
            ComponentStatus(name="traffic", kind="traffic", pid=state.traffic.pid, running=running, ready=running)
        )
    if state.worker.pid:
        running = state.worker.alive()
        comps.append(
            ComponentStatus(
                name="worker",
                kind="prefect-worker",
                pid=state.worker.pid,
                running=running,
                ready=running,
                detail="work pool golive (golive schedule)",
            )
        )
    box = state.inbox
    if box.pid:
        running = box.alive()
        comps.append(
            ComponentStatus(
                name="inbox",
                kind="inbox",
                pid=box.pid,
                running=running,
                ready=running,
                url=box.url,
                detail="notifications: golive lab inbox",
            )
        )
    return LabStatus(dir=str(lab_dir), up=any(c.running for c in comps), components=comps, faults=state.faults)
