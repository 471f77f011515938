"""The Kubernetes driver's error handling and rollout reading, without a cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from golive.drivers.k8s import K8sDriver
from golive.drivers.k8s.api import KubeApi
from golive.drivers.k8s.objects import sibling, strip
from golive.drivers.k8s.rollout import deadline_exceeded, rolled_out
from golive.errors import PermanentError, TransientError


def api_error(status: int, message: str = "boom", retry_after: str | None = None) -> ApiException:
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"kind": "Status", "message": message})
    exc.headers = {"Retry-After": retry_after} if retry_after else {}
    return exc


class Flaky:
    """Raises the given errors in turn, then answers ``ok``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def service(slept: list[float], attempts: int = 4) -> KubeApi:
    return K8sDriver(inventory=None, sleep=slept.append, attempts=attempts).api


def test_retry_after_is_honoured_for_429_and_503() -> None:
    """429 and 503 are retried, waiting what Retry-After says."""
    slept: list[float] = []
    fn = Flaky(api_error(429, retry_after="2"), api_error(503, retry_after="1"))
    assert service(slept).call(fn) == "ok"
    assert fn.calls == 3
    assert slept == [2.0, 1.0]


def test_retries_are_bounded() -> None:
    """A server that keeps answering 500 gives up after the attempt limit with a TransientError."""
    slept: list[float] = []
    fn = Flaky(*[api_error(500) for _ in range(10)])
    with pytest.raises(TransientError):
        service(slept, attempts=3).call(fn)
    assert fn.calls == 3


def test_forbidden_is_permanent_with_the_server_message() -> None:
    """A 403 is not retried and carries the server's Status message."""
    slept: list[float] = []
    fn = Flaky(api_error(403, 'deployments "web" is forbidden'))
    with pytest.raises(PermanentError, match="forbidden"):
        service(slept).call(fn)
    assert fn.calls == 1
    assert slept == []


def test_connection_errors_are_retried() -> None:
    """A refused connection is a transient fault."""
    slept: list[float] = []
    fn = Flaky(ConnectionRefusedError("refused"))
    assert service(slept).call(fn) == "ok"
    assert len(slept) == 1


def dep(**status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": 2}, "spec": {"replicas": 3}, "status": {"observedGeneration": 2, **status}}


def test_rollout_done_needs_every_replica_updated_and_available() -> None:
    """Rolled out means observed generation caught up and updated == available == replicas."""
    assert rolled_out(dep(replicas=3, updatedReplicas=3, availableReplicas=3))
    assert not rolled_out(dep(replicas=4, updatedReplicas=3, availableReplicas=3))
    assert not rolled_out({**dep(replicas=3, updatedReplicas=3, availableReplicas=3), "metadata": {"generation": 3}})


def test_deadline_counts_only_while_a_template_rollout_is_stuck() -> None:
    """ProgressDeadlineExceeded fails a rollout with unready new pods, not a pure scale."""
    cond = [{"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "timed out"}]
    assert deadline_exceeded(dep(replicas=4, updatedReplicas=1, availableReplicas=3, conditions=cond)) == "timed out"
    assert deadline_exceeded(dep(replicas=3, updatedReplicas=3, availableReplicas=3, conditions=cond)) is None


def test_saved_spec_drops_server_fields() -> None:
    """The journaled copy has no status, resourceVersion, uid or revision annotation."""
    obj = {
        "metadata": {
            "name": "web",
            "resourceVersion": "7",
            "uid": "u",
            "creationTimestamp": "t",
            "annotations": {"deployment.kubernetes.io/revision": "2"},
        },
        "spec": {"replicas": 3},
        "status": {"replicas": 3},
    }
    assert strip(obj) == {"metadata": {"name": "web"}, "spec": {"replicas": 3}}


def test_sibling_gets_new_image_and_its_own_label_in_selector_and_pods() -> None:
    """A canary copies the stable template with the new image and track=canary on selector and pods."""
    stable: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "a", "image": "v1"}]},
            },
        },
    }
    canary = sibling(stable, suffix="-canary", label=("track", "canary"), image="v2", replicas=1)
    assert canary["metadata"]["name"] == "web-canary"
    assert canary["spec"]["selector"]["matchLabels"] == {"app": "web", "track": "canary"}
    assert canary["spec"]["template"]["metadata"]["labels"] == {"app": "web", "track": "canary"}
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "v2"
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == "v1"


def test_a_missing_kubeconfig_is_named_with_where_it_is_set(tmp_path: Path) -> None:
    """A cluster whose kubeconfig is not there fails the step naming the file and setting (it was a traceback)."""
    from types import SimpleNamespace

    from golive.drivers.k8s.api import KubeApi
    from golive.errors import PermanentError
    from golive.inventory import Cluster

    missing = tmp_path / "kubeconfig"
    inv = SimpleNamespace(clusters={"default": Cluster(name="default", kubeconfig=str(missing), context="test")})
    with pytest.raises(
        PermanentError, match=rf"kubeconfig {missing} of cluster 'default' does not exist.*golive_clusters"
    ):
        KubeApi(inventory=inv).cluster(None)  # type: ignore[arg-type]
    missing.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    with pytest.raises(PermanentError, match=rf"kubeconfig {missing} of cluster 'default': .*context.*test"):
        KubeApi(inventory=inv).cluster(None)  # type: ignore[arg-type]


def test_a_burst_of_nine_429s_met_by_one_caller_alone_is_waited_out() -> None:
    """The chaos row's storm of 429s can all reach one caller (nothing else asks the API meanwhile): the
    default attempts (client-go's ten for Retry-After) outlast it; six did not."""
    slept: list[float] = []
    fn = Flaky(*[api_error(429, retry_after="1") for _ in range(9)])
    assert K8sDriver(inventory=None, sleep=slept.append).api.call(fn) == "ok"
    assert fn.calls == 10 and slept == [1.0] * 9


def test_a_restore_rereads_and_replaces_through_a_run_of_conflicts() -> None:
    """Putting a saved object back meets 409s while others write it: it reads the object again and replaces
    it on top of the new version, a bounded number of times (it was twice)."""
    from types import SimpleNamespace

    slept: list[float] = []
    api = K8sDriver(inventory=None, sleep=slept.append).api
    versions = iter(range(1, 100))
    replaced: list[str] = []
    conflicts = Flaky(*[api_error(409, "the object has been modified") for _ in range(4)])

    def replace(name: str, namespace: str, body: dict[str, Any], **kw: Any) -> None:
        conflicts()
        replaced.append(body["metadata"]["resourceVersion"])

    api.read = lambda cluster, kind, name, ns: {"metadata": {"resourceVersion": str(next(versions))}}  # type: ignore[method-assign]
    cluster = SimpleNamespace(apps=SimpleNamespace(replace_namespaced_deployment=replace))
    saved = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"}, "spec": {}}
    api.replace(cluster, saved)  # type: ignore[arg-type]
    assert conflicts.calls == 5 and replaced == ["5"]
