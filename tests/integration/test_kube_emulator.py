"""The Kubernetes API emulator against the unchanged official client and kubectl.

One emulator process serves the whole module; it is stopped by PID at the end, which
also stops every pod process it started.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kit import deployment, free_port
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from golive_lab.kube_emulator import EmulatorProcess, start

pytestmark = [pytest.mark.lab, pytest.mark.timeout(120)]

WAIT_S = 30


def rolled_out(dep: client.V1Deployment) -> bool:
    status, want = dep.status, dep.spec.replicas
    return bool(
        status is not None
        and (status.observed_generation or 0) >= dep.metadata.generation
        and (status.updated_replicas or 0) == want
        and (status.replicas or 0) == want
        and (status.available_replicas or 0) == want
    )


def progressing_reason(dep: client.V1Deployment) -> str | None:
    for condition in (dep.status.conditions if dep.status else None) or []:
        if condition.type == "Progressing":
            return str(condition.reason)
    return None


def watch_deployment(
    apps: client.AppsV1Api, name: str, done: Callable[[client.V1Deployment], bool], *, timeout: int = WAIT_S
) -> tuple[client.V1Deployment, list[str]]:
    """Follow a Deployment with a watch until ``done`` holds; returns it and the event types seen."""
    seen: list[str] = []
    stream = watch.Watch()
    for event in stream.stream(
        apps.list_namespaced_deployment,
        namespace="default",
        field_selector=f"metadata.name={name}",
        timeout_seconds=timeout,
    ):
        seen.append(event["type"])
        if done(event["object"]):
            stream.stop()
            return event["object"], seen
    pytest.fail(f"deployment {name} did not reach the expected state within {timeout} s; events: {seen}")


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode().strip())


def scrape_targets(emulator: EmulatorProcess, *, deployment: str, expected: dict[str, str]) -> dict[str, str]:
    """Pod -> version from the file_sd file, once it shows ``expected`` (the kubelet writes it shortly after)."""
    found: dict[str, str] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        targets = json.loads(emulator.sd_file.read_text())
        found = {t["labels"]["pod"]: t["labels"]["version"] for t in targets if t["labels"]["deployment"] == deployment}
        if found == expected:
            break
        time.sleep(0.1)
    return found


def test_rolling_update_creates_new_replicaset_with_revisions(
    apps: client.AppsV1Api, core: client.CoreV1Api, emulator: EmulatorProcess
) -> None:
    """Patching the image rolls to a new ReplicaSet, revision 2, and every pod then serves v2."""
    apps.create_namespaced_deployment("default", deployment("web"))
    watch_deployment(apps, "web", rolled_out)
    apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.local/demo:v2"}]}}}},
    )
    dep, seen = watch_deployment(apps, "web", lambda d: d.metadata.generation == 2 and rolled_out(d))
    assert "MODIFIED" in seen
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert progressing_reason(dep) == "NewReplicaSetAvailable"

    replicasets = apps.list_namespaced_replica_set("default", label_selector="app=web").items
    by_revision = {rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs for rs in replicasets}
    assert set(by_revision) == {"1", "2"}
    assert by_revision["2"].spec.replicas == 3
    assert by_revision["1"].spec.replicas == 0
    new_hash = by_revision["2"].metadata.labels["pod-template-hash"]

    pods = core.list_namespaced_pod("default", label_selector=f"app=web,pod-template-hash={new_hash}").items
    assert len(pods) == 3
    assert {http_get(f"http://{pod.status.pod_ip}:8080/version") for pod in pods} == {"v2"}
    expected = {pod.metadata.name: "v2" for pod in pods}
    assert scrape_targets(emulator, deployment="web", expected=expected) == expected


def test_rollback_reuses_old_replicaset_and_bumps_its_revision(apps: client.AppsV1Api) -> None:
    """Returning to an earlier template reuses its ReplicaSet, which gets the next revision."""
    apps.create_namespaced_deployment("default", deployment("undo", replicas=1))
    watch_deployment(apps, "undo", rolled_out)
    first = apps.list_namespaced_replica_set("default", label_selector="app=undo").items[0].metadata.name
    image_patch = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": ""}]
    for image in ("registry.local/demo:v2", "registry.local/demo:v1"):
        image_patch[0]["value"] = image
        apps.patch_namespaced_deployment("undo", "default", image_patch)
        watch_deployment(
            apps, "undo", lambda d, want=image: rolled_out(d) and d.spec.template.spec.containers[0].image == want
        )
    replicasets = apps.list_namespaced_replica_set("default", label_selector="app=undo").items
    revisions = {rs.metadata.name: rs.metadata.annotations["deployment.kubernetes.io/revision"] for rs in replicasets}
    assert len(revisions) == 2
    assert revisions[first] == "3"
    dep = apps.read_namespaced_deployment("undo", "default")
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "3"


def test_bad_image_ends_with_progress_deadline_exceeded(apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    """A -bad image never gets ready, so the rollout stops with ProgressDeadlineExceeded."""
    apps.create_namespaced_deployment("default", deployment("bad", replicas=1, deadline=3))
    watch_deployment(apps, "bad", rolled_out)
    apps.patch_namespaced_deployment(
        "bad",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.local/demo:v2-bad"}]}}}},
    )
    dep, _ = watch_deployment(apps, "bad", lambda d: progressing_reason(d) == "ProgressDeadlineExceeded")
    assert dep.status.updated_replicas == 1
    assert dep.status.available_replicas == 1
    pods = core.list_namespaced_pod("default", label_selector="app=bad").items
    readiness = {pod.spec.containers[0].image: pod.status.container_statuses[0].ready for pod in pods}
    assert readiness == {"registry.local/demo:v1": True, "registry.local/demo:v2-bad": False}


def test_watch_from_resource_version_sends_only_later_events(core: client.CoreV1Api) -> None:
    """A watch from a list's resourceVersion replays what changed after it, filtered by labels."""
    listed = core.list_namespaced_service("default")
    for name, role in (("watched-a", "watched"), ("watched-b", "other")):
        core.create_namespaced_service(
            "default", {"metadata": {"name": name, "labels": {"role": role}}, "spec": {"ports": [{"port": 18090}]}}
        )
    stream = watch.Watch()
    events = []
    for event in stream.stream(
        core.list_namespaced_service,
        "default",
        label_selector="role=watched",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=5,
    ):
        events.append((event["type"], event["object"].metadata.name))
        stream.stop()
    assert events == [("ADDED", "watched-a")]


def test_dry_run_changes_nothing(apps: client.AppsV1Api) -> None:
    """dryRun=All answers as if applied but stores nothing."""
    created = apps.create_namespaced_deployment("default", deployment("dry", replicas=1), dry_run="All")
    assert created.metadata.name == "dry"
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("dry", "default")
    assert missing.value.status == 404

    apps.create_namespaced_deployment("default", deployment("dry", replicas=1))
    before = apps.read_namespaced_deployment("dry", "default")
    answer = apps.patch_namespaced_deployment("dry", "default", {"spec": {"replicas": 5}}, dry_run="All")
    assert answer.spec.replicas == 5
    after = apps.read_namespaced_deployment("dry", "default")
    assert after.spec.replicas == 1
    assert after.metadata.generation == before.metadata.generation


def test_stale_resource_version_is_a_conflict(core: client.CoreV1Api) -> None:
    """Replacing with an outdated metadata.resourceVersion answers 409 Conflict."""
    core.create_namespaced_service(
        "default",
        {"metadata": {"name": "stale"}, "spec": {"ports": [{"port": 18080}], "selector": {"app": "nothing"}}},
    )
    old = core.read_namespaced_service("stale", "default")
    core.patch_namespaced_service("stale", "default", {"metadata": {"labels": {"touched": "yes"}}})
    with pytest.raises(ApiException) as error:
        core.replace_namespaced_service("stale", "default", old)
    assert error.value.status == 409
    assert json.loads(error.value.body)["reason"] == "Conflict"


def test_existing_name_is_already_exists(core: client.CoreV1Api) -> None:
    """Creating an object twice answers 409 AlreadyExists."""
    body = {"metadata": {"name": "twice"}}
    core.create_namespace(body)
    with pytest.raises(ApiException) as error:
        core.create_namespace(body)
    assert error.value.status == 409
    assert json.loads(error.value.body)["reason"] == "AlreadyExists"


def _without_containers(dep: dict[str, Any]) -> None:
    dep["spec"]["template"]["spec"]["containers"] = []


def _mismatched_selector(dep: dict[str, Any]) -> None:
    dep["spec"]["selector"] = {"matchLabels": {"app": "other"}}


def _negative_replicas(dep: dict[str, Any]) -> None:
    dep["spec"]["replicas"] = -1


def _no_image(dep: dict[str, Any]) -> None:
    del dep["spec"]["template"]["spec"]["containers"][0]["image"]


def _bad_name(dep: dict[str, Any]) -> None:
    dep["metadata"]["name"] = "Bad_Name"


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (_without_containers, "spec.template.spec.containers"),
        (_mismatched_selector, "spec.template.metadata.labels"),
        (_negative_replicas, "spec.replicas"),
        (_no_image, "spec.template.spec.containers[0].image"),
        (_bad_name, "metadata.name"),
    ],
)
def test_invalid_deployment_is_rejected_with_causes(
    apps: client.AppsV1Api, spoil: Callable[[dict[str, Any]], None], field: str
) -> None:
    """An obviously invalid Deployment answers 422 Invalid naming the field in details.causes."""
    body = deployment("invalid", replicas=1)
    spoil(body)
    with pytest.raises(ApiException) as error:
        apps.create_namespaced_deployment("default", body)
    assert error.value.status == 422
    status = json.loads(error.value.body)
    assert status["reason"] == "Invalid"
    assert field in [cause["field"] for cause in status["details"]["causes"]]


def test_missing_namespace_is_not_found(apps: client.AppsV1Api) -> None:
    """Objects cannot be created in a namespace that does not exist."""
    with pytest.raises(ApiException) as error:
        apps.create_namespaced_deployment("nowhere", deployment("lost", replicas=1))
    assert error.value.status == 404
    assert json.loads(error.value.body)["details"]["kind"] == "namespaces"


def test_error_burst_carries_retry_after_then_recovers(core: client.CoreV1Api, faults: EmulatorProcess) -> None:
    """An injected 503 burst answers Status bodies with Retry-After, then requests succeed again."""
    faults.inject(code=503, count=2, retry_after=1)
    # Writes show the burst as it is: the client's HTTP layer retries only reads on Retry-After.
    for _ in range(2):
        with pytest.raises(ApiException) as error:
            core.create_namespace({"metadata": {"name": "burst"}})
        assert error.value.status == 503
        assert error.value.headers["Retry-After"] == "1"
        assert json.loads(error.value.body)["reason"] == "ServiceUnavailable"
    assert core.create_namespace({"metadata": {"name": "burst"}}).metadata.name == "burst"


def test_reads_ride_out_a_burst_by_honouring_retry_after(core: client.CoreV1Api, faults: EmulatorProcess) -> None:
    """A read during a short 429 burst succeeds because the client waits as Retry-After says."""
    faults.inject(code=429, count=1, retry_after=1)
    assert core.list_namespaced_pod("default").kind == "PodList"
    assert faults.admin("GET", "faults")["count"] == 0


def test_conflict_fault_answers_409_once(apps: client.AppsV1Api, faults: EmulatorProcess) -> None:
    """The conflicts fault makes the next update answer 409 and the one after succeed."""
    apps.create_namespaced_deployment("default", deployment("clash", replicas=0))
    faults.inject(conflicts=1)
    with pytest.raises(ApiException) as error:
        apps.patch_namespaced_deployment("clash", "default", {"metadata": {"labels": {"x": "1"}}})
    assert error.value.status == 409
    patched = apps.patch_namespaced_deployment("clash", "default", {"metadata": {"labels": {"x": "1"}}})
    assert patched.metadata.labels["x"] == "1"


def test_forbidden_namespace_answers_403(core: client.CoreV1Api, faults: EmulatorProcess) -> None:
    """A namespace on the forbidden list answers 403 while others still work."""
    core.create_namespace({"metadata": {"name": "locked"}})
    faults.inject(forbidden_namespaces=["locked"])
    with pytest.raises(ApiException) as error:
        core.list_namespaced_pod("locked")
    assert error.value.status == 403
    assert json.loads(error.value.body)["reason"] == "Forbidden"
    assert core.list_namespaced_pod("default").kind == "PodList"


def _versions_through(url: str, *, want: set[str], attempts: int = 60) -> set[str]:
    """Ask a service until it has answered every wanted version (bounded by attempts and time)."""
    seen: set[str] = set()
    deadline = time.monotonic() + WAIT_S
    for _ in range(attempts):
        if time.monotonic() > deadline:
            break
        try:
            seen.add(http_get(url))
        except OSError:
            time.sleep(0.2)
            continue
        if seen >= want and len(seen) >= len(want):
            break
    return seen


def test_service_proxy_follows_selector_switch(apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    """A Service's cluster IP routes to the selected pods and follows a blue-green selector switch."""
    for track, version in (("blue", "v1"), ("green", "v2")):
        labels = {"app": "shop", "track": track}
        apps.create_namespaced_deployment(
            "default", deployment(f"shop-{track}", image=f"registry.local/demo:{version}", replicas=1, labels=labels)
        )
    for track in ("blue", "green"):
        watch_deployment(apps, f"shop-{track}", rolled_out)
    svc = core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "shop"},
            "spec": {"selector": {"app": "shop", "track": "blue"}, "ports": [{"port": 18081, "targetPort": 8080}]},
        },
    )
    assert svc.spec.cluster_ip.startswith("127.2.")
    url = f"http://{svc.spec.cluster_ip}:18081/version"
    assert _versions_through(url, want={"v1"}, attempts=5) == {"v1"}
    core.patch_namespaced_service("shop", "default", {"spec": {"selector": {"track": "green"}}})
    # The proxy follows the switch within a moment; then only green answers.
    assert "v2" in _versions_through(url, want={"v2"}, attempts=20)
    assert {http_get(url) for _ in range(5)} == {"v2"}
    core.patch_namespaced_service("shop", "default", {"spec": {"selector": {"track": None}}})
    assert _versions_through(url, want={"v1", "v2"}) == {"v1", "v2"}


def kubectl(emulator: EmulatorProcess, *args: str, timeout: float = WAIT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(emulator.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "KUBECACHEDIR": str(emulator.state_dir / "kubecache")},
    )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_apply_set_image_and_rollout_status(emulator: EmulatorProcess, tmp_path: Path) -> None:
    """kubectl lists, server-dry-runs, updates and follows a rollout to completion."""
    manifest = tmp_path / "cli.json"
    manifest.write_text(json.dumps(deployment("cli", replicas=2)))
    dry = kubectl(emulator, "apply", "--dry-run=server", "-f", str(manifest))
    assert dry.returncode == 0, dry.stderr
    assert "server dry run" in dry.stdout
    assert kubectl(emulator, "get", "deploy", "cli").returncode != 0

    applied = kubectl(emulator, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    status = kubectl(emulator, "rollout", "status", "deploy/cli", "--timeout=30s")
    assert status.returncode == 0, status.stderr
    assert "successfully rolled out" in status.stdout

    updated = kubectl(emulator, "set", "image", "deploy/cli", "app=registry.local/demo:v2")
    assert updated.returncode == 0, updated.stderr
    status = kubectl(emulator, "rollout", "status", "deploy/cli", "--timeout=30s")
    assert status.returncode == 0, status.stderr

    scaled = kubectl(emulator, "scale", "deploy/cli", "--replicas=1")
    assert scaled.returncode == 0, scaled.stderr
    listing = kubectl(emulator, "get", "deploy", "-A")
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split()[:3] == ["NAMESPACE", "NAME", "READY"]
    assert any(row.split()[:2] == ["default", "cli"] for row in rows)
    manifest.write_text(manifest.read_text().replace("demo:v1", "demo:v3"))
    reapplied = kubectl(emulator, "apply", "-f", str(manifest))
    assert reapplied.returncode == 0, reapplied.stderr
    status = kubectl(emulator, "rollout", "status", "deploy/cli", "--timeout=30s")
    assert status.returncode == 0, status.stderr
    image = kubectl(emulator, "get", "deploy", "cli", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    assert image.stdout == "registry.local/demo:v3"
    contexts = kubectl(emulator, "config", "get-contexts", "-o", "name")
    assert set(contexts.stdout.split()) == {"lab", "staging", "prod"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_create_commands_send_protobuf_that_is_understood(emulator: EmulatorProcess) -> None:
    """kubectl create namespace/deployment and expose (protobuf bodies) create working objects."""
    for args in (
        ("create", "namespace", "cli-ns"),
        ("-n", "cli-ns", "create", "deployment", "made", "--image=registry.local/demo:v1", "--replicas=1"),
        ("-n", "cli-ns", "expose", "deployment", "made", "--port=18086", "--target-port=8080"),
        ("-n", "cli-ns", "rollout", "status", "deploy/made", "--timeout=30s"),
    ):
        done = kubectl(emulator, *args)
        assert done.returncode == 0, done.stderr
    address = kubectl(emulator, "-n", "cli-ns", "get", "svc", "made", "-o", "jsonpath={.spec.clusterIP}").stdout
    assert http_get(f"http://{address}:18086/version") == "v1"


def test_sigterm_stops_every_pod_process(tmp_path: Path) -> None:
    """Stopping an emulator by PID also ends the pod processes it started."""
    handle = start(
        port=free_port(), state_dir=tmp_path / "state", sd_file=tmp_path / "sd.json", kubeconfig=tmp_path / "kc"
    )
    try:
        api = config.new_client_from_config(config_file=str(handle.kubeconfig))
        apps = client.AppsV1Api(api)
        apps.create_namespaced_deployment("default", deployment("short", replicas=2))
        watch_deployment(apps, "short", rolled_out)
        api.close()
        pids = [pod["pid"] for pod in handle.admin("GET", "pods")["pods"]]
        assert len(pids) == 2
    finally:
        assert handle.stop() == 0
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    assert json.loads((tmp_path / "sd.json").read_text()) == []
