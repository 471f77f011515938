"""The Kubernetes driver: rolling, canary and blue-green Deployment changes, undone from the journal.

Every object is read and its spec journaled (``k8s_saved``) before it is changed, and every
object golive creates is journaled (``k8s_created``) before it is created, so ``undo`` can
put the cluster back exactly from the journal alone, also after a crash and ``resume``.
API calls retry 429/5xx and connection errors (bounded, honouring Retry-After); a 409 on
an update re-reads and re-applies once; any other 4xx is a ``PermanentError`` carrying
the server's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
import urllib3
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_base

from golive.checks.base import Outcome, Verdict
from golive.engine.state import Unit
from golive.errors import DriverError, PermanentError, TransientError
from golive.runbook.models import BlueGreen, Canary, K8sAction, K8sCheck, K8sStep
from golive.runbook.render import render, render_tree

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from golive.engine.runner import Runner
    from golive.inventory import Inventory
    from golive.plan import PlannedStep

__all__ = ["K8sService"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

RETRY_STATUS = {429, 500, 502, 503, 504}
RETRY_ATTEMPTS = 6
RETRY_MAX_S = 60.0
RETRY_AFTER_CAP_S = 30.0
UNDO_WAIT_S = 300.0
WATCH_CHUNK_S = 30
CANARY_SUFFIX = "-canary"
GREEN_SUFFIX = "-green"
COLOR_LABEL = "golive-color"
TRACK_LABEL = "track"
VOLATILE_META = ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink")
CONTROLLER_ANNOTATIONS = ("deployment.kubernetes.io/revision",)


class _NotFound(PermanentError):
    """404: the object (or its namespace) does not exist."""


class _Conflict(Exception):
    """409 on a write: someone changed the object between our read and our write."""


@dataclass
class _Cluster:
    api: client.ApiClient
    apps: client.AppsV1Api
    core: client.CoreV1Api


class _WaitRetryAfter(wait_base):
    """Wait what the server asked for (Retry-After), else back off exponentially."""

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(exc.retry_after, RETRY_AFTER_CAP_S)
        return float(min(0.5 * 2 ** (retry_state.attempt_number - 1), 10.0))


def _server_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except (ValueError, TypeError):
        pass
    return f"{exc.status} {exc.reason}"


def _classify(exc: BaseException) -> BaseException:
    """Turn a client error into TransientError, _Conflict or PermanentError."""
    if isinstance(exc, ApiException):
        if exc.status in RETRY_STATUS or exc.status == 0:
            after = (exc.headers or {}).get("Retry-After") if exc.headers else None
            try:
                retry_after = float(after) if after is not None else None
            except ValueError:
                retry_after = None
            return TransientError(f"kubernetes API {exc.status}: {_server_message(exc)}", retry_after=retry_after)
        if exc.status == 409:
            return _Conflict(_server_message(exc))
        error = _NotFound if exc.status == 404 else PermanentError
        return error(f"kubernetes API {exc.status}: {_server_message(exc)}")
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return TransientError(f"kubernetes API unreachable: {exc}")
    return exc


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as saved for restore: no status, no server-managed metadata."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in VOLATILE_META:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    for key in CONTROLLER_ANNOTATIONS:
        annotations.pop(key, None)
    if not annotations:
        meta.pop("annotations", None)
    return out


def _rolled_out(dep: dict[str, Any]) -> bool:
    spec, status, meta = dep.get("spec") or {}, dep.get("status") or {}, dep.get("metadata") or {}
    want = spec.get("replicas", 1)
    return bool(
        (status.get("observedGeneration") or 0) >= (meta.get("generation") or 0)
        and (status.get("updatedReplicas") or 0) == want
        and (status.get("availableReplicas") or 0) == want
        and (status.get("replicas") or 0) == want
    )


def _progressing_now(dep: dict[str, Any]) -> bool:
    status, meta = dep.get("status") or {}, dep.get("metadata") or {}
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return False
    return any(
        c.get("type") == "Progressing" and c.get("reason") != "ProgressDeadlineExceeded"
        for c in status.get("conditions") or []
    )


def _deadline_exceeded(dep: dict[str, Any]) -> str | None:
    status, meta = dep.get("status") or {}, dep.get("metadata") or {}
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
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


class K8sService:
    """The Kubernetes side of a run, one API client per cluster of the inventory."""

    def __init__(
        self,
        *,
        inventory: Inventory | None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = RETRY_ATTEMPTS,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self.inventory = inventory
        self.sleep = sleep
        self.clock = clock
        self.attempts = attempts
        self.retry_max_s = retry_max_s
        self._clusters: dict[str | None, _Cluster] = {}

    # ------------------------------------------------------------ clients and calls

    def _cluster(self, name: str | None) -> _Cluster:
        if name in self._clusters:
            return self._clusters[name]
        clusters = self.inventory.clusters if self.inventory is not None else {}
        chosen = (
            clusters.get(name)
            if name
            else (clusters.get("default") or (next(iter(clusters.values())) if len(clusters) == 1 else None))
        )
        if name and chosen is None:
            raise PermanentError(f"no cluster {name!r} in golive_clusters; known: {', '.join(clusters) or 'none'}")
        if chosen is None or chosen.kubeconfig is None:
            if os.environ.get("KUBERNETES_SERVICE_HOST"):
                cfg = client.Configuration()
                config.load_incluster_config(client_configuration=cfg)
                api = client.ApiClient(cfg)
            elif chosen is None:
                raise PermanentError("no Kubernetes cluster configured; set golive_clusters in the environment")
            else:
                api = config.new_client_from_config(context=chosen.context)
        else:
            api = config.new_client_from_config(config_file=chosen.kubeconfig, context=chosen.context)
        cluster = _Cluster(api, client.AppsV1Api(api), client.CoreV1Api(api))
        self._clusters[name] = cluster
        return cluster

    def close(self) -> None:
        for cluster in self._clusters.values():
            cluster.api.close()
        self._clusters.clear()

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One API call, retried on transient faults; raises PermanentError, _Conflict or TransientError."""

        def once() -> T:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                mapped = _classify(exc)
                if mapped is exc:
                    raise
                if isinstance(mapped, TransientError):
                    log.warning("k8s_api_retry", call=getattr(fn, "__name__", "?"), error=str(mapped))
                raise mapped from exc

        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.retry_max_s),
            wait=_WaitRetryAfter(),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(once)

    def _read(self, cluster: _Cluster, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        fn = cluster.apps.read_namespaced_deployment if kind == "Deployment" else cluster.core.read_namespaced_service
        try:
            obj = self._call(fn, name, namespace)
        except _NotFound:
            return None
        out: dict[str, Any] = cluster.api.sanitize_for_serialization(obj)
        out.setdefault("apiVersion", "apps/v1" if kind == "Deployment" else "v1")
        out.setdefault("kind", kind)
        return out

    def _need(self, cluster: _Cluster, kind: str, name: str, namespace: str) -> dict[str, Any]:
        obj = self._read(cluster, kind, name, namespace)
        if obj is None:
            raise PermanentError(f"{kind.lower()} {name} not found in namespace {namespace}")
        return obj

    def _patch(self, cluster: _Cluster, kind: str, name: str, namespace: str, body: Any, **kw: Any) -> None:
        fn = cluster.apps.patch_namespaced_deployment if kind == "Deployment" else cluster.core.patch_namespaced_service
        try:
            self._call(fn, name, namespace, body, **kw)
        except _Conflict:
            log.info("k8s_conflict_reapply", kind=kind, name=name)
            self._call(fn, name, namespace, body, **kw)

    def _create(self, cluster: _Cluster, kind: str, namespace: str, body: dict[str, Any], **kw: Any) -> None:
        fn = (
            cluster.apps.create_namespaced_deployment
            if kind == "Deployment"
            else cluster.core.create_namespaced_service
        )
        self._call(fn, namespace, body, **kw)

    def _delete(self, cluster: _Cluster, name: str, namespace: str) -> None:
        with contextlib.suppress(_NotFound):
            self._call(cluster.apps.delete_namespaced_deployment, name, namespace)

    def _replace(self, cluster: _Cluster, saved: dict[str, Any]) -> None:
        """Put ``saved`` back as the whole object, on top of whatever version is current."""
        meta = saved["metadata"]
        kind, name, namespace = saved["kind"], meta["name"], meta.get("namespace") or "default"
        for attempt in (1, 2):
            current = self._read(cluster, kind, name, namespace)
            body = copy.deepcopy(saved)
            if current is None:
                self._create(cluster, kind, namespace, body)
                return
            body["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
            try:
                if kind == "Service":
                    # clusterIP is immutable; keep the live one in case the Service was recreated.
                    body["spec"]["clusterIP"] = current["spec"].get("clusterIP")
                    self._call(cluster.core.replace_namespaced_service, name, namespace, body)
                else:
                    self._call(cluster.apps.replace_namespaced_deployment, name, namespace, body)
                return
            except _Conflict:
                if attempt == 2:
                    raise PermanentError(f"{kind.lower()} {name} kept changing while it was restored") from None

    # ------------------------------------------------------------ waiting

    def wait_rollout(self, cluster: _Cluster, name: str, namespace: str, *, timeout: float) -> dict[str, Any]:
        """Watch a Deployment until it is rolled out; DriverError on its progress deadline or ``timeout``."""
        end = self.clock() + timeout
        last: dict[str, Any] = {}
        fresh = False
        while True:
            left = end - self.clock()
            if left <= 0:
                raise DriverError(
                    f"deployment {name} not rolled out within {timeout:g}s "
                    f"(updated {(last.get('status') or {}).get('updatedReplicas', 0)}, "
                    f"available {(last.get('status') or {}).get('availableReplicas', 0)}, "
                    f"want {(last.get('spec') or {}).get('replicas')})"
                )
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    cluster.apps.list_namespaced_deployment,
                    namespace=namespace,
                    field_selector=f"metadata.name={name}",
                    timeout_seconds=max(1, min(math.ceil(left), WATCH_CHUNK_S)),
                    _request_timeout=min(left, WATCH_CHUNK_S) + 10,
                ):
                    if event.get("type") == "ERROR":
                        break
                    obj = event["object"]
                    dep = obj if isinstance(obj, dict) else cluster.api.sanitize_for_serialization(obj)
                    if event.get("type") == "DELETED":
                        raise DriverError(f"deployment {name} was deleted while golive waited for it")
                    last = dep
                    if _rolled_out(dep):
                        stream.stop()
                        return dep
                    failed = _deadline_exceeded(dep)
                    # A deadline flag left over from before this change is only believed once the
                    # controller was seen progressing on the current generation.
                    fresh = fresh or (failed is None and _progressing_now(dep))
                    if failed and fresh:
                        stream.stop()
                        st = dep.get("status") or {}
                        raise DriverError(
                            f"deployment {name}: ProgressDeadlineExceeded: {failed} (updated "
                            f"{st.get('updatedReplicas', 0)}, available {st.get('availableReplicas', 0)}, "
                            f"want {(dep.get('spec') or {}).get('replicas')})"
                        )
                    if self.clock() >= end:
                        stream.stop()
                        break
            except Exception as exc:
                mapped = _classify(exc)
                if mapped is exc:
                    raise
                if not isinstance(mapped, TransientError):
                    raise mapped from exc
                log.warning("k8s_watch_retry", deployment=name, error=str(mapped))
                self.sleep(min(mapped.retry_after or 1.0, max(0.0, end - self.clock())))
            finally:
                stream.stop()

    # ------------------------------------------------------------ apply

    def apply(self, *, runner: Runner, step: K8sStep, planned: PlannedStep, context: dict[str, Any]) -> None:
        """Carry out a k8s step; StepFailed on any failure (the runner then undoes it)."""
        from golive.engine.runner import StepFailed

        action = step.k8s
        try:
            cluster = self._cluster(action.context)
            timeout = min(action.timeout, step.timeout) if step.timeout else action.timeout
            op = _Op(self, runner=runner, step=step, planned=planned, context=context, cluster=cluster, timeout=timeout)
            op.run()
        except DriverError as exc:
            raise StepFailed(planned.id, str(exc)) from exc

    # ------------------------------------------------------------ undo

    def undo(self, *, runner: Runner, step: K8sStep, planned: PlannedStep, unit: Unit) -> None:
        """Restore what the step's journal entries saved, then delete what it created."""
        cluster = self._cluster(step.k8s.context)
        entries = [e for e in runner.journal.read() if e.get("step") == planned.id]
        saved: dict[tuple[str, str, str], dict[str, Any]] = {}
        for e in entries:
            if e["event"] == "k8s_saved":
                saved.setdefault((e["kind"], e["namespace"], e["name"]), e["spec"])
        created = {
            (e["kind"], e["namespace"], e["name"])
            for e in entries
            if e["event"] == "k8s_created" and (e["kind"], e["namespace"], e["name"]) not in saved
        }
        # Traffic first: point Services back before the pods they would reach change.
        for (kind, namespace, name), spec in saved.items():
            if kind == "Service":
                self._replace(cluster, spec)
                runner.record("k8s_restored", step=planned.id, kind=kind, namespace=namespace, name=name)
        restored = []
        for (kind, namespace, name), spec in saved.items():
            if kind == "Deployment":
                self._replace(cluster, spec)
                restored.append((namespace, name))
                runner.record("k8s_restored", step=planned.id, kind=kind, namespace=namespace, name=name)
        for kind, namespace, name in sorted(created):
            if kind == "Deployment":
                self._delete(cluster, name, namespace)
            else:
                self._call(cluster.core.delete_namespaced_service, name, namespace)
            runner.record("k8s_deleted", step=planned.id, kind=kind, namespace=namespace, name=name)
        for namespace, name in restored:
            self.wait_rollout(cluster, name, namespace, timeout=min(step.k8s.timeout, UNDO_WAIT_S))

    # ------------------------------------------------------------ dry run

    def server_dry_run(self, step: K8sStep, context: dict[str, Any], *, root: Path | None = None) -> list[str]:
        """Send the step's change with dryRun=All; the problems the server names (empty when fine).

        ``root`` is the project root that manifest paths are relative to (default: the cwd).
        """
        action = step.k8s
        problems: list[str] = []
        try:
            cluster = self._cluster(action.context)
            for kind, namespace, name, body, create in _planned_writes(self, cluster, action, context, root):
                try:
                    if create:
                        self._create(cluster, kind, namespace, body, dry_run="All")
                    else:
                        self._patch(cluster, kind, name, namespace, body, dry_run="All")
                except (DriverError, _Conflict) as exc:
                    problems.append(f"{kind.lower()} {name} in {namespace}: {exc}")
        except DriverError as exc:
            problems.append(str(exc))
        return problems

    # ------------------------------------------------------------ probe

    async def probe(self, check: K8sCheck, ctx: dict[str, Any]) -> Verdict:
        """Is the Deployment available, and have none of its pods restarted more than allowed?"""
        return await asyncio.to_thread(self._probe_sync, check)

    def _probe_sync(self, check: K8sCheck) -> Verdict:
        spec = check.k8s
        target = f"deployment/{spec.deployment} in {spec.namespace}"
        limit = "available" + (f", restarts <= {spec.max_restarts}" if spec.max_restarts is not None else "")
        try:
            cluster = self._cluster(spec.context)
            dep = self._read(cluster, "Deployment", spec.deployment, spec.namespace)
        except DriverError as exc:
            return Verdict(Outcome.INCONCLUSIVE, "k8s", target, observed=str(exc), limit=limit)
        if dep is None:
            return Verdict(Outcome.FAIL, "k8s", target, observed="not found", limit=limit)
        status = dep.get("status") or {}
        want = (dep.get("spec") or {}).get("replicas", 1)
        available = status.get("availableReplicas") or 0
        cond: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Available"), {})
        is_available = cond.get("status") == "True" and available == want
        observed = f"{available}/{want} available"
        ok = is_available or not spec.available
        if spec.max_restarts is not None:
            labels = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            selector = ",".join(f"{k}={v}" for k, v in labels.items())
            try:
                pods = self._call(cluster.core.list_namespaced_pod, spec.namespace, label_selector=selector).items
            except DriverError as exc:
                return Verdict(Outcome.INCONCLUSIVE, "k8s", target, observed=str(exc), limit=limit)
            restarts = max(
                (sum(cs.restart_count or 0 for cs in (p.status.container_statuses or [])) for p in pods if p.status),
                default=0,
            )
            observed += f", max restarts {restarts}"
            ok = ok and restarts <= spec.max_restarts
        return Verdict(Outcome.PASS if ok else Outcome.FAIL, "k8s", target, observed=observed, limit=limit)


# ---------------------------------------------------------------- helpers for one step


def _containers_patch(template: dict[str, Any], image: str | dict[str, str]) -> list[dict[str, str]]:
    containers = (template.get("spec") or {}).get("containers") or []
    if isinstance(image, str):
        if not containers:
            raise PermanentError("the deployment's pod template has no container to set the image of")
        return [{"name": containers[0]["name"], "image": image}]
    names = {c["name"] for c in containers}
    unknown = sorted(set(image) - names)
    if unknown:
        raise PermanentError(
            f"no container {', '.join(unknown)} in the pod template; containers: {', '.join(sorted(names))}"
        )
    return [{"name": n, "image": i} for n, i in image.items()]


def _with_images(template: dict[str, Any], image: str | dict[str, str] | None) -> dict[str, Any]:
    out = copy.deepcopy(template)
    if image is None:
        return out
    wanted = {c["name"]: c["image"] for c in _containers_patch(template, image)}
    for c in out["spec"]["containers"]:
        if c["name"] in wanted:
            c["image"] = wanted[c["name"]]
    return out


def _sibling(
    stable: dict[str, Any], *, suffix: str, label: tuple[str, str], image: Any, replicas: int
) -> dict[str, Any]:
    """A Deployment next to ``stable``: same template with the new image and one extra label."""
    meta = stable["metadata"]
    spec = copy.deepcopy(stable["spec"])
    spec["template"] = _with_images(spec["template"], image)
    spec["template"].setdefault("metadata", {}).setdefault("labels", {})[label[0]] = label[1]
    spec["selector"] = copy.deepcopy(spec.get("selector") or {})
    spec["selector"].setdefault("matchLabels", {})[label[0]] = label[1]
    spec["replicas"] = replicas
    spec.pop("paused", None)
    labels = dict(meta.get("labels") or {})
    labels[label[0]] = label[1]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": meta["name"] + suffix, "namespace": meta.get("namespace"), "labels": labels},
        "spec": spec,
    }


def _rendered_image(action: K8sAction, context: dict[str, Any]) -> str | dict[str, str] | None:
    if action.image is None:
        return None
    if isinstance(action.image, str):
        return render(action.image, context)
    rendered: dict[str, str] = render_tree(dict(action.image), context)
    return rendered


def _load_manifest(root: Path, manifest: str, context: dict[str, Any]) -> list[dict[str, Any]]:
    path = root / render(manifest, context)
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise PermanentError(f"cannot read manifest {path}: {exc}") from None
    out = []
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") not in ("Deployment", "Service"):
            kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
            raise PermanentError(f"manifest {path}: golive applies Deployments and Services, not {kind}")
        out.append(doc)
    return out


def _planned_writes(
    svc: K8sService, cluster: _Cluster, action: K8sAction, context: dict[str, Any], root: Path | None = None
) -> list[tuple[str, str, str, Any, bool]]:
    """(kind, namespace, name, body, create?) for each write the step would make first."""
    ns = action.namespace
    image = _rendered_image(action, context)
    writes: list[tuple[str, str, str, Any, bool]] = []
    if action.manifest is not None:
        for doc in _load_manifest(root or Path.cwd(), action.manifest, context):
            name = doc["metadata"]["name"]
            dns = doc["metadata"].get("namespace") or ns
            exists = svc._read(cluster, doc["kind"], name, dns) is not None
            writes.append((doc["kind"], dns, name, doc, not exists))
    if action.deployment is not None and action.manifest is None:
        stable = svc._need(cluster, "Deployment", action.deployment, ns)
        if isinstance(action.strategy, Canary):
            body = _sibling(stable, suffix=CANARY_SUFFIX, label=(TRACK_LABEL, "canary"), image=image, replicas=1)
            writes.append(("Deployment", ns, body["metadata"]["name"], body, True))
        elif isinstance(action.strategy, BlueGreen):
            body = _sibling(stable, suffix=GREEN_SUFFIX, label=(COLOR_LABEL, "green"), image=image, replicas=1)
            writes.append(("Deployment", ns, body["metadata"]["name"], body, True))
        else:
            writes.append(("Deployment", ns, action.deployment, _rolling_patch(stable, action, image), False))
    if action.service is not None and action.selector is not None:
        writes.append(("Service", ns, action.service, {"spec": {"selector": action.selector}}, False))
    return writes


def _rolling_patch(stable: dict[str, Any], action: K8sAction, image: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if image is not None:
        spec["template"] = {"spec": {"containers": _containers_patch(stable["spec"]["template"], image)}}
    if action.replicas is not None:
        spec["replicas"] = action.replicas
    return {"spec": spec}


class _Op:
    """One k8s step being applied: saves, changes, waits and gates, journaling as it goes."""

    def __init__(
        self,
        svc: K8sService,
        *,
        runner: Runner,
        step: K8sStep,
        planned: PlannedStep,
        context: dict[str, Any],
        cluster: _Cluster,
        timeout: float,
    ) -> None:
        self.svc, self.runner, self.step, self.planned = svc, runner, step, planned
        self.context, self.cluster, self.timeout = context, cluster, timeout
        self.action = step.k8s
        self.ns = step.k8s.namespace
        self._marked = False

    # journal ------------------------------------------------------------

    def _mark(self) -> None:
        if not self._marked:
            self.runner.units.append(Unit(self.planned.id, None, ()))
            self.runner.record("unit_applied", step=self.planned.id)
            self._marked = True

    def save(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        namespace = namespace or self.ns
        obj = self.svc._need(self.cluster, kind, name, namespace)
        spec = _strip(obj)
        spec["metadata"]["namespace"] = namespace
        self.runner.record("k8s_saved", step=self.planned.id, kind=kind, namespace=namespace, name=name, spec=spec)
        self._mark()
        return obj

    def created(self, kind: str, name: str, namespace: str | None = None) -> None:
        namespace = namespace or self.ns
        self.runner.record("k8s_created", step=self.planned.id, kind=kind, namespace=namespace, name=name)
        self._mark()

    def gates(self) -> None:
        self.runner._gate(list(self.step.verify), planned=self.planned, hosts=[], batch=None, context=self.context)

    def wait(self, name: str, namespace: str | None = None) -> None:
        self.svc.wait_rollout(self.cluster, name, namespace or self.ns, timeout=self.timeout)

    # strategies ---------------------------------------------------------

    def run(self) -> None:
        action = self.action
        image = _rendered_image(action, self.context)
        if action.manifest is not None:
            self.manifest()
        elif action.deployment is not None:
            if isinstance(action.strategy, Canary):
                self.canary(image, action.strategy.canary)
            elif isinstance(action.strategy, BlueGreen):
                self.blue_green(image, action.strategy.blue_green.service, action.strategy.blue_green.bake)
            else:
                self.rolling(image)
        if action.service is not None and action.selector is not None:
            self.switch(action.service, action.selector)
            if action.deployment is None and action.manifest is None:
                self.gates()

    def rolling(self, image: Any) -> None:
        name = self.action.deployment
        assert name is not None
        stable = self.save("Deployment", name)
        self.svc._patch(self.cluster, "Deployment", name, self.ns, _rolling_patch(stable, self.action, image))
        self.wait(name)
        self.gates()

    def canary(self, image: Any, stages: list[int]) -> None:
        name = self.action.deployment
        assert name is not None
        stable = self.save("Deployment", name)
        total = int(stable["spec"].get("replicas", 1) if self.action.replicas is None else self.action.replicas)
        canary_name = name + CANARY_SUFFIX
        for percent in stages:
            if percent >= 100:
                break
            canary_n = max(1, math.ceil(total * percent / 100))
            stable_n = max(0, total - canary_n)
            if self.svc._read(self.cluster, "Deployment", canary_name, self.ns) is None:
                self.created("Deployment", canary_name)
                body = _sibling(
                    stable, suffix=CANARY_SUFFIX, label=(TRACK_LABEL, "canary"), image=image, replicas=canary_n
                )
                self.svc._create(self.cluster, "Deployment", self.ns, body)
            else:
                self.svc._patch(self.cluster, "Deployment", canary_name, self.ns, {"spec": {"replicas": canary_n}})
            # The canary must be ready before stable gives up capacity.
            self.wait(canary_name)
            self.svc._patch(self.cluster, "Deployment", name, self.ns, {"spec": {"replicas": stable_n}})
            self.wait(name)
            self.runner.record(
                "canary_stage",
                step=self.planned.id,
                percent=percent,
                canary_replicas=canary_n,
                stable_replicas=stable_n,
            )
            self.gates()
        patch = _rolling_patch(stable, self.action, image)
        patch["spec"]["replicas"] = total
        self.svc._patch(self.cluster, "Deployment", name, self.ns, patch)
        self.wait(name)
        self.svc._delete(self.cluster, canary_name, self.ns)
        self.runner.record("canary_stage", step=self.planned.id, percent=100, canary_replicas=0, stable_replicas=total)
        self.gates()

    def blue_green(self, image: Any, service: str, bake: float) -> None:
        name = self.action.deployment
        assert name is not None
        stable = self.svc._need(self.cluster, "Deployment", name, self.ns)
        total = int(stable["spec"].get("replicas", 1) if self.action.replicas is None else self.action.replicas)
        green = _sibling(stable, suffix=GREEN_SUFFIX, label=(COLOR_LABEL, "green"), image=image, replicas=total)
        green_name = green["metadata"]["name"]
        self.save("Service", service)
        if self.svc._read(self.cluster, "Deployment", green_name, self.ns) is not None:
            self.save("Deployment", green_name)
            self.svc._replace(self.cluster, green)
        else:
            self.created("Deployment", green_name)
            self.svc._create(self.cluster, "Deployment", self.ns, green)
        self.wait(green_name)
        self.gates()
        selector = dict(green["spec"]["template"]["metadata"]["labels"])
        self._set_selector(service, selector)
        self.runner.record("k8s_switched", step=self.planned.id, service=service, selector=selector)
        if bake > 0:
            self.runner.record("bake_started", step=self.planned.id, batch=None, seconds=bake)
            how = self.runner.wait(bake, promotable=True)
            self.runner.record("bake_done", step=self.planned.id, batch=None, how=how)

    def switch(self, service: str, selector: dict[str, str]) -> None:
        self.save("Service", service)
        self._set_selector(service, selector)
        self.runner.record("k8s_switched", step=self.planned.id, service=service, selector=selector)

    def _set_selector(self, service: str, selector: dict[str, str]) -> None:
        # A JSON patch replaces the whole map; a merge patch would keep old keys.
        body = [{"op": "replace", "path": "/spec/selector", "value": selector}]
        self.svc._patch(self.cluster, "Service", service, self.ns, body)

    def manifest(self) -> None:
        assert self.action.manifest is not None
        docs = _load_manifest(self.runner.root, self.action.manifest, self.context)
        deployments: list[tuple[str, str]] = []
        for doc in docs:
            kind, name = doc["kind"], doc["metadata"]["name"]
            ns = doc["metadata"].get("namespace") or self.ns
            if self.svc._read(self.cluster, kind, name, ns) is None:
                self.created(kind, name, ns)
                self.svc._create(self.cluster, kind, ns, doc)
            else:
                self.save(kind, name, ns)
                self.svc._patch(self.cluster, kind, name, ns, doc)
            if kind == "Deployment":
                deployments.append((ns, name))
        for ns, name in deployments:
            self.wait(name, ns)
        self.gates()
