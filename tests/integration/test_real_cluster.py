"""The Kubernetes driver against a real cluster: off unless KUBECONFIG and GOLIVE_TEST_NAMESPACE are set.

The tests create one Deployment named ``golive-rt-<random>`` in the namespace
GOLIVE_TEST_NAMESPACE and delete it again; they touch nothing else. The images default to
small pause images; set GOLIVE_TEST_IMAGE_V1/_V2 for clusters that cannot pull them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kit import cluster_env

pytestmark = [
    pytest.mark.realcluster,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG is not set: no real cluster to test"),
    pytest.mark.skipif(
        not os.environ.get("GOLIVE_TEST_NAMESPACE"), reason="GOLIVE_TEST_NAMESPACE is not set: no namespace to use"
    ),
]

V1 = os.environ.get("GOLIVE_TEST_IMAGE_V1", "registry.k8s.io/pause:3.9")
V2 = os.environ.get("GOLIVE_TEST_IMAGE_V2", "registry.k8s.io/pause:3.10")
ROLLOUT_S = 300


@pytest.fixture
def namespace() -> str:
    return os.environ["GOLIVE_TEST_NAMESPACE"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose env ``real`` has the cluster of $KUBECONFIG (its current context) as default."""
    from kubernetes import config

    kubeconfig = os.environ["KUBECONFIG"].split(os.pathsep)[0]
    _, current = config.list_kube_config_contexts(config_file=kubeconfig)
    return cluster_env(tmp_path, "real", kubeconfig=kubeconfig, context=current["name"], host="local")


@pytest.fixture
def deployment(namespace: str) -> Iterator[str]:
    """A one-replica Deployment at V1, rolled out; deleted afterwards whatever happened."""
    from kubernetes import client, config

    name = f"golive-rt-{secrets.token_hex(3)}"
    api = config.new_client_from_config()
    apps = client.AppsV1Api(api)
    labels = {"app": name}
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "progressDeadlineSeconds": 120,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": V1}]}},
        },
    }
    apps.create_namespaced_deployment(namespace, body)  # type: ignore[arg-type]
    try:
        yield name
    finally:
        with contextlib.suppress(client.ApiException):
            apps.delete_namespaced_deployment(name, namespace)
        api.close()


def test_a_rolling_update_on_a_real_cluster_goes_out_and_rollback_restores_the_saved_spec(
    project: Path, namespace: str, deployment: str, tmp_path: Path
) -> None:
    """A rolling update reaches V2 and is rolled out; rollback replaces the spec saved before the step."""
    from kubernetes import client

    from golive.drivers.k8s import K8sDriver
    from golive.engine.journal import Journal
    from golive.engine.runner import Runner
    from golive.engine.services import build_services
    from golive.inventory import load_inventory
    from golive.plan import build_plan
    from golive.runbook.load import parse_runbook

    inventory = load_inventory(root=project, env="real")
    k8s = K8sDriver(inventory=inventory)
    try:
        apps, _ = k8s.clients(None)
        k8s.wait_rollout(None, namespace, deployment, timeout=ROLLOUT_S)

        def spec() -> dict[str, Any]:
            dep = apps.read_namespaced_deployment(deployment, namespace)
            out: dict[str, Any] = client.ApiClient().sanitize_for_serialization(dep.spec)
            return out

        before = spec()
        text = (
            "name: real-cluster\nsteps:\n  - id: roll\n"
            f'    k8s: {{deployment: {deployment}, namespace: {namespace}, image: "{V2}", timeout: {ROLLOUT_S}s}}\n'
        )
        loaded = parse_runbook(text, file=str(project / "real.yml"))
        runner = Runner(
            plan=build_plan(loaded, root=project, inventory=inventory),
            runbook=loaded.runbook,
            journal=Journal(tmp_path / "journal.jsonl"),
            services=build_services(inventory=inventory, work_dir=tmp_path, k8s=k8s),
            root=project,
            run_id="real",
            initiator="tester",
        )
        assert runner.start() == 0
        assert spec()["template"]["spec"]["containers"][0]["image"] == V2

        assert runner.rollback("round trip") is True
        assert spec() == before
        k8s.wait_rollout(None, namespace, deployment, timeout=ROLLOUT_S)
    finally:
        k8s.close()
