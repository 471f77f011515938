"""The Kubernetes driver through the driver contract alone (apply, undo, check), and the k8s kind on top of it.

Against the lab's API emulator (one per module, stopped by PID). Each driver case names
the objects it starts from and one change; applying it saves undo records before it
alters or creates anything, undoing them puts every object back exactly, and checking it
changes nothing. Adding a case adds no code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from k8s_kit import FakeRun, StepFailedHere, image_of, k8s_step, names, selector_of, service, spec_of
from kit import cluster_env, deployment
from kubernetes import client

from golive.drivers.k8s import (
    ApplyManifest,
    Change,
    CreateOrReplace,
    K8sDriver,
    RolloutFailed,
    SetImage,
    Switch,
)
from golive.inventory import load_inventory
from golive.kinds.base import Stage, StepUnit
from golive.kinds.k8s import K8sKind
from golive_lab.kube_emulator import EmulatorProcess

pytestmark = [pytest.mark.lab, pytest.mark.timeout(180)]

V1 = "registry.local/demo:v1"
V2 = "registry.local/demo:v2"
BAD = "registry.local/demo:v2-bad"
# The demo app's readiness as a user would declare it: failing 7 s after the container starts.
READINESS = {"httpGet": {"path": "/health", "port": 8080}, "initialDelaySeconds": 4, "periodSeconds": 1}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorProcess) -> Path:
    root = tmp_path_factory.mktemp("project")
    return cluster_env(root, "test", kubeconfig=emulator.kubeconfig, context="lab", host="app-1")


@pytest.fixture()
def driver(project: Path) -> Iterator[K8sDriver]:
    k8s = K8sDriver(inventory=load_inventory(root=project, env="test"))
    try:
        yield k8s
    finally:
        k8s.close()


def with_ns(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "namespace": "default"}}


@dataclass(frozen=True)
class Case:
    name: str
    deployments: tuple[str, ...]  # made at v1 (3 replicas) and rolled out first
    services: tuple[str, ...]  # selecting app=<name>
    change: Callable[[str], Change]  # given the case's name
    saved: tuple[tuple[str, str], ...]  # (what, kind) of each undo record, in order
    applied: Callable[[client.AppsV1Api, client.CoreV1Api, str], bool]


CASES = [
    Case(
        "set-image",
        deployments=("{n}",),
        services=(),
        change=lambda n: SetImage(n, image=V2),
        saved=(("saved", "Deployment"),),
        applied=lambda apps, core, n: image_of(apps, n) == V2,
    ),
    Case(
        "create",
        deployments=(),
        services=(),
        change=lambda n: CreateOrReplace(with_ns(deployment(n, replicas=1))),
        saved=(("created", "Deployment"),),
        applied=lambda apps, core, n: names(apps, n) == {n},
    ),
    Case(
        "replace",
        deployments=("{n}",),
        services=(),
        change=lambda n: CreateOrReplace(with_ns(deployment(n, image=V2, replicas=2))),
        saved=(("saved", "Deployment"),),
        applied=lambda apps, core, n: image_of(apps, n) == V2 and spec_of(apps, n)["replicas"] == 2,
    ),
    Case(
        "switch",
        deployments=(),
        services=("{n}",),
        change=lambda n: Switch(n, {"app": n, "golive-color": "green"}),
        saved=(("saved", "Service"),),
        applied=lambda apps, core, n: selector_of(core, n) == {"app": n, "golive-color": "green"},
    ),
    Case(
        "manifest",
        deployments=(),
        services=("{n}",),
        change=lambda n: ApplyManifest((deployment(f"{n}-m", replicas=1), service(n, {"app": f"{n}-m"}))),
        saved=(("created", "Deployment"), ("saved", "Service")),
        applied=lambda apps, core, n: names(apps, n) == {f"{n}-m"} and selector_of(core, n) == {"app": f"{n}-m"},
    ),
]


def snapshot(apps: client.AppsV1Api, core: client.CoreV1Api, prefix: str) -> dict[str, Any]:
    deps = {n: spec_of(apps, n) for n in sorted(names(apps, prefix))}
    svcs = {
        str(s.metadata.name): dict(s.spec.selector or {})
        for s in core.list_namespaced_service("default").items
        if str(s.metadata.name).startswith(prefix)
    }
    return {"deployments": deps, "services": svcs}


def given(case: Case, n: str, driver: K8sDriver, apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    for name in case.deployments:
        apps.create_namespaced_deployment("default", deployment(name.format(n=n)))  # type: ignore[arg-type]
    for name in case.services:
        core.create_namespaced_service("default", service(name.format(n=n)))  # type: ignore[arg-type]
    for name in case.deployments:
        driver.wait_rollout(None, "default", name.format(n=n), timeout=60)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_apply_saves_before_changing_and_undo_puts_it_back(
    case: Case, driver: K8sDriver, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    """apply saves an undo record per object before changing it; undo restores every object exactly."""
    n = f"ct-{case.name}"
    given(case, n, driver, apps, core)
    before = snapshot(apps, core, n)
    records = []
    result = driver.apply(case.change(n), save=records.append)
    assert result.ok and result.results
    assert [(r.what, r.kind) for r in records] == list(case.saved)
    assert case.applied(apps, core, n)
    undone = driver.undo(records)
    assert undone.ok
    assert snapshot(apps, core, n) == before


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_changes_nothing(case: Case, driver: K8sDriver, apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    """check sends the change with dryRun=All: accepted, and nothing is changed."""
    n = f"ck-{case.name}"
    given(case, n, driver, apps, core)
    before = snapshot(apps, core, n)
    result = driver.check(case.change(n))
    assert result.ok, result.summary()
    assert snapshot(apps, core, n) == before


def test_check_names_what_the_server_refuses(driver: K8sDriver) -> None:
    """A change to a Deployment that is not there comes back as a failed result naming it."""
    result = driver.check(SetImage("web", namespace="nope", image=V2))
    assert not result.ok
    assert "not found in namespace nope" in result.summary()


# ---------------------------------------------------------------- the kind


def release(
    kind: K8sKind, driver: K8sDriver, project: Path, body: str, on_gate: Callable[[Stage], None] = lambda s: None
) -> FakeRun:
    run = FakeRun(driver, project, on_gate=on_gate)
    kind.run(k8s_step(body), run)
    return run


def test_blue_green_alternates_colours_and_leaves_the_live_side_alone(
    project: Path, driver: K8sDriver, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    """v1 -> v2 comes up on green and switches to it; v2 -> v1 comes up on blue, green untouched, and switches back."""
    apps.create_namespaced_deployment("default", deployment("bg", replicas=2))  # type: ignore[arg-type]
    core.create_namespaced_service("default", service("bg"))  # type: ignore[arg-type]
    driver.wait_rollout(None, "default", "bg", timeout=60)
    kind = K8sKind()
    strategy = "strategy: {blue_green: {service: bg, bake: 1s}}, timeout: 60s"

    first = release(kind, driver, project, f'    k8s: {{deployment: bg, image: "{V2}", {strategy}}}\n')
    assert selector_of(core, "bg") == {"app": "bg", "golive-color": "green"}
    assert (image_of(apps, "bg"), image_of(apps, "bg-green")) == (V1, V2)
    switched = first.of("k8s_switched")[0]
    assert (switched["from_color"], switched["to_color"]) == ("blue", "green")

    seen: list[tuple[dict[str, str], str, str]] = []

    def during_verify(stage: Stage) -> None:
        seen.append((selector_of(core, "bg"), image_of(apps, "bg-green"), image_of(apps, "bg")))

    second = release(kind, driver, project, f'    k8s: {{deployment: bg, image: "{V1}", {strategy}}}\n', during_verify)
    assert seen == [({"app": "bg", "golive-color": "green"}, V2, V1)]  # verified on blue while green served
    assert selector_of(core, "bg") == {"app": "bg", "golive-color": "blue"}
    assert (image_of(apps, "bg"), image_of(apps, "bg-green")) == (V1, V2)
    switched = second.of("k8s_switched")[0]
    assert (switched["from_color"], switched["to_color"]) == ("green", "blue")
    assert [s["bake"] for s in second.of("stage_done")] == [0.0, 1.0]

    kind.undo(k8s_step(f'    k8s: {{deployment: bg, image: "{V1}", {strategy}}}\n'), StepUnit("k8s", None), second)
    assert selector_of(core, "bg") == {"app": "bg", "golive-color": "green"}


def test_a_bad_canary_fails_on_readiness_and_undo_leaves_stable_as_before(
    project: Path, driver: K8sDriver, apps: client.AppsV1Api
) -> None:
    """A -bad canary never gets Ready: its wait fails on readiness (no progress deadline) and undo deletes it."""
    body = deployment("cbad", deadline=600)
    body["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = READINESS
    apps.create_namespaced_deployment("default", body)  # type: ignore[arg-type]
    driver.wait_rollout(None, "default", "cbad", timeout=60)
    before = spec_of(apps, "cbad")
    kind = K8sKind()
    step = f'    k8s: {{deployment: cbad, image: "{BAD}", strategy: {{canary: [10, 50, 100]}}, timeout: 120s}}\n'
    run = FakeRun(driver, project)
    with pytest.raises(StepFailedHere) as failed:
        kind.run(k8s_step(step), run)
    cause = failed.value.__cause__
    assert isinstance(cause, RolloutFailed)
    assert (cause.signal, cause.deployment) == ("readiness", "cbad-canary")
    assert "cbad-canary" in str(failed.value)
    assert run.of("canary_stage") == []
    kind.undo(k8s_step(step), StepUnit("k8s", None), run)
    assert names(apps, "cbad") == {"cbad"}
    assert spec_of(apps, "cbad") == before


def test_a_good_canary_goes_through_its_stages_and_is_promoted(
    project: Path, driver: K8sDriver, apps: client.AppsV1Api
) -> None:
    """Canary 10/50/100: a stage per percentage, then stable on the new image at full size and no canary left."""
    apps.create_namespaced_deployment("default", deployment("cgood"))  # type: ignore[arg-type]
    driver.wait_rollout(None, "default", "cgood", timeout=60)
    body = f'    k8s: {{deployment: cgood, image: "{V2}", strategy: {{canary: [10, 50, 100]}}, timeout: 60s}}\n'
    run = release(K8sKind(), driver, project, body)
    stages = [(e["percent"], e["canary_replicas"], e["stable_replicas"]) for e in run.of("canary_stage")]
    assert stages == [(10, 1, 2), (50, 2, 1), (100, 0, 3)]
    assert [(r.what, r.name) for r in run.records] == [("created", "cgood-canary"), ("saved", "cgood")]
    assert image_of(apps, "cgood") == V2 and spec_of(apps, "cgood")["replicas"] == 3
    assert names(apps, "cgood") == {"cgood"}
