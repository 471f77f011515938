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
import hashlib
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from .resources import BY_KIND
from .selectors import from_label_selector, matches_labels
from .store import ApiError, Obj, Store, now_rfc3339, random_suffix
from .validation import apply_defaults

log = structlog.get_logger(__name__)

REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
MAX_POD_CHANGES_PER_TICK = 20
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

DEPLOYMENT = BY_KIND["Deployment"]
REPLICASET = BY_KIND["ReplicaSet"]
POD = BY_KIND["Pod"]


def template_hash(template: Obj) -> str:
    """A short, stable name fragment for a pod template."""
    template = _without_empty(copy.deepcopy(template))
    ((template.get("metadata") or {}).get("labels") or {}).pop(HASH_LABEL, None)
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(10):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def _without_empty(value: Any) -> Any:
    """Drop nulls and empty maps/lists: clients serialise unset fields either way."""
    if isinstance(value, dict):
        cleaned = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_without_empty(item) for item in value]
    return value


def resolve_int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    """``maxSurge``/``maxUnavailable`` as a pod count."""
    if isinstance(value, str) and value.endswith("%"):
        share = float(value[:-1]) * total / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value or 0)


def _revision(obj: Obj) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _controller_uid(obj: Obj) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _owner_ref(owner: Obj) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _pod_ready(pod: Obj) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def _nonzero(values: dict[str, int]) -> dict[str, int]:
    return {key: value for key, value in values.items() if value}


@dataclass
class PodStats:
    total: int = 0
    ready: int = 0

    @property
    def available(self) -> int:
        return self.ready


class Controller:
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

    # -- garbage collection ------------------------------------------------------------
    def _collect_garbage(self) -> None:
        owners = {obj["metadata"]["uid"] for obj in self.store.list(DEPLOYMENT)[0]}
        owners |= {obj["metadata"]["uid"] for obj in self.store.list(REPLICASET)[0]}
        for res in (REPLICASET, POD):
            for obj in self.store.list(res)[0]:
                uid = _controller_uid(obj)
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
        return [pod for pod in pods if _controller_uid(pod) == uid]

    def _stats(self, rs: Obj) -> PodStats:
        pods = self._pods_of(rs["metadata"]["namespace"], rs["metadata"]["uid"])
        return PodStats(total=len(pods), ready=sum(1 for pod in pods if _pod_ready(pod)))

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
                key=lambda pod: (_pod_ready(pod), pod["metadata"]["creationTimestamp"], pod["metadata"]["name"]),
            )
            doomed = ranked[: len(pods) - wanted][:MAX_POD_CHANGES_PER_TICK]
            for pod in doomed:
                try:
                    self.store.delete(POD, namespace, pod["metadata"]["name"])
                except ApiError:
                    continue
                pods.remove(pod)
        ready = sum(1 for pod in pods if _pod_ready(pod))
        selector = from_label_selector((rs.get("spec") or {}).get("selector"))
        labeled = sum(1 for pod in pods if matches_labels(pod["metadata"].get("labels"), selector))
        status = {
            "replicas": len(pods),
            **_nonzero({"fullyLabeledReplicas": labeled, "readyReplicas": ready, "availableReplicas": ready}),
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
                "ownerReferences": [_owner_ref(rs)],
            },
            "spec": template.get("spec") or {},
            "status": {"phase": "Pending"},
        }
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        apply_defaults(POD, pod)
        return self.store.create(POD, pod)

    # -- Deployment --------------------------------------------------------------------
    def _sync_deployment(self, deployment: Obj) -> None:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        namespace, uid = meta["namespace"], meta["uid"]
        desired = int(spec.get("replicas", 1))
        rss = [rs for rs in self.store.list(REPLICASET, namespace)[0] if _controller_uid(rs) == uid]
        digest = template_hash(spec.get("template") or {})
        new_rs = next((rs for rs in rss if rs["metadata"].get("labels", {}).get(HASH_LABEL) == digest), None)
        old_rss = sorted(
            (rs for rs in rss if rs is not new_rs), key=lambda rs: (_revision(rs), rs["metadata"]["creationTimestamp"])
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
        max_revision = max((_revision(rs) for rs in rss), default=0)

        if not paused:
            if new_rs is None:
                new_rs = self._create_replicaset(deployment, digest, max_revision + 1, desired, surge)
                moved = True
            elif _revision(new_rs) < max_revision or _revision(new_rs) == 0:
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
                "ownerReferences": [_owner_ref(deployment)],
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
            since = _parse_time(progressing.get("lastUpdateTime")) or now
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
            **_nonzero(counts),
            "conditions": [conditions[k] for k in ("Available", "Progressing") if k in conditions],
        }
        revision = str(_revision(new_rs)) if new_rs is not None else None

        def change(obj: Obj) -> None:
            if int(obj["metadata"].get("generation", 1)) != generation:
                return
            obj["status"] = status
            if revision and revision != "0":
                obj["metadata"].setdefault("annotations", {})[REVISION] = revision

        self.store.mutate(DEPLOYMENT, meta["namespace"], meta["name"], change)


__all__ = ["REVISION", "Controller", "now_rfc3339", "resolve_int_or_percent", "template_hash"]
