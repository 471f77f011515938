"""The Kubernetes API as the driver uses it: one client per cluster, calls retried on transient faults.

API calls retry 429/5xx and connection errors (bounded in attempts and time, honouring
Retry-After); a 409 on a patch re-applies it and on a replace re-reads and replaces, up to
CONFLICT_ATTEMPTS times; any other 4xx is a ``PermanentError`` carrying the server's message.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_base

from golive.errors import NotFoundError, PermanentError, TransientError

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from golive.inventory import Inventory

__all__ = ["Cluster", "Conflict", "KubeApi", "NotFound", "classify"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

RETRY_STATUS = {429, 500, 502, 503, 504}
# As client-go does for Retry-After answers: ten tries, bounded in time by RETRY_MAX_S. With six,
# one caller meeting a burst of six 429s alone (nothing else asking the API meanwhile) gave up.
RETRY_ATTEMPTS = 10
RETRY_MAX_S = 60.0
RETRY_AFTER_CAP_S = 30.0
KINDS = ("Deployment", "Service")


class NotFound(NotFoundError):
    """404: the object (or its namespace) does not exist."""


class Conflict(Exception):
    """409 on a write: someone changed the object between our read and our write."""


@dataclass
class Cluster:
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


def classify(exc: BaseException) -> BaseException:
    """Turn a client error into TransientError, Conflict, NotFound or PermanentError (others unchanged)."""
    if isinstance(exc, ApiException):
        if exc.status in RETRY_STATUS or exc.status == 0:
            after = (exc.headers or {}).get("Retry-After") if exc.headers else None
            try:
                retry_after = float(after) if after is not None else None
            except ValueError:
                retry_after = None
            return TransientError(f"kubernetes API {exc.status}: {_server_message(exc)}", retry_after=retry_after)
        if exc.status == 409:
            return Conflict(_server_message(exc))
        error = NotFound if exc.status == 404 else PermanentError
        return error(f"kubernetes API {exc.status}: {_server_message(exc)}")
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return TransientError(f"kubernetes API unreachable: {exc}")
    return exc


def _known(kind: str) -> None:
    if kind not in KINDS:
        raise PermanentError(f"golive changes Deployments and Services, not {kind}")


# How often one patch is applied again after 409 Conflicts before the conflict stands.
CONFLICT_ATTEMPTS = 8


class KubeApi:
    """Clusters of an inventory by context name, and the calls the driver makes on them."""

    def __init__(
        self,
        *,
        inventory: Inventory | None,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = RETRY_ATTEMPTS,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self.inventory = inventory
        self.sleep = sleep
        self.attempts = attempts
        self.retry_max_s = retry_max_s
        self._clusters: dict[str | None, Cluster] = {}

    # ------------------------------------------------------------ clusters

    def cluster(self, name: str | None) -> Cluster:
        """The cluster a step's ``context`` names (None: the env's only or ``default`` cluster)."""
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
        if chosen is not None and chosen.kubeconfig is not None and not os.path.exists(chosen.kubeconfig):
            raise PermanentError(
                f"kubeconfig {chosen.kubeconfig} of cluster {chosen.name!r} does not exist: fix its path under "
                "golive_clusters in the environment's group_vars, or write the cluster's kubeconfig there "
                "(kubectl config view --raw --minify > FILE)"
            )
        try:
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
        except (config.ConfigException, OSError, ValueError) as exc:
            where = (
                f"kubeconfig {chosen.kubeconfig or '(default: $KUBECONFIG or ~/.kube/config)'}"
                if chosen
                else "in-cluster config"
            )
            named = f" of cluster {chosen.name!r}" if chosen else ""
            raise PermanentError(
                f"{where}{named}: {exc} (context {chosen.context if chosen else None!r}); "
                "check the file and the context named under golive_clusters"
            ) from None
        cluster = Cluster(api, client.AppsV1Api(api), client.CoreV1Api(api))
        self._clusters[name] = cluster
        return cluster

    def close(self) -> None:
        for cluster in self._clusters.values():
            cluster.api.close()
        self._clusters.clear()

    # ------------------------------------------------------------ calls

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One API call, retried on transient faults; raises PermanentError, Conflict or TransientError."""

        def once() -> T:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                mapped = classify(exc)
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

    def read(self, cluster: Cluster, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        """The object as a plain dict (None when it does not exist)."""
        _known(kind)
        fn = cluster.apps.read_namespaced_deployment if kind == "Deployment" else cluster.core.read_namespaced_service
        try:
            obj = self.call(fn, name, namespace)
        except NotFound:
            return None
        out: dict[str, Any] = cluster.api.sanitize_for_serialization(obj)
        out.setdefault("apiVersion", "apps/v1" if kind == "Deployment" else "v1")
        out.setdefault("kind", kind)
        return out

    def need(self, cluster: Cluster, kind: str, name: str, namespace: str) -> dict[str, Any]:
        obj = self.read(cluster, kind, name, namespace)
        if obj is None:
            raise PermanentError(f"{kind.lower()} {name} not found in namespace {namespace}")
        return obj

    def listed(self, cluster: Cluster, fn: Callable[..., Any], namespace: str, selector: str) -> list[dict[str, Any]]:
        """Objects of a list call by label selector, as plain dicts."""
        items = self.call(fn, namespace, label_selector=selector).items or []
        return [cluster.api.sanitize_for_serialization(i) for i in items]

    def patch(self, cluster: Cluster, kind: str, name: str, namespace: str, body: Any, **kw: Any) -> None:
        _known(kind)
        fn = cluster.apps.patch_namespaced_deployment if kind == "Deployment" else cluster.core.patch_namespaced_service
        # A patch carries no resourceVersion: a 409 is another writer racing us, and the same patch
        # applied again is right. Bounded: a storm of conflicts still ends, as a Conflict.
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                self.call(fn, name, namespace, body, **kw)
                return
            except Conflict:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info("k8s_conflict_reapply", kind=kind, name=name, attempt=attempt)
                self.sleep(min(0.1 * attempt, 1.0))

    def create(self, cluster: Cluster, kind: str, namespace: str, body: dict[str, Any], **kw: Any) -> None:
        _known(kind)
        fn = (
            cluster.apps.create_namespaced_deployment
            if kind == "Deployment"
            else cluster.core.create_namespaced_service
        )
        self.call(fn, namespace, body, **kw)

    def delete(self, cluster: Cluster, kind: str, name: str, namespace: str, **kw: Any) -> bool:
        """Delete; False when it was already gone."""
        _known(kind)
        fn = (
            cluster.apps.delete_namespaced_deployment
            if kind == "Deployment"
            else cluster.core.delete_namespaced_service
        )
        try:
            self.call(fn, name, namespace, **kw)
        except NotFound:
            return False
        return True

    def replace(self, cluster: Cluster, saved: dict[str, Any], **kw: Any) -> None:
        """Put ``saved`` back as the whole object, on top of whatever version is current (or create it)."""
        meta = saved["metadata"]
        kind, name, namespace = saved["kind"], meta["name"], meta.get("namespace") or "default"
        _known(kind)
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            current = self.read(cluster, kind, name, namespace)
            body = copy.deepcopy(saved)
            if current is None:
                self.create(cluster, kind, namespace, body, **kw)
                return
            body["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
            try:
                if kind == "Service":
                    # clusterIP is immutable; keep the live one in case the Service was recreated.
                    body["spec"]["clusterIP"] = current["spec"].get("clusterIP")
                    self.call(cluster.core.replace_namespaced_service, name, namespace, body, **kw)
                else:
                    self.call(cluster.apps.replace_namespaced_deployment, name, namespace, body, **kw)
                return
            except Conflict:
                if attempt == CONFLICT_ATTEMPTS:
                    raise PermanentError(f"{kind.lower()} {name} kept changing while it was restored") from None
                log.info("k8s_conflict_reread", kind=kind, name=name, attempt=attempt)
                self.sleep(min(0.1 * attempt, 1.0))
