"""Deployment and ReplicaSet controllers, after the behaviour of the real ones.

A Deployment owns one ReplicaSet per pod-template hash (label ``pod-template-hash``);
the ReplicaSet of the current template carries the highest
``deployment.kubernetes.io/revision``, so returning to an old template reuses its
ReplicaSet and bumps its revision. Rolling updates step within ``maxSurge`` and
``maxUnavailable``; progress is tracked in the ``Progressing`` condition, which turns to
``ProgressDeadlineExceeded`` when nothing moved for ``progressDeadlineSeconds``.
Owner references are garbage-collected: deleting a Deployment removes its ReplicaSets,
deleting a ReplicaSet removes its Pods.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Callable

import structlog

from .replicasets import ReplicaSetControl
from .store import ApiError, Obj, Store, now_rfc3339
from .workloads import (
    DEPLOYMENT,
    DESIRED,
    HASH_LABEL,
    MAX_REPLICAS,
    REPLICASET,
    REVISION,
    PodStats,
    controller_uid,
    nonzero,
    owner_ref,
    parse_time,
    resolve_int_or_percent,
    revision_of,
    template_hash,
)

__all__ = ["Controller", "resolve_int_or_percent", "template_hash"]

log = structlog.get_logger(__name__)


class Controller(ReplicaSetControl):
    """Reconciles Deployments, ReplicaSets and owner references on each tick."""

    def __init__(
        self,
        *,
        store: Store,
        shutdown: threading.Event,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        extra_sync: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.shutdown = shutdown
        self.now = now
        self.extra_sync = extra_sync
        self.wake = threading.Event()

    def run(self, tick: float = 0.25) -> None:
        while not self.shutdown.is_set():
            try:
                self.sync()
                if self.extra_sync is not None:
                    self.extra_sync()
            except Exception:
                log.exception("controller_sync_failed")
            self.wake.wait(tick)
            self.wake.clear()
            self.shutdown.wait(0.05)

    def sync(self) -> None:
        self._collect_garbage()
        deployments, _ = self.store.list(DEPLOYMENT)
        for deployment in deployments:
            try:
                self._sync_deployment(deployment)
            except ApiError as error:
                log.warning("deployment_sync_conflict", name=deployment["metadata"]["name"], reason=error.reason)
        replicasets, _ = self.store.list(REPLICASET)
        for replicaset in replicasets:
            self._sync_replicaset(replicaset)

    # -- Deployment --------------------------------------------------------------------
    def _sync_deployment(self, deployment: Obj) -> None:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        namespace, uid = meta["namespace"], meta["uid"]
        desired = int(spec.get("replicas", 1))
        rss = [rs for rs in self.store.list(REPLICASET, namespace)[0] if controller_uid(rs) == uid]
        digest = template_hash(spec.get("template") or {})
        new_rs = next((rs for rs in rss if rs["metadata"].get("labels", {}).get(HASH_LABEL) == digest), None)
        old_rss = sorted(
            (rs for rs in rss if rs is not new_rs),
            key=lambda rs: (revision_of(rs), rs["metadata"]["creationTimestamp"]),
        )
        paused = bool(spec.get("paused"))
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        surge = resolve_int_or_percent(rolling.get("maxSurge", "25%"), desired, round_up=True)
        unavailable = resolve_int_or_percent(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
        if strategy.get("type") == "Recreate":
            surge, unavailable = 0, desired
        elif surge == 0 and unavailable == 0:
            unavailable = 1
        moved = False
        max_revision = max((revision_of(rs) for rs in rss), default=0)

        if not paused:
            if new_rs is None:
                new_rs = self._create_replicaset(deployment, digest, max_revision + 1, desired, surge)
                moved = True
            elif revision_of(new_rs) < max_revision or revision_of(new_rs) == 0:
                new_rs = self._annotate_rs(new_rs, max_revision + 1, desired, surge)
                moved = True
            if strategy.get("type") == "Recreate":
                self._recreate(new_rs, old_rss, desired)
            else:
                self._roll(new_rs, old_rss, desired=desired, surge=surge, unavailable=unavailable)
            self._clean_history(old_rss, int(spec.get("revisionHistoryLimit", 10)))
        elif new_rs is not None and not any(int(rs["spec"].get("replicas", 0)) for rs in old_rss):
            self._scale_rs(new_rs, desired)

        self._write_deployment_status(
            deployment, new_rs=new_rs, old_rss=old_rss, desired=desired, unavailable=unavailable, moved=moved
        )

    def _create_replicaset(self, deployment: Obj, digest: str, revision: int, desired: int, surge: int) -> Obj:
        meta, spec = deployment["metadata"], deployment["spec"]
        template = copy.deepcopy(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = digest
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = digest
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{digest}",
                "namespace": meta["namespace"],
                "labels": template["metadata"]["labels"],
                "annotations": {
                    REVISION: str(revision),
                    DESIRED: str(desired),
                    MAX_REPLICAS: str(desired + surge),
                },
                "ownerReferences": [owner_ref(deployment)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": spec.get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        created = self.store.create(REPLICASET, rs)
        log.info(
            "replicaset_created",
            namespace=meta["namespace"],
            deployment=meta["name"],
            replicaset=rs["metadata"]["name"],
            revision=revision,
        )
        return created

    def _annotate_rs(self, rs: Obj, revision: int, desired: int, surge: int) -> Obj:
        def change(obj: Obj) -> None:
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations[REVISION] = str(revision)
            annotations[DESIRED] = str(desired)
            annotations[MAX_REPLICAS] = str(desired + surge)

        updated = self.store.mutate(REPLICASET, rs["metadata"]["namespace"], rs["metadata"]["name"], change)
        log.info("replicaset_revision_bumped", replicaset=rs["metadata"]["name"], revision=revision)
        return updated or rs

    def _scale_rs(self, rs: Obj, replicas: int) -> None:
        replicas = max(replicas, 0)
        if int(rs["spec"].get("replicas", 0)) == replicas:
            return

        def change(obj: Obj) -> None:
            obj["spec"]["replicas"] = replicas

        self.store.mutate(REPLICASET, rs["metadata"]["namespace"], rs["metadata"]["name"], change)
        rs["spec"]["replicas"] = replicas

    def _recreate(self, new_rs: Obj, old_rss: list[Obj], desired: int) -> None:
        active = [rs for rs in old_rss if int(rs["spec"].get("replicas", 0)) or self._stats(rs).total]
        for rs in active:
            self._scale_rs(rs, 0)
        if not any(self._stats(rs).total for rs in old_rss):
            self._scale_rs(new_rs, desired)

    def _roll(self, new_rs: Obj, old_rss: list[Obj], *, desired: int, surge: int, unavailable: int) -> None:
        def replicas(rs: Obj) -> int:
            return int(rs["spec"].get("replicas", 0))

        all_rss = [new_rs, *old_rss]
        # Scale the new ReplicaSet up within the surge budget.
        if replicas(new_rs) > desired:
            self._scale_rs(new_rs, desired)
        elif replicas(new_rs) < desired:
            room = desired + surge - sum(replicas(rs) for rs in all_rss)
            if room > 0:
                self._scale_rs(new_rs, min(replicas(new_rs) + room, desired))
        if not any(replicas(rs) for rs in old_rss):
            return
        # Scale old ones down without dropping below desired - maxUnavailable available pods.
        stats = {rs["metadata"]["uid"]: self._stats(rs) for rs in all_rss}
        min_available = desired - unavailable
        new_stats = stats[new_rs["metadata"]["uid"]]
        new_unavailable = max(replicas(new_rs) - new_stats.available, 0)
        cleanup = sum(replicas(rs) for rs in all_rss) - min_available - new_unavailable
        for rs in old_rss:
            if cleanup <= 0:
                break
            unhealthy = max(replicas(rs) - stats[rs["metadata"]["uid"]].available, 0)
            step = min(unhealthy, cleanup)
            if step:
                self._scale_rs(rs, replicas(rs) - step)
                cleanup -= step
        budget = sum(min(stats[rs["metadata"]["uid"]].available, replicas(rs)) for rs in all_rss) - min_available
        for rs in old_rss:
            if budget <= 0:
                break
            step = min(replicas(rs), budget)
            if step:
                self._scale_rs(rs, replicas(rs) - step)
                budget -= step

    def _clean_history(self, old_rss: list[Obj], limit: int) -> None:
        idle = [rs for rs in old_rss if not int(rs["spec"].get("replicas", 0)) and not self._stats(rs).total]
        for rs in idle[: max(len(idle) - limit, 0)]:
            try:
                self.store.delete(REPLICASET, rs["metadata"]["namespace"], rs["metadata"]["name"])
            except ApiError:
                continue

    def _write_deployment_status(
        self,
        deployment: Obj,
        *,
        new_rs: Obj | None,
        old_rss: list[Obj],
        desired: int,
        unavailable: int,
        moved: bool,
    ) -> None:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        previous = deployment.get("status") or {}
        all_rss = [rs for rs in [new_rs, *old_rss] if rs is not None]
        stats = [self._stats(rs) for rs in all_rss]
        new_stats = self._stats(new_rs) if new_rs is not None else PodStats()
        counts = {
            "replicas": sum(s.total for s in stats),
            "updatedReplicas": new_stats.total,
            "readyReplicas": sum(s.ready for s in stats),
            "availableReplicas": sum(s.available for s in stats),
        }
        counts["unavailableReplicas"] = max(desired - counts["availableReplicas"], 0)
        generation = int(meta.get("generation", 1))
        now = self.now()
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        conditions = {c["type"]: c for c in previous.get("conditions") or []}
        rs_name = new_rs["metadata"]["name"] if new_rs is not None else ""

        def set_condition(kind: str, status: str, reason: str, message: str, *, touch: bool) -> None:
            old = conditions.get(kind)
            same = old is not None and old.get("status") == status and old.get("reason") == reason
            conditions[kind] = {
                "type": kind,
                "status": status,
                "lastUpdateTime": stamp if touch or not same or old is None else old["lastUpdateTime"],
                "lastTransitionTime": old["lastTransitionTime"]
                if old is not None and old.get("status") == status
                else stamp,
                "reason": reason,
                "message": message,
            }

        if counts["availableReplicas"] >= desired - unavailable:
            set_condition(
                "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", touch=False
            )
        else:
            set_condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                touch=False,
            )

        complete = (
            counts["updatedReplicas"] == desired
            and counts["replicas"] == desired
            and counts["availableReplicas"] == desired
        )
        progressed = (
            moved
            or any(
                counts[key] > int(previous.get(key, 0))
                for key in ("updatedReplicas", "readyReplicas", "availableReplicas")
            )
            or (counts["replicas"] - counts["updatedReplicas"])
            < (int(previous.get("replicas", 0)) - int(previous.get("updatedReplicas", 0)))
        )
        progressing = conditions.get("Progressing")
        deadline = spec.get("progressDeadlineSeconds")
        if spec.get("paused"):
            set_condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", touch=False)
        elif progressing is not None and progressing.get("reason") == "DeploymentPaused":
            set_condition("Progressing", "True", "DeploymentResumed", "Deployment is resumed", touch=True)
        elif complete:
            set_condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                touch=False,
            )
        elif progressed or progressing is None:
            set_condition(
                "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.', touch=True
            )
        elif progressing.get("reason") != "ProgressDeadlineExceeded" and deadline is not None:
            since = parse_time(progressing.get("lastUpdateTime")) or now
            if (now - since).total_seconds() > int(deadline):
                set_condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                    touch=True,
                )
                log.warning("deployment_progress_deadline_exceeded", namespace=meta["namespace"], name=meta["name"])

        status = {
            "observedGeneration": generation,
            **nonzero(counts),
            "conditions": [conditions[k] for k in ("Available", "Progressing") if k in conditions],
        }
        revision = str(revision_of(new_rs)) if new_rs is not None else None

        def change(obj: Obj) -> None:
            if int(obj["metadata"].get("generation", 1)) != generation:
                return
            obj["status"] = status
            if revision and revision != "0":
                obj["metadata"].setdefault("annotations", {})[REVISION] = revision

        self.store.mutate(DEPLOYMENT, meta["namespace"], meta["name"], change)


__all__ = ["REVISION", "Controller", "now_rfc3339", "resolve_int_or_percent", "template_hash"]
