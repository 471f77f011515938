"""The ReplicaSet controller and garbage collection: pods per owner, created and deleted to the wanted count."""

from __future__ import annotations

import copy

import structlog

from .selectors import from_label_selector, matches_labels
from .store import ApiError, Obj, Store, random_suffix
from .validation import apply_defaults
from .workloads import (
    DEPLOYMENT,
    MAX_POD_CHANGES_PER_TICK,
    POD,
    REPLICASET,
    PodStats,
    controller_uid,
    nonzero,
    owner_ref,
    pod_ready,
)

log = structlog.get_logger(__name__)


class ReplicaSetControl:
    """Keeps each ReplicaSet's pods at its replica count and deletes what lost its owner."""

    store: Store

    # -- garbage collection ------------------------------------------------------------
    def _collect_garbage(self) -> None:
        owners = {obj["metadata"]["uid"] for obj in self.store.list(DEPLOYMENT)[0]}
        owners |= {obj["metadata"]["uid"] for obj in self.store.list(REPLICASET)[0]}
        for res in (REPLICASET, POD):
            for obj in self.store.list(res)[0]:
                uid = controller_uid(obj)
                if uid is not None and uid not in owners:
                    meta = obj["metadata"]
                    try:
                        self.store.delete(res, meta["namespace"], meta["name"])
                    except ApiError:
                        continue
                    log.info("orphan_deleted", kind=res.kind, namespace=meta["namespace"], name=meta["name"])

    # -- pods per owner ----------------------------------------------------------------
    def _pods_of(self, namespace: str, uid: str) -> list[Obj]:
        pods, _ = self.store.list(POD, namespace)
        return [pod for pod in pods if controller_uid(pod) == uid]

    def _stats(self, rs: Obj) -> PodStats:
        pods = self._pods_of(rs["metadata"]["namespace"], rs["metadata"]["uid"])
        return PodStats(total=len(pods), ready=sum(1 for pod in pods if pod_ready(pod)))

    # -- ReplicaSet --------------------------------------------------------------------
    def _sync_replicaset(self, rs: Obj) -> None:
        meta = rs["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        pods = self._pods_of(namespace, meta["uid"])
        wanted = int((rs.get("spec") or {}).get("replicas", 0))
        if len(pods) < wanted:
            for _ in range(min(wanted - len(pods), MAX_POD_CHANGES_PER_TICK)):
                pods.append(self._create_pod(rs))
        elif len(pods) > wanted:
            # Delete pods that are not ready first, then the newest.
            ranked = sorted(
                pods,
                key=lambda pod: (pod_ready(pod), pod["metadata"]["creationTimestamp"], pod["metadata"]["name"]),
            )
            doomed = ranked[: len(pods) - wanted][:MAX_POD_CHANGES_PER_TICK]
            for pod in doomed:
                try:
                    self.store.delete(POD, namespace, pod["metadata"]["name"])
                except ApiError:
                    continue
                pods.remove(pod)
        ready = sum(1 for pod in pods if pod_ready(pod))
        selector = from_label_selector((rs.get("spec") or {}).get("selector"))
        labeled = sum(1 for pod in pods if matches_labels(pod["metadata"].get("labels"), selector))
        status = {
            "replicas": len(pods),
            **nonzero({"fullyLabeledReplicas": labeled, "readyReplicas": ready, "availableReplicas": ready}),
            "observedGeneration": meta.get("generation", 1),
        }

        def change(obj: Obj) -> None:
            obj["status"] = status

        self.store.mutate(REPLICASET, namespace, name, change)

    def _create_pod(self, rs: Obj) -> Obj:
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{rs['metadata']['name']}-{random_suffix()}",
                "namespace": rs["metadata"]["namespace"],
                "labels": tmeta.get("labels") or {},
                "annotations": tmeta.get("annotations") or {},
                "ownerReferences": [owner_ref(rs)],
            },
            "spec": template.get("spec") or {},
            "status": {"phase": "Pending"},
        }
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        apply_defaults(POD, pod)
        return self.store.create(POD, pod)
