"""A stand-in for the engine's side of a k8s step (StepRun), enough to run the k8s kind against the emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from golive.drivers.base import UndoRecord
from golive.drivers.k8s import K8sDriver
from golive.kinds.base import Stage
from golive.runbook.load import parse_runbook
from golive.runbook.models import K8sStep


class StepFailedHere(Exception):
    """What FakeRun.fail returns: the step failed with ``reason``."""


@dataclass
class FakeRun:
    """Applies stages in order and calls ``on_gate`` where the engine would gate; journals into lists."""

    driver_: K8sDriver
    root: Path
    step_id: str = "k8s"
    on_gate: Callable[[Stage], None] = lambda stage: None
    events: list[dict[str, Any]] = field(default_factory=list)
    records: list[UndoRecord] = field(default_factory=list)

    def context(self, **extra: Any) -> dict[str, Any]:
        return {"params": {}, "previous": {}, "env": "test", "run": {"id": "r1"}, "step": {"id": self.step_id}, **extra}

    def record(self, event: str, **fields: Any) -> None:
        self.events.append({"event": event, **fields})

    def save(self, record: UndoRecord) -> None:
        self.records.append(record)

    def saved(self) -> list[UndoRecord]:
        return list(self.records)

    def stages(self, stages: Iterable[Stage]) -> None:
        for stage in stages:
            self.record("stage_started", stage=stage.index, label=stage.label)
            stage.apply()
            if stage.gate:
                self.on_gate(stage)
                self.record("gate_passed", stage=stage.index)
            self.record("stage_done", stage=stage.index, bake=stage.bake)

    def driver(self, name: str) -> Any:
        assert name == "k8s"
        return self.driver_

    def fail(self, reason: str) -> Exception:
        return StepFailedHere(reason)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


def k8s_step(body: str) -> K8sStep:
    """A k8s step from the YAML of its ``k8s:`` mapping (and any other keys of the step)."""
    loaded = parse_runbook(f"name: t\nsteps:\n  - id: k8s\n{body}", file="t.yml")
    step = loaded.runbook.steps[0]
    assert isinstance(step, K8sStep)
    return step


def image_of(apps: client.AppsV1Api, name: str) -> str:
    dep = apps.read_namespaced_deployment(name, "default")
    return str(dep.spec.template.spec.containers[0].image)


def spec_of(apps: client.AppsV1Api, name: str) -> dict[str, Any]:
    dep = apps.read_namespaced_deployment(name, "default")
    spec: dict[str, Any] = client.ApiClient().sanitize_for_serialization(dep.spec)
    return spec


def selector_of(core: client.CoreV1Api, name: str) -> dict[str, str]:
    svc = core.read_namespaced_service(name, "default")
    return dict(svc.spec.selector or {})


def names(apps: client.AppsV1Api, prefix: str) -> set[str]:
    found = {str(d.metadata.name) for d in apps.list_namespaced_deployment("default").items if d.metadata}
    return {n for n in found if n.startswith(prefix)}


def service(name: str, selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": selector or {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
