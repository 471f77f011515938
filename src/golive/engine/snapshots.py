"""State snapshots: what a runbook touches, captured before a drill and after its rollback, and diffed.

Kubernetes is captured without being asked: every Deployment and Service a ``k8s:`` step
names (images, replicas, selector), and the siblings golive creates during releases
(``-canary``, ``-green``), which should not exist after a rollback unless they did before.
Hosts are captured by the runbook's ``snapshot:`` probes: a command's stdout, an HTTP body or
a file's sha256, per host. Every call is read-only; a host or object that cannot be read is
captured as ``<unreadable: why>``, so a difference shows rather than an exception.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from golive.runbook.models import K8sStep
from golive.runbook.render import render

if TYPE_CHECKING:
    from golive.context import RunContext

__all__ = ["Snapshot", "SnapshotDiff", "capture", "diff"]

HTTP_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 20.0
SIBLINGS = ("-canary", "-green")


@dataclass(frozen=True)
class SnapshotDiff:
    subject: str  # "app-3" or "Deployment demo/demo-api"
    what: str  # "/version", "image", "replicas", "exists"
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.what} {self.before} → {self.after} (not restored)"


@dataclass(frozen=True)
class Snapshot:
    """subject -> what -> value (strings)."""

    values: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"values": self.values}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(values={str(k): {str(w): str(v) for w, v in d.items()} for k, d in data["values"].items()})


def diff(before: Snapshot, after: Snapshot) -> list[SnapshotDiff]:
    out = []
    for subject in sorted(set(before.values) | set(after.values)):
        a, b = before.values.get(subject, {}), after.values.get(subject, {})
        for what in sorted(set(a) | set(b)):
            old, new = a.get(what, "<absent>"), b.get(what, "<absent>")
            if old != new:
                out.append(SnapshotDiff(subject, what, _short(old), _short(new)))
    return out


def _short(text: str, limit: int = 80) -> str:
    text = text.strip().replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def capture(ctx: RunContext) -> Snapshot:
    values: dict[str, dict[str, str]] = {}
    _k8s(ctx, values)
    _hosts(ctx, values)
    return Snapshot(values=values)


# ------------------------------------------------------------------ Kubernetes


def _k8s(ctx: RunContext, values: dict[str, dict[str, str]]) -> None:
    steps = [s for s in ctx.loaded.runbook.steps if isinstance(s, K8sStep)]
    if not steps or ctx.inventory is None:
        return
    from golive.drivers.k8s.api import KubeApi

    api = KubeApi(inventory=ctx.inventory, attempts=2)
    for step in steps:
        a = step.k8s
        try:
            cluster = api.cluster(a.context)
        except Exception as exc:
            values[f"cluster {a.context or 'default'}"] = {"readable": f"<unreadable: {exc}>"}
            continue
        if a.deployment:
            for suffix in ("", *SIBLINGS):
                name = a.deployment + suffix
                values[f"Deployment {a.namespace}/{name}"] = _deployment(cluster, a.namespace, name, sibling=suffix)
        if a.service:
            values[f"Service {a.namespace}/{a.service}"] = _service(cluster, a.namespace, a.service)


def _deployment(cluster: Any, namespace: str, name: str, *, sibling: str) -> dict[str, str]:
    from kubernetes.client.exceptions import ApiException

    try:
        d = cluster.apps.read_namespaced_deployment(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return {"exists": "no"}
        return {"exists": f"<unreadable: {exc.status} {exc.reason}>"}
    except Exception as exc:
        return {"exists": f"<unreadable: {exc}>"}
    spec = d.spec
    out = {"exists": "yes", "replicas": str(spec.replicas)}
    for c in spec.template.spec.containers or []:
        out[f"image {c.name}"] = str(c.image)
    if not sibling:
        labels = spec.selector.match_labels or {}
        out["selector"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return out


def _service(cluster: Any, namespace: str, name: str) -> dict[str, str]:
    from kubernetes.client.exceptions import ApiException

    try:
        s = cluster.core.read_namespaced_service(name, namespace)
    except ApiException as exc:
        return {"exists": "no"} if exc.status == 404 else {"exists": f"<unreadable: {exc.status}>"}
    except Exception as exc:
        return {"exists": f"<unreadable: {exc}>"}
    selector = s.spec.selector or {}
    return {"exists": "yes", "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))}


# ------------------------------------------------------------------ hosts


def _hosts(ctx: RunContext, values: dict[str, dict[str, str]]) -> None:
    probes = ctx.loaded.runbook.snapshot
    if not probes or ctx.inventory is None:
        return
    inv = ctx.inventory
    base = {"params": ctx.plan().params, "previous": ctx.plan().previous, "env": ctx.env}
    for probe in probes:
        hosts = inv.match(probe.hosts)
        if probe.source == "http":
            for host in hosts:
                url = render(str(probe.http), {**base, "host": inv.connection(host).address, "host_name": host})
                values.setdefault(host, {})[probe.label] = _get(url)
            continue
        command = probe.command or f"sha256sum {shlex.quote(str(probe.file))} | cut -d' ' -f1"
        for host, text in _run(inv, hosts, render(command, base)).items():
            values.setdefault(host, {})[probe.label] = text


def _get(url: str) -> str:
    try:
        resp = httpx.get(url, timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"<unreadable: {type(exc).__name__}>"
    body = resp.text.strip()
    return body if resp.status_code == 200 else f"<HTTP {resp.status_code}> {body[:60]}"


def _run(inv: Any, hosts: list[str], command: str) -> dict[str, str]:
    from golive.drivers.ssh.commands import run_commands
    from golive.errors import TransientError

    try:
        result = run_commands(
            connections=[inv.connection(h) for h in hosts],
            commands=[command],
            timeout=COMMAND_TIMEOUT_S,
            max_output=65536,
            attempts=1,
        )
    except TransientError as exc:
        return {h: f"<unreadable: {exc}>" for h in hosts}
    out = {}
    for h in hosts:
        r = result.results.get(h)
        if r is None:
            out[h] = "<unreadable: no result>"
        elif r.unreachable:
            out[h] = f"<unreadable: {r.message or 'unreachable'}>"
        elif not r.ok:
            out[h] = f"<rc {r.rc}> {r.output.strip()[:60]}"
        else:
            out[h] = r.output.strip()
    return out
