"""Kubernetes probe: is a Deployment available, and have its pods restarted more than allowed?

It reads through the official client's APIs that the engine hands it per kube context
(``ProbeDeps.kube``). Answers a retry can help (429, 5xx, no connection) are retried within
the measurement, bounded and honouring Retry-After; a Deployment that is not there FAILs;
any other refusal is INCONCLUSIVE, with the server's message.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay

from golive.checks.base import Outcome, Verdict
from golive.checks.deps import KubeApis, ProbeDeps
from golive.errors import DriverError, PermanentError, TransientError
from golive.runbook.limits import k8s_limit
from golive.runbook.models import K8sCheck, K8sCheckSpec
from golive.runbook.render import HostRef

if TYPE_CHECKING:
    from kubernetes.client import V1Deployment

__all__ = ["measure_deployment", "probe_k8s_check"]

T = TypeVar("T")

RETRY_STATUS = {0, 429, 500, 502, 503, 504}
RETRY_ATTEMPTS = 6
RETRY_MAX_S = 60.0
RETRY_AFTER_CAP_S = 30.0


class _NotFound(PermanentError):
    """404: the Deployment (or its namespace) does not exist."""


def _server_message(exc: Any) -> str:
    try:
        body = json.loads(exc.body or "{}")
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except (ValueError, TypeError):
        pass
    return f"{exc.status} {exc.reason}"


def _classify(exc: Exception) -> DriverError | None:
    import urllib3
    from kubernetes.client.rest import ApiException

    if isinstance(exc, ApiException):
        text = f"kubernetes API {exc.status}: {_server_message(exc)}"
        if exc.status in RETRY_STATUS:
            after = (exc.headers or {}).get("Retry-After")
            try:
                return TransientError(text, retry_after=float(after) if after is not None else None)
            except ValueError:
                return TransientError(text)
        return _NotFound(text) if exc.status == 404 else PermanentError(text)
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return TransientError(f"kubernetes API unreachable: {exc}")
    return None


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, TransientError) and exc.retry_after is not None:
        return min(exc.retry_after, RETRY_AFTER_CAP_S)
    return float(min(0.5 * 2 ** (state.attempt_number - 1), 10.0))


def _call(fn: Callable[[], T], sleep: Callable[[float], None]) -> T:
    """One API read, retried while the fault is transient; raises DriverError when it cannot be made."""

    def once() -> T:
        try:
            return fn()
        except Exception as exc:
            mapped = _classify(exc)
            if mapped is None:
                raise
            raise mapped from exc

    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(RETRY_ATTEMPTS) | stop_after_delay(RETRY_MAX_S),
        wait=_wait,
        sleep=sleep,
        reraise=True,
    )
    return retrying(once)


def _available(dep: V1Deployment) -> tuple[bool, str]:
    status, spec = dep.status, dep.spec
    want = spec.replicas if spec is not None and spec.replicas is not None else 1
    available = (status.available_replicas if status is not None else None) or 0
    conditions = (status.conditions if status is not None else None) or []
    cond = next((c for c in conditions if c.type == "Available"), None)
    return (cond is not None and cond.status == "True" and available == want), f"{available}/{want} available"


def measure_deployment(spec: K8sCheckSpec, kube: KubeApis, *, sleep: Callable[[float], None] = time.sleep) -> Verdict:
    """One blocking measurement of the Deployment ``spec`` names."""
    target = f"deployment/{spec.deployment} in {spec.namespace}"
    limit = k8s_limit(available=spec.available, max_restarts=spec.max_restarts)

    def verdict(outcome: Outcome, observed: str) -> Verdict:
        return Verdict(outcome, "k8s", target, observed=observed, limit=limit)

    try:
        apps, core = kube.clients(spec.context)
        dep = _call(lambda: apps.read_namespaced_deployment(spec.deployment, spec.namespace), sleep)
    except _NotFound:
        return verdict(Outcome.FAIL, "not found")
    except DriverError as exc:
        return verdict(Outcome.INCONCLUSIVE, str(exc))
    is_available, observed = _available(dep)
    ok = is_available or not spec.available
    if spec.max_restarts is not None:
        labels = (dep.spec.selector.match_labels if dep.spec and dep.spec.selector else None) or {}
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        try:
            pods = _call(lambda: core.list_namespaced_pod(spec.namespace, label_selector=selector), sleep).items
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
