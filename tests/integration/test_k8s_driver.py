"""The Kubernetes driver against the lab's API emulator, driven by the real Runner.

One emulator process serves the module and is stopped by PID at the end (which also
stops its pod processes). Each test works on Deployments of its own name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kit import cluster_env, deployment
from kubernetes import client

from golive.drivers.k8s import K8sDriver
from golive.engine.journal import Journal
from golive.engine.runner import Runner
from golive.engine.services import build_services
from golive.inventory import Inventory, load_inventory
from golive.kinds.k8s import K8sKind
from golive.plan import build_plan
from golive.runbook.load import parse_runbook
from golive_lab.kube_emulator import EmulatorProcess

pytestmark = [pytest.mark.lab, pytest.mark.timeout(120)]

V1 = "registry.local/demo:v1"
V2 = "registry.local/demo:v2"
BAD = "registry.local/demo:v2-bad"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorProcess) -> Path:
    root = tmp_path_factory.mktemp("project")
    return cluster_env(root, "test", kubeconfig=emulator.kubeconfig, context="lab", host="app-1")


@pytest.fixture(scope="module")
def inventory(project: Path) -> Inventory:
    return load_inventory(root=project, env="test")


@pytest.fixture()
def k8s(inventory: Inventory) -> Iterator[K8sDriver]:
    service = K8sDriver(inventory=inventory)
    try:
        yield service
    finally:
        service.close()


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def ready(
    k8s: K8sDriver, apps: client.AppsV1Api, name: str, *, replicas: int = 3, deadline: int = 30
) -> dict[str, Any]:
    """Create a Deployment at v1, wait until it is rolled out, return its spec as the server holds it."""
    apps.create_namespaced_deployment(
        "default",
        deployment(name, replicas=replicas),  # type: ignore[arg-type]
    )
    k8s.wait_rollout(None, "default", name, timeout=30)
    if deadline != 30:
        # A short deadline only once v1 is up: slow pod starts on a busy machine must not trip it.
        apps.patch_namespaced_deployment(name, "default", {"spec": {"progressDeadlineSeconds": deadline}})
        k8s.wait_rollout(None, "default", name, timeout=30)
    return spec_of(apps, name)


def spec_of(apps: client.AppsV1Api, name: str) -> dict[str, Any]:
    dep = apps.read_namespaced_deployment(name, "default")
    spec: dict[str, Any] = client.ApiClient().sanitize_for_serialization(dep.spec)
    return spec


def make_runner(project: Path, inventory: Inventory, k8s: K8sDriver, step: str, tmp_path: Path) -> Runner:
    text = f"name: k8s\nsteps:\n{step}"
    loaded = parse_runbook(text, file=str(project / "k8s.yml"))
    plan = build_plan(loaded, root=project, inventory=inventory)
    return Runner(
        plan=plan,
        runbook=loaded.runbook,
        journal=Journal(tmp_path / "journal.jsonl"),
        services=build_services(inventory=inventory, work_dir=tmp_path, k8s=k8s),
        root=project,
        run_id="r1",
        initiator="alice",
    )


def events(runner: Runner, name: str) -> list[dict[str, Any]]:
    return [e for e in runner.journal.read() if e["event"] == name]


def undo_records(runner: Runner, what: str) -> list[dict[str, Any]]:
    """What the step saved for undo (``saved`` specs, ``created`` objects), as journaled before each change."""
    return [e["record"] for e in events(runner, "undo_saved") if e["record"]["what"] == what]


def names(apps: client.AppsV1Api, prefix: str) -> set[str]:
    found = {str(d.metadata.name) for d in apps.list_namespaced_deployment("default").items if d.metadata}
    return {n for n in found if n.startswith(prefix)}


def test_rolling_update_to_good_image_succeeds(
    project: Path, inventory: Inventory, k8s: K8sDriver, apps: client.AppsV1Api, tmp_path: Path
) -> None:
    """A rolling image change rolls out, passes its k8s gate and journals the spec it replaced."""
    before = ready(k8s, apps, "roll-ok")
    step = f"""
  - id: roll
    k8s: {{deployment: roll-ok, image: "{V2}", timeout: 30s}}
    verify:
      - k8s: {{deployment: roll-ok, max_restarts: 0}}
"""
    runner = make_runner(project, inventory, k8s, step, tmp_path)
    assert runner.start() == 0
    assert spec_of(apps, "roll-ok")["template"]["spec"]["containers"][0]["image"] == V2
    saved = undo_records(runner, "saved")
    assert saved[0]["spec"]["spec"]["template"] == before["template"]
    assert events(runner, "gate_passed")


def test_rolling_update_to_bad_image_fails_and_restores_saved_spec(
    project: Path, inventory: Inventory, k8s: K8sDriver, apps: client.AppsV1Api, tmp_path: Path
) -> None:
    """A -bad image hits the progress deadline; rollback puts the exact saved spec back."""
    before = ready(k8s, apps, "roll-bad", deadline=4)
    step = f"""
  - id: roll
    k8s: {{deployment: roll-bad, image: "{BAD}", replicas: 2, timeout: 30s}}
"""
    runner = make_runner(project, inventory, k8s, step, tmp_path)
    assert runner.start() == 1
    failed = events(runner, "step_failed")[0]
    assert "ProgressDeadlineExceeded" in failed["reason"]
    assert events(runner, "rollback_done")
    after = spec_of(apps, "roll-bad")
    assert after == before
    assert after["replicas"] == 3
    assert after["template"]["spec"]["containers"][0]["image"] == V1


def test_canary_good_image_is_promoted_and_canary_deleted(
    project: Path, inventory: Inventory, k8s: K8sDriver, apps: client.AppsV1Api, tmp_path: Path
) -> None:
    """Canary 10/50/100 with a good image ends with stable on the new image and no canary left."""
    ready(k8s, apps, "can-ok")
    step = f"""
  - id: canary
    k8s: {{deployment: can-ok, image: "{V2}", strategy: {{canary: [10, 50, 100]}}, timeout: 30s}}
    verify:
      - k8s: {{deployment: can-ok}}
"""
    runner = make_runner(project, inventory, k8s, step, tmp_path)
    assert runner.start() == 0
    stages = [(e["percent"], e["canary_replicas"], e["stable_replicas"]) for e in events(runner, "canary_stage")]
    assert stages == [(10, 1, 2), (50, 2, 1), (100, 0, 3)]
    after = spec_of(apps, "can-ok")
    assert after["template"]["spec"]["containers"][0]["image"] == V2
    assert after["replicas"] == 3
    assert names(apps, "can-ok") == {"can-ok"}


def test_canary_bad_image_fails_at_first_stage_and_leaves_stable_as_before(
    project: Path, inventory: Inventory, k8s: K8sDriver, apps: client.AppsV1Api, tmp_path: Path
) -> None:
    """A bad canary fails at 10 %; rollback deletes the canary and stable keeps its saved spec."""
    before = ready(k8s, apps, "can-bad", deadline=4)
    step = f"""
  - id: canary
    k8s: {{deployment: can-bad, image: "{BAD}", strategy: {{canary: [10, 50, 100]}}, timeout: 30s}}
"""
    runner = make_runner(project, inventory, k8s, step, tmp_path)
    assert runner.start() == 1
    assert events(runner, "canary_stage") == []
    assert "can-bad-canary" in events(runner, "step_failed")[0]["reason"]
    assert names(apps, "can-bad") == {"can-bad"}
    assert spec_of(apps, "can-bad") == before


def test_blue_green_switches_after_green_passes_and_rollback_switches_back(
    project: Path,
    inventory: Inventory,
    k8s: K8sDriver,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
    tmp_path: Path,
) -> None:
    """Blue-green moves the Service selector only after green's gate passes; a later failure moves it back."""
    before = ready(k8s, apps, "bg")
    core.create_namespaced_service("default", service("bg"))  # type: ignore[arg-type]
    steps = f"""
  - id: switch
    k8s: {{deployment: bg, image: "{V2}", strategy: {{blue_green: {{service: bg, bake: 1s}}}}, timeout: 30s}}
    verify:
      - k8s: {{deployment: bg-green}}
  - id: breaks
    check:
      - k8s: {{deployment: not-there}}
"""
    runner = make_runner(project, inventory, k8s, steps, tmp_path)
    assert runner.start() == 1
    order = [(e["event"], e.get("step")) for e in runner.journal.read()]
    assert order.index(("gate_passed", "switch")) < order.index(("k8s_switched", "switch"))
    switched = events(runner, "k8s_switched")[0]
    assert switched["selector"] == {"app": "bg", "golive-color": "green"}
    svc = core.read_namespaced_service("bg", "default")
    assert svc.spec is not None and svc.spec.selector == {"app": "bg"}
    assert names(apps, "bg") == {"bg"}
    assert spec_of(apps, "bg") == before


def test_a_503_burst_is_survived(
    project: Path,
    inventory: Inventory,
    k8s: K8sDriver,
    apps: client.AppsV1Api,
    faults: EmulatorProcess,
    tmp_path: Path,
) -> None:
    """Three 503 answers with Retry-After are retried and the rolling update still succeeds."""
    ready(k8s, apps, "burst", replicas=1)
    step = f"""
  - id: roll
    k8s: {{deployment: burst, image: "{V2}", timeout: 30s}}
"""
    runner = make_runner(project, inventory, k8s, step, tmp_path)
    faults.inject(code=503, count=3, retry_after=1)
    assert runner.start() == 0
    assert spec_of(apps, "burst")["template"]["spec"]["containers"][0]["image"] == V2


def test_a_403_fails_at_once_with_the_server_message(
    project: Path, inventory: Inventory, k8s: K8sDriver, faults: EmulatorProcess, tmp_path: Path
) -> None:
    """A forbidden namespace fails the step on the first answer, naming the server's reason."""
    step = f"""
  - id: roll
    k8s: {{deployment: web, namespace: locked, image: "{V2}", timeout: 30s}}
"""
    runner = make_runner(project, inventory, k8s, step, tmp_path)
    faults.inject(forbidden_namespaces=["locked"])
    assert runner.start() == 1
    reason = events(runner, "step_failed")[0]["reason"]
    assert "403" in reason and "forbidden" in reason
    assert undo_records(runner, "saved") == []


def test_server_dry_run_reports_missing_namespace_and_changes_nothing(
    k8s: K8sDriver, apps: client.AppsV1Api, project: Path, inventory: Inventory, tmp_path: Path
) -> None:
    """A server-side dry run names a missing Deployment and leaves a valid change unapplied."""
    before = ready(k8s, apps, "dry", replicas=1)
    good = make_runner(
        project, inventory, k8s, f'  - id: a\n    k8s: {{deployment: dry, image: "{V2}"}}\n', tmp_path
    ).runbook.steps[0]
    missing = make_runner(
        project, inventory, k8s, f'  - id: a\n    k8s: {{deployment: dry, namespace: nope, image: "{V2}"}}\n', tmp_path
    ).runbook.steps[0]
    assert K8sKind().dry_run(good, {}, root=project, driver=k8s) == []
    problems = K8sKind().dry_run(missing, {}, root=project, driver=k8s)
    assert problems and "not found in namespace nope" in problems[0]
    assert spec_of(apps, "dry") == before


def test_a_409_on_update_is_reapplied_once(
    project: Path,
    inventory: Inventory,
    k8s: K8sDriver,
    apps: client.AppsV1Api,
    faults: EmulatorProcess,
    tmp_path: Path,
) -> None:
    """One conflict on the image patch is answered by applying the change again."""
    ready(k8s, apps, "conflict", replicas=1)
    step = f"""
  - id: roll
    k8s: {{deployment: conflict, image: "{V2}", timeout: 30s}}
"""
    runner = make_runner(project, inventory, k8s, step, tmp_path)
    faults.inject(conflicts=1)
    assert runner.start() == 0
    assert spec_of(apps, "conflict")["template"]["spec"]["containers"][0]["image"] == V2


def test_manifest_creates_its_deployment_and_rollback_deletes_it(
    project: Path, inventory: Inventory, k8s: K8sDriver, apps: client.AppsV1Api, tmp_path: Path
) -> None:
    """A manifest step creates what is missing; when a later step fails the created Deployment is removed."""
    manifest = deployment("from-manifest", replicas=1)
    (project / "manifest.yml").write_text(yaml.safe_dump(manifest))
    steps = """
  - id: apply
    k8s: {manifest: manifest.yml, timeout: 30s}
  - id: breaks
    check:
      - k8s: {deployment: not-there}
"""
    runner = make_runner(project, inventory, k8s, steps, tmp_path)
    assert runner.start() == 1
    assert [r["name"] for r in undo_records(runner, "created")] == ["from-manifest"]
    assert events(runner, "rollback_done")
    assert names(apps, "from-manifest") == set()
