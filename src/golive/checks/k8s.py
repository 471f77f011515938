"""Kubernetes probe: is a Deployment available, and have its pods restarted more than allowed?

It reads through the official client's APIs that the engine hands it per kube context
(``ProbeDeps.kube``), each call through the same retries as the Kubernetes driver's
(429, 5xx, no connection: bounded, honouring Retry-After); a Deployment that is not there
FAILs; any other refusal is INCONCLUSIVE, with the server's message.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from golive.checks.base import Outcome, Verdict
from golive.checks.deps import KubeApis, ProbeDeps
from golive.errors import DriverError, NotFoundError
from golive.runbook.limits import k8s_limit
from golive.runbook.models import K8sCheck, K8sCheckSpec
from golive.runbook.render import HostRef

if TYPE_CHECKING:
    from kubernetes.client import V1Deployment

__all__ = ["measure_deployment", "probe_k8s_check"]


def _available(dep: V1Deployment) -> tuple[bool, str]:
    status, spec = dep.status, dep.spec
    want = spec.replicas if spec is not None and spec.replicas is not None else 1
    available = (status.available_replicas if status is not None else None) or 0
    conditions = (status.conditions if status is not None else None) or []
    cond = next((c for c in conditions if c.type == "Available"), None)
    return (cond is not None and cond.status == "True" and available == want), f"{available}/{want} available"


def measure_deployment(spec: K8sCheckSpec, kube: KubeApis) -> Verdict:
    """One blocking measurement of the Deployment ``spec`` names."""
    target = f"deployment/{spec.deployment} in {spec.namespace}"
    limit = k8s_limit(available=spec.available, max_restarts=spec.max_restarts)

    def verdict(outcome: Outcome, observed: str) -> Verdict:
        return Verdict(outcome, "k8s", target, observed=observed, limit=limit)

    try:
        apps, core = kube.clients(spec.context)
        dep = kube.call(apps.read_namespaced_deployment, spec.deployment, spec.namespace)
    except NotFoundError:
        return verdict(Outcome.FAIL, "not found")
    except DriverError as exc:
        return verdict(Outcome.INCONCLUSIVE, str(exc))
    is_available, observed = _available(dep)
    ok = is_available or not spec.available
    if spec.max_restarts is not None:
        labels = (dep.spec.selector.match_labels if dep.spec and dep.spec.selector else None) or {}
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        try:
            pods = kube.call(core.list_namespaced_pod, spec.namespace, label_selector=selector).items
        except DriverError as exc:
            return verdict(Outcome.INCONCLUSIVE, str(exc))
        restarts = max(
            (sum(cs.restart_count or 0 for cs in (p.status.container_statuses or [])) for p in pods if p.status),
            default=0,
        )
        observed += f", max restarts {restarts}"
        ok = ok and restarts <= spec.max_restarts
    return verdict(Outcome.PASS if ok else Outcome.FAIL, observed)


async def probe_k8s_check(check: K8sCheck, target: HostRef | None, ctx: dict[str, Any], deps: ProbeDeps) -> Verdict:
    """One measurement of a ``k8s:`` check; INCONCLUSIVE when the run has no Kubernetes cluster."""
    if deps.kube is None:
        return Verdict(
            Outcome.INCONCLUSIVE,
            "k8s",
            check.k8s.deployment,
            observed="no Kubernetes driver",
            limit="golive_clusters in the env",
        )
    return await asyncio.to_thread(measure_deployment, check.k8s, deps.kube)
