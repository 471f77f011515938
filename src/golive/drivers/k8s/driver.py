"""K8sDriver: applies one change to a cluster, undoes exactly what undo records describe, dry-runs a change.

Before it changes an existing object it ``save``s the object as read (``what="saved"``,
status and server fields stripped); before it creates one it ``save``s that
(``what="created"``). Undo puts Services back first (traffic), then Deployments from their
saved spec, then deletes what was created, then waits (bounded) for the restored
Deployments to roll out. It knows nothing of gates, stages or the journal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from kubernetes import client

from golive.drivers.base import ActionResult, HostResult, Save, UndoRecord
from golive.errors import DriverError

from .api import RETRY_ATTEMPTS, RETRY_MAX_S, Cluster, Conflict, KubeApi
from .changes import ApplyManifest, Change, CreateOrReplace, Delete, Scale, SetImage, Switch
from .objects import key, strip, template_patch
from .rollout import wait_rollout

if TYPE_CHECKING:
    from golive.inventory import Inventory

T = TypeVar("T")

__all__ = ["K8sDriver"]

log = structlog.get_logger(__name__)

UNDO_WAIT_S = 300.0


def _done(kind: str, namespace: str, name: str, message: str, *, changed: bool = True) -> ActionResult:
    k = key(kind, namespace, name)
    return ActionResult(results={k: HostResult(k, ok=True, changed=changed, message=message)})


def _selector_patch(selector: dict[str, str]) -> list[dict[str, Any]]:
    # A JSON patch replaces the whole map; a merge patch would keep old keys.
    return [{"op": "replace", "path": "/spec/selector", "value": selector}]


class K8sDriver:
    """The Kubernetes API of an inventory's clusters, as primitives: apply, undo, check, read, wait."""

    name = "k8s"

    def __init__(
        self,
        *,
        inventory: Inventory | None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = RETRY_ATTEMPTS,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self.api = KubeApi(inventory=inventory, sleep=sleep, attempts=attempts, retry_max_s=retry_max_s)
        self.clock = clock

    # ------------------------------------------------------------ primitives

    def clients(self, context: str | None) -> tuple[client.AppsV1Api, client.CoreV1Api]:
        cluster = self.api.cluster(context)
        return cluster.apps, cluster.core

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One API call through the driver's retries (transient faults only) and error classification."""
        return self.api.call(fn, *args, **kwargs)

    def read(self, context: str | None, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        """The object (Deployment or Service) as the server holds it; None when it does not exist."""
        return self.api.read(self.api.cluster(context), kind, name, namespace)

    def wait_rollout(
        self, context: str | None, namespace: str, name: str, *, timeout: float, max_pod_failures: int | None = None
    ) -> dict[str, Any]:
        """Wait until the Deployment is rolled out; RolloutFailed (a DriverError) naming the failing signal.

        ``max_pod_failures``: how many restarts (or readiness failures beyond the probe's
        threshold) a new pod may have before the wait fails; None waits for the progress
        deadline or ``timeout`` alone.
        """
        cluster = self.api.cluster(context)
        return wait_rollout(
            self.api,
            cluster,
            namespace=namespace,
            name=name,
            timeout=timeout,
            max_pod_failures=max_pod_failures,
            clock=self.clock,
        )

    def close(self) -> None:
        self.api.close()

    # ------------------------------------------------------------ apply

    def apply(self, change: Change, *, save: Save) -> ActionResult:
        """Carry out one change; DriverError when the cluster refuses it."""
        cluster = self.api.cluster(change.context)
        if isinstance(change, SetImage | Scale):
            return self._set(cluster, change, save)
        if isinstance(change, CreateOrReplace):
            return self._create_or_replace(cluster, change.body, save)
        if isinstance(change, Switch):
            self._save(cluster, "Service", change.namespace, change.service, save)
            self.api.patch(cluster, "Service", change.service, change.namespace, _selector_patch(change.selector))
            return _done("Service", change.namespace, change.service, "switched")
        if isinstance(change, ApplyManifest):
            out = ActionResult()
            for doc in change.docs:
                out.results.update(self._manifest_doc(cluster, doc, change.namespace, save).results)
            return out
        if isinstance(change, Delete):
            obj = self.api.read(cluster, change.kind, change.name, change.namespace)
            if obj is None:
                return _done(change.kind, change.namespace, change.name, "already absent", changed=False)
            self._record(save, "saved", obj, change.namespace)
            self.api.delete(cluster, change.kind, change.name, change.namespace)
            return _done(change.kind, change.namespace, change.name, "deleted")
        raise TypeError(f"not a Kubernetes change: {change!r}")

    def _save(self, cluster: Cluster, kind: str, namespace: str, name: str, save: Save) -> dict[str, Any]:
        obj = self.api.need(cluster, kind, name, namespace)
        self._record(save, "saved", obj, namespace)
        return obj

    @staticmethod
    def _record(save: Save, what: str, obj: dict[str, Any], namespace: str) -> None:
        meta = obj["metadata"]
        spec = None
        if what == "saved":
            spec = strip(obj)
            spec["metadata"]["namespace"] = namespace
        save(UndoRecord(what=what, kind=obj["kind"], name=meta["name"], namespace=namespace, spec=spec))

    def _set(self, cluster: Cluster, change: SetImage | Scale, save: Save) -> ActionResult:
        current = self._save(cluster, "Deployment", change.namespace, change.deployment, save)
        if isinstance(change, Scale):
            body = template_patch(current, image=None, replicas=change.replicas)
        else:
            body = template_patch(current, image=change.image, replicas=change.replicas, labels=change.labels)
        self.api.patch(cluster, "Deployment", change.deployment, change.namespace, body)
        return _done("Deployment", change.namespace, change.deployment, "patched")

    def _create_or_replace(self, cluster: Cluster, body: dict[str, Any], save: Save) -> ActionResult:
        kind, name = body["kind"], body["metadata"]["name"]
        namespace = body["metadata"].get("namespace") or "default"
        body = {**body, "metadata": {**body["metadata"], "namespace": namespace}}
        current = self.api.read(cluster, kind, name, namespace)
        if current is None:
            self._record(save, "created", body, namespace)
            self.api.create(cluster, kind, namespace, body)
            return _done(kind, namespace, name, "created")
        self._record(save, "saved", current, namespace)
        self.api.replace(cluster, body)
        return _done(kind, namespace, name, "replaced")

    def _manifest_doc(self, cluster: Cluster, doc: dict[str, Any], namespace: str, save: Save) -> ActionResult:
        kind, name = doc["kind"], doc["metadata"]["name"]
        ns = doc["metadata"].get("namespace") or namespace
        current = self.api.read(cluster, kind, name, ns)
        if current is None:
            self._record(save, "created", {**doc, "metadata": {**doc["metadata"], "namespace": ns}}, ns)
            self.api.create(cluster, kind, ns, doc)
            return _done(kind, ns, name, "created")
        self._record(save, "saved", current, ns)
        self.api.patch(cluster, kind, name, ns, doc)
        return _done(kind, ns, name, "patched")

    # ------------------------------------------------------------ undo

    def undo(self, records: list[UndoRecord], *, context: str | None = None) -> ActionResult:
        """Put back what ``records`` describe, on the cluster ``context`` names.

        The first record of each object wins (its state before the step first touched it):
        saved objects are put back whole, Services first so traffic moves before the pods it
        reaches change; created ones are deleted; then restored Deployments are waited for.
        ``detail`` lists ``restored`` and ``deleted`` objects as [kind, namespace, name].
        """
        cluster = self.api.cluster(context)
        first: dict[tuple[str, str | None, str], UndoRecord] = {}
        for record in records:
            first.setdefault(record.key(), record)
        saved = [r for r in first.values() if r.what == "saved" and r.spec is not None]
        created = sorted((r for r in first.values() if r.what == "created"), key=lambda r: r.key())
        out = ActionResult()
        waits: list[tuple[str, str]] = []
        for kind in ("Service", "Deployment"):
            for r in (r for r in saved if r.kind == kind):
                assert r.spec is not None
                self.api.replace(cluster, r.spec)
                ns = r.namespace or "default"
                log.info("k8s_restored", kind=r.kind, namespace=ns, name=r.name)
                out.results.update(_done(r.kind, ns, r.name, "restored").results)
                out.detail.setdefault("restored", []).append([r.kind, ns, r.name])
                if kind == "Deployment":
                    waits.append((ns, r.name))
        for r in created:
            ns = r.namespace or "default"
            gone = self.api.delete(cluster, r.kind, r.name, ns)
            log.info("k8s_deleted", kind=r.kind, namespace=ns, name=r.name, existed=gone)
            out.results.update(_done(r.kind, ns, r.name, "deleted" if gone else "already absent", changed=gone).results)
            if gone:
                out.detail.setdefault("deleted", []).append([r.kind, ns, r.name])
        for ns, name in waits:
            self.wait_rollout(context, ns, name, timeout=UNDO_WAIT_S)
        return out

    # ------------------------------------------------------------ check

    def check(self, change: Change) -> ActionResult:
        """Send the change's writes with dryRun=All; each refusal is a failed result with the server's message."""
        out = ActionResult()
        try:
            cluster = self.api.cluster(change.context)
            for kind, namespace, name, write in self._dry_writes(cluster, change):
                k = key(kind, namespace, name)
                try:
                    write()
                    out.results[k] = HostResult(k, ok=True, message="accepted")
                except (DriverError, Conflict) as exc:
                    out.results[k] = HostResult(k, ok=False, message=f"{kind.lower()} {name} in {namespace}: {exc}")
        except DriverError as exc:
            out.results["cluster"] = HostResult("cluster", ok=False, message=str(exc))
        return out

    def _dry_writes(self, cluster: Cluster, change: Change) -> list[tuple[str, str, str, Callable[[], None]]]:
        api, dry = self.api, {"dry_run": "All"}

        def patch(kind: str, name: str, ns: str, body: Any) -> Callable[[], None]:
            return lambda: api.patch(cluster, kind, name, ns, body, **dry)

        def put(kind: str, name: str, ns: str, body: dict[str, Any]) -> Callable[[], None]:
            if api.read(cluster, kind, name, ns) is None:
                return lambda: api.create(cluster, kind, ns, body, **dry)
            return lambda: api.replace(cluster, body, **dry)

        if isinstance(change, SetImage | Scale):
            ns, name = change.namespace, change.deployment
            current = api.need(cluster, "Deployment", name, ns)
            if isinstance(change, Scale):
                body = template_patch(current, image=None, replicas=change.replicas)
            else:
                body = template_patch(current, image=change.image, replicas=change.replicas, labels=change.labels)
            return [("Deployment", ns, name, patch("Deployment", name, ns, body))]
        if isinstance(change, CreateOrReplace):
            return [
                (
                    change.kind,
                    change.namespace,
                    change.name,
                    put(change.kind, change.name, change.namespace, change.body),
                )
            ]
        if isinstance(change, Switch):
            write = patch("Service", change.service, change.namespace, _selector_patch(change.selector))
            return [("Service", change.namespace, change.service, write)]
        if isinstance(change, ApplyManifest):
            out = []
            for doc in change.docs:
                kind, name = doc["kind"], doc["metadata"]["name"]
                ns = doc["metadata"].get("namespace") or change.namespace
                exists = api.read(cluster, kind, name, ns) is not None
                write = patch(kind, name, ns, doc) if exists else put(kind, name, ns, doc)
                out.append((kind, ns, name, write))
            return out
        if isinstance(change, Delete):

            def delete() -> None:
                api.delete(cluster, change.kind, change.name, change.namespace, **dry)

            return [(change.kind, change.namespace, change.name, delete)]
        raise TypeError(f"not a Kubernetes change: {change!r}")
