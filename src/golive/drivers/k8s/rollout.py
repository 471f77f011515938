"""Waiting for a Deployment to roll out, and failing fast when its new pods are bad.

The Deployment is watched until every replica runs the current template and is
available. Alongside, when the caller allows a number of pod failures, the pods of the
*new* ReplicaSet (the one of the Deployment's current revision, by ``pod-template-hash``)
are read about once a second: the wait fails as soon as one of them has restarted more
often than allowed, cannot pull its image, or has been running without becoming Ready
for longer than its readiness probe takes to fail ``failureThreshold + allowed`` times.
A bad canary is then caught in seconds, not at the progress deadline.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from kubernetes import watch

from golive.errors import DriverError, TransientError

from .api import Cluster, KubeApi, classify
from .objects import label_selector

__all__ = ["PodWatch", "RolloutFailed", "deadline_exceeded", "rolled_out", "wait_rollout"]

log = structlog.get_logger(__name__)

WATCH_CHUNK_S = 30
POD_CHECK_S = 1.0
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
# A container that declares no readiness probe is judged with Kubernetes' defaults for one
# (10 s period, 3 failures): 30 s. A fixed few seconds failed good pods on a loaded machine
# (20 rollouts at once: Ready after more than 7 s), so the window comes from the pod template:
# declare the readiness probe your app has, e.g. 4 s + 1 s x 3 for the lab's demo app.
DEFAULT_PROBE = {"initialDelaySeconds": 0, "periodSeconds": 10, "failureThreshold": 3}
IMAGE_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError")


class RolloutFailed(DriverError):
    """A rollout that will not finish; ``signal`` says what showed it.

    Signals: ``restart``, ``readiness``, ``image`` (new pods, when failures are counted),
    ``deadline`` (ProgressDeadlineExceeded), ``timeout`` (golive's own), ``deleted``.
    """

    def __init__(self, message: str, *, signal: str, deployment: str, pod: str | None = None) -> None:
        super().__init__(message)
        self.signal = signal
        self.deployment = deployment
        self.pod = pod


def _caught_up(dep: dict[str, Any]) -> bool:
    status, meta = dep.get("status") or {}, dep.get("metadata") or {}
    return (status.get("observedGeneration") or 0) >= (meta.get("generation") or 0)


def rolled_out(dep: dict[str, Any]) -> bool:
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    want = spec.get("replicas", 1)
    return bool(
        _caught_up(dep)
        and (status.get("updatedReplicas") or 0) == want
        and (status.get("availableReplicas") or 0) == want
        and (status.get("replicas") or 0) == want
    )


def progressing_now(dep: dict[str, Any]) -> bool:
    if not _caught_up(dep):
        return False
    return any(
        c.get("type") == "Progressing" and c.get("reason") != "ProgressDeadlineExceeded"
        for c in (dep.get("status") or {}).get("conditions") or []
    )


def deadline_exceeded(dep: dict[str, Any]) -> str | None:
    status = dep.get("status") or {}
    if not _caught_up(dep):
        return None
    replicas, updated = status.get("replicas") or 0, status.get("updatedReplicas") or 0
    if updated >= replicas and (status.get("availableReplicas") or 0) >= updated:
        # Every pod runs the current template and is available: only a scale is under way, and a
        # scale cannot be stuck on a bad template, so a deadline flag here is stale, not a failure.
        return None
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return str(cond.get("message") or "progress deadline exceeded")
    return None


def _counts(dep: dict[str, Any]) -> str:
    st = dep.get("status") or {}
    return (
        f"updated {st.get('updatedReplicas', 0)}, available {st.get('availableReplicas', 0)}, "
        f"want {(dep.get('spec') or {}).get('replicas')}"
    )


def readiness_window(pod: dict[str, Any], allowed: int) -> float:
    """Seconds a running pod may stay unready: its probe failing ``failureThreshold + allowed`` times."""
    containers = (pod.get("spec") or {}).get("containers") or []
    probe = next((c["readinessProbe"] for c in containers if c.get("readinessProbe")), DEFAULT_PROBE)
    delay = probe.get("initialDelaySeconds") or 0
    period = probe.get("periodSeconds") or 10
    threshold = probe.get("failureThreshold") or 3
    return float(delay + period * (threshold + allowed))


@dataclass
class PodWatch:
    """Counts the failures of a Deployment's new pods; ``check`` raises at the first one over the limit."""

    deployment: str
    allowed: int
    clock: Callable[[], float]
    unready_since: dict[str, float] = field(default_factory=dict)
    # Restarts a pod had when first seen Ready: from before this wait (a scale), not this rollout's.
    baseline: dict[str, int] = field(default_factory=dict)
    last_check: float = -math.inf

    def due(self) -> bool:
        return self.clock() - self.last_check >= POD_CHECK_S

    def check(self, pods: list[dict[str, Any]]) -> None:
        now = self.last_check = self.clock()
        for pod in pods:
            failure = self._failure(pod, now)
            if failure is not None:
                signal, text = failure
                name = pod["metadata"]["name"]
                raise RolloutFailed(
                    f"deployment {self.deployment}: new pod {name} {text}",
                    signal=signal,
                    deployment=self.deployment,
                    pod=name,
                )

    def _failure(self, pod: dict[str, Any], now: float) -> tuple[str, str] | None:
        name = pod["metadata"]["name"]
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        conditions = {c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or []}
        total = sum(cs.get("restartCount") or 0 for cs in statuses)
        restarts = total - self.baseline.setdefault(name, total if conditions.get("Ready") == "True" else 0)
        if restarts > self.allowed:
            last = next((cs.get("lastState", {}).get("terminated") for cs in statuses if cs.get("lastState")), None)
            why = f", last exit code {last.get('exitCode')}" if last else ""
            return "restart", f"restarted {restarts} time(s){why} (allowed {self.allowed})"
        for cs in statuses:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in IMAGE_FAILURES:
                return "image", f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
        running = bool(statuses) and all((cs.get("state") or {}).get("running") for cs in statuses)
        if conditions.get("Ready") == "True" or not running:
            self.unready_since.pop(name, None)
            return None
        since = self.unready_since.setdefault(name, now)
        window = readiness_window(pod, self.allowed)
        if now - since >= window:
            return "readiness", f"running but not Ready for {now - since:.1f}s (readiness allows {window:g}s)"
        return None


def _new_pods(
    api: KubeApi, cluster: Cluster, dep: dict[str, Any], namespace: str, found: dict[str, str]
) -> list[dict[str, Any]]:
    """Pods of the ReplicaSet of the Deployment's current revision (none until the controller made it).

    ``found`` keeps that ReplicaSet's pod selector by revision, so it is looked up once per wait.
    """
    meta = dep.get("metadata") or {}
    revision = (meta.get("annotations") or {}).get(REVISION)
    labels = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if revision is None or not labels or not _caught_up(dep):
        return []
    selector = label_selector(labels)
    if revision not in found:
        for rs in api.listed(cluster, cluster.apps.list_namespaced_replica_set, namespace, selector):
            rs_meta = rs.get("metadata") or {}
            owned = any(o.get("uid") == meta.get("uid") for o in rs_meta.get("ownerReferences") or [])
            pod_hash = (rs_meta.get("labels") or {}).get(HASH_LABEL)
            if owned and pod_hash and (rs_meta.get("annotations") or {}).get(REVISION) == revision:
                found[revision] = f"{selector},{HASH_LABEL}={pod_hash}"
        if revision not in found:
            return []
    return api.listed(cluster, cluster.core.list_namespaced_pod, namespace, found[revision])


def wait_rollout(
    api: KubeApi,
    cluster: Cluster,
    *,
    namespace: str,
    name: str,
    timeout: float,
    max_pod_failures: int | None,
    clock: Callable[[], float],
) -> dict[str, Any]:
    """Watch a Deployment until it is rolled out; RolloutFailed on a failing signal or ``timeout``."""
    end = clock() + timeout
    last: dict[str, Any] = {}
    fresh = False
    pods = None if max_pod_failures is None else PodWatch(name, max_pod_failures, clock)
    found: dict[str, str] = {}
    chunk = WATCH_CHUNK_S if pods is None else max(1, math.ceil(POD_CHECK_S))
    while True:
        left = end - clock()
        if left <= 0:
            raise RolloutFailed(
                f"deployment {name} not rolled out within {timeout:g}s ({_counts(last)})",
                signal="timeout",
                deployment=name,
            )
        stream = watch.Watch()
        try:
            for event in stream.stream(
                cluster.apps.list_namespaced_deployment,
                namespace=namespace,
                field_selector=f"metadata.name={name}",
                timeout_seconds=max(1, min(math.ceil(left), chunk)),
                _request_timeout=min(left, chunk) + 10,
            ):
                if event.get("type") == "ERROR":
                    break
                if event.get("type") == "DELETED":
                    raise RolloutFailed(
                        f"deployment {name} was deleted while golive waited for it", signal="deleted", deployment=name
                    )
                obj = event["object"]
                last = obj if isinstance(obj, dict) else cluster.api.sanitize_for_serialization(obj)
                if rolled_out(last):
                    return last
                failed = deadline_exceeded(last)
                # A deadline flag left over from before this change is only believed once the
                # controller was seen progressing on the current generation.
                fresh = fresh or (failed is None and progressing_now(last))
                if failed and fresh:
                    raise RolloutFailed(
                        f"deployment {name}: ProgressDeadlineExceeded: {failed} ({_counts(last)})",
                        signal="deadline",
                        deployment=name,
                    )
                if pods is not None and pods.due():
                    pods.check(_new_pods(api, cluster, last, namespace, found))
                if clock() >= end:
                    break
            if pods is not None and last and pods.due():
                pods.check(_new_pods(api, cluster, last, namespace, found))
        except DriverError:
            raise
        except Exception as exc:
            mapped = classify(exc)
            if mapped is exc:
                raise
            if not isinstance(mapped, TransientError):
                raise mapped from exc
            log.warning("k8s_watch_retry", deployment=name, error=str(mapped))
            api.sleep(min(mapped.retry_after or 1.0, max(0.0, end - clock())))
        finally:
            stream.stop()
