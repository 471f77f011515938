"""How a ``k8s:`` step is staged: rolling, canary, blue-green, manifest, Service switch.

Each stage changes the cluster through the Kubernetes driver and waits for what it
changed to roll out; the engine then gates and bakes it. Canary stages and a blue-green
release's idle side fail fast when their new pods restart or never become Ready (as many
times as the step's k8s check allows); rolling and manifest steps wait for the progress
deadline, as Kubernetes itself judges them.

- rolling: one stage, the new image on the Deployment.
- canary: a stage per percentage below 100 (the ``-canary`` sibling created, then
  scaled up, and the stable Deployment scaled down by as much), and a last stage that
  puts the new image on the stable Deployment at full size and deletes the canary.
- blue-green: the colour the Service does not select is the idle one (blue: the
  Deployment itself; green: its ``-green`` sibling, created when missing). Stage one
  brings the new version up there and is gated; stage two switches the Service's
  selector to that colour and bakes. The next release goes the other way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from golive.drivers.base import UndoRecord
from golive.drivers.k8s import (
    COLOR_LABEL,
    ApplyManifest,
    Change,
    CreateOrReplace,
    Delete,
    Scale,
    SetImage,
    Switch,
)
from golive.drivers.k8s.objects import sibling
from golive.errors import DriverError, PermanentError
from golive.kinds.base import Stage, StepRun
from golive.runbook.models import BlueGreen, Canary, K8sAction, K8sCheck, K8sStep
from golive.runbook.render import render, render_tree

__all__ = ["Release", "allowed_failures", "first_changes", "rendered_context"]

CANARY_SUFFIX = "-canary"
GREEN_SUFFIX = "-green"
TRACK = ("track", "canary")


def rendered_context(step: K8sStep, context: dict[str, Any]) -> str | None:
    """The cluster (kube context name) the step acts on."""
    return render(step.k8s.context, context) if step.k8s.context else None


def _image(action: K8sAction, context: dict[str, Any]) -> str | dict[str, str] | None:
    if action.image is None:
        return None
    if isinstance(action.image, str):
        return render(action.image, context)
    rendered: dict[str, str] = render_tree(dict(action.image), context)
    return rendered


def _manifest(root: Path, manifest: str, context: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    from golive.runbook.yamlmap import unbounded_issue

    path = root / render(manifest, context)
    try:
        text = path.read_text()
        unbounded = unbounded_issue(text, file=str(path))  # it is sent as JSON: aliases would be expanded
        if unbounded is not None:
            raise PermanentError(f"manifest {unbounded.render()}")
        docs = [d for d in yaml.safe_load_all(text) if d]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PermanentError(f"cannot read manifest {path}: {exc}") from None
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") not in ("Deployment", "Service"):
            kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
            raise PermanentError(f"manifest {path}: golive applies Deployments and Services, not {kind}")
    return tuple(docs)


def allowed_failures(step: K8sStep) -> int:
    """Pod failures a rollout tolerates: the least ``max_restarts`` of the step's k8s checks, else 0."""
    limits = [c.k8s.max_restarts for c in step.verify if isinstance(c, K8sCheck) and c.k8s.max_restarts is not None]
    return min(limits, default=0)


def _need(driver: Any, cluster: str | None, namespace: str, kind: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] | None = driver.read(cluster, namespace, kind, name)
    if obj is None:
        raise PermanentError(f"{kind.lower()} {name} not found in namespace {namespace}")
    return obj


def _colors(service: dict[str, Any]) -> tuple[dict[str, str], str, str]:
    """The Service's selector, the colour it selects (live) and the other one (idle)."""
    selector = dict((service.get("spec") or {}).get("selector") or {})
    live = "green" if selector.get(COLOR_LABEL) == "green" else "blue"
    return selector, live, "blue" if live == "green" else "green"


def first_changes(step: K8sStep, context: dict[str, Any], *, root: Path, driver: Any) -> list[Change]:
    """The step's first write of each object, as a dry run sends them."""
    a, ns, cluster = step.k8s, step.k8s.namespace, rendered_context(step, context)
    image = _image(a, context)
    out: list[Change] = []
    if a.manifest is not None:
        out.append(ApplyManifest(_manifest(root, a.manifest, context), namespace=ns, context=cluster))
    elif a.deployment is not None and isinstance(a.strategy, Canary | BlueGreen):
        stable = _need(driver, cluster, ns, "Deployment", a.deployment)
        if isinstance(a.strategy, Canary):
            out.append(CreateOrReplace(sibling(stable, suffix=CANARY_SUFFIX, label=TRACK, image=image, replicas=1)))
        else:
            svc = _need(driver, cluster, ns, "Service", a.strategy.blue_green.service)
            _, _, idle = _colors(svc)
            if idle == "green":
                body = sibling(stable, suffix=GREEN_SUFFIX, label=(COLOR_LABEL, idle), image=image, replicas=1)
                out.append(CreateOrReplace(body, context=cluster))
            else:
                out.append(SetImage(a.deployment, ns, image, a.replicas, {COLOR_LABEL: idle}, context=cluster))
    elif a.deployment is not None:
        out.append(SetImage(a.deployment, ns, image, a.replicas, context=cluster))
    if a.service is not None and a.selector is not None:
        out.append(Switch(a.service, dict(a.selector), ns, context=cluster))
    return out


class Release:
    """One run of a k8s step: its stages, and the driver calls each makes."""

    def __init__(self, step: K8sStep, run: StepRun) -> None:
        self.step, self.run, self.action = step, run, step.k8s
        self.context = run.context()
        self.cluster = rendered_context(step, self.context)
        self.ns = step.k8s.namespace
        self.image = _image(step.k8s, self.context)
        self.driver = run.driver("k8s")
        self.timeout = min(step.k8s.timeout, step.timeout) if step.timeout else step.k8s.timeout
        self.allowed = allowed_failures(step)
        self._saved: set[tuple[str, str | None, str]] = set()

    # ------------------------------------------------------------ driver calls

    def _save(self, record: UndoRecord) -> None:
        # Undo needs each object as the step first found it; later saves of it would only be noise.
        if record.key() not in self._saved:
            self._saved.add(record.key())
            self.run.save(record)

    def apply(self, change: Change) -> None:
        self.driver.apply(change, save=self._save)

    def wait(self, name: str, namespace: str | None = None, *, fast: bool = True) -> None:
        """Wait for a rollout; ``fast``: fail on the new pods' restarts or readiness, not at the deadline only."""
        allowed = self.allowed if fast else None
        self.driver.wait_rollout(
            self.cluster, namespace or self.ns, name, timeout=self.timeout, max_pod_failures=allowed
        )

    def need(self, kind: str, name: str) -> dict[str, Any]:
        return _need(self.driver, self.cluster, self.ns, kind, name)

    def _stage(
        self, label: str, body: Callable[[], None], *, gate: bool = True, bake: float | None = None, **detail: Any
    ) -> Stage:
        def apply() -> None:
            try:
                body()
            except DriverError as exc:
                raise self.run.fail(str(exc)) from exc

        return Stage(
            index=0, label=label, apply=apply, gate=gate, bake=self.step.bake if bake is None else bake, detail=detail
        )

    # ------------------------------------------------------------ stages

    def stages(self) -> list[Stage]:
        a = self.action
        out: list[Stage] = []
        if a.manifest is not None:
            out.append(self._manifest())
        elif a.deployment is not None:
            if isinstance(a.strategy, Canary):
                out += self._canary(a.deployment, a.strategy.canary)
            elif isinstance(a.strategy, BlueGreen):
                out += self._blue_green(a.deployment, a.strategy.blue_green.service, a.strategy.blue_green.bake)
            else:
                out.append(self._rolling(a.deployment))
        if a.service is not None and a.selector is not None:
            alone = not out  # after a rollout the step's gate has run already; a switch alone is gated itself
            out.append(self._switch(a.service, dict(a.selector), gate=alone, bake=None if alone else 0.0))
        for i, stage in enumerate(out, start=1):
            stage.index = i
        return out

    def _rolling(self, name: str) -> Stage:
        def body() -> None:
            self.apply(SetImage(name, self.ns, self.image, self.action.replicas, context=self.cluster))
            # Kubernetes' own surge limits keep a rolling update's bad pods out of service; watching every
            # pod of every rolling step cost 60x the API calls (bench/k8s_rollout.py): the deadline decides.
            self.wait(name, fast=False)

        return self._stage(f"roll {name}", body, deployment=name)

    def _canary(self, name: str, percents: list[int]) -> list[Stage]:
        stable = self.need("Deployment", name)
        total = int(stable["spec"].get("replicas", 1) if self.action.replicas is None else self.action.replicas)
        canary = name + CANARY_SUFFIX
        out = []
        for i, percent in enumerate(p for p in percents if p < 100):
            canary_n = max(1, math.ceil(total * percent / 100))
            stable_n = max(0, total - canary_n)

            def body(
                first: bool = i == 0, percent: int = percent, canary_n: int = canary_n, stable_n: int = stable_n
            ) -> None:
                if first:
                    body_ = sibling(stable, suffix=CANARY_SUFFIX, label=TRACK, image=self.image, replicas=canary_n)
                    self.apply(CreateOrReplace(body_, context=self.cluster))
                else:
                    self.apply(Scale(canary, canary_n, self.ns, context=self.cluster))
                self.wait(canary)  # the canary must be ready before stable gives up capacity
                self.apply(Scale(name, stable_n, self.ns, context=self.cluster))
                self.wait(name)
                self.run.record("canary_stage", percent=percent, canary_replicas=canary_n, stable_replicas=stable_n)

            out.append(self._stage(f"canary {percent}%", body, percent=percent, canary_replicas=canary_n))

        def promote() -> None:
            self.apply(SetImage(name, self.ns, self.image, total, context=self.cluster))
            self.wait(name)
            self.apply(Delete("Deployment", canary, self.ns, context=self.cluster))
            self.run.record("canary_stage", percent=100, canary_replicas=0, stable_replicas=total)

        out.append(self._stage("canary 100%", promote, percent=100, canary_replicas=0))
        return out

    def _blue_green(self, name: str, service: str, bake: float) -> list[Stage]:
        selector, live, idle = _colors(self.need("Service", service))
        base = self.need("Deployment", name)
        green = name + GREEN_SUFFIX
        live_dep = base if live == "blue" else self.need("Deployment", green)
        total = int(live_dep["spec"].get("replicas", 1) if self.action.replicas is None else self.action.replicas)
        idle_name = green if idle == "green" else name
        to = {**{k: v for k, v in selector.items() if k != COLOR_LABEL}, COLOR_LABEL: idle}

        def up() -> None:
            if idle == "green":
                body = sibling(base, suffix=GREEN_SUFFIX, label=(COLOR_LABEL, idle), image=self.image, replicas=total)
                self.apply(CreateOrReplace(body, context=self.cluster))
            else:
                self.apply(SetImage(name, self.ns, self.image, total, {COLOR_LABEL: idle}, context=self.cluster))
            self.wait(idle_name)

        def switch() -> None:
            self._switch_now(service, to, before=selector)

        return [
            self._stage(f"{idle} up ({idle_name})", up, bake=0.0, deployment=idle_name, color=idle, live=live),
            self._stage(f"switch {service} to {idle}", switch, gate=False, bake=bake, service=service, color=idle),
        ]

    def _switch(self, service: str, selector: dict[str, str], *, gate: bool, bake: float | None) -> Stage:
        def body() -> None:
            before = dict((self.need("Service", service).get("spec") or {}).get("selector") or {})
            self._switch_now(service, selector, before=before)

        return self._stage(f"switch {service}", body, gate=gate, bake=bake, service=service)

    def _switch_now(self, service: str, to: dict[str, str], *, before: dict[str, str]) -> None:
        self.apply(Switch(service, to, self.ns, context=self.cluster))
        colors = {"label": COLOR_LABEL, "from_color": before.get(COLOR_LABEL) or "blue", "to_color": to[COLOR_LABEL]}
        self.run.record(
            "k8s_switched",
            service=service,
            selector=to,
            from_selector=before,
            to_selector=to,
            **(colors if COLOR_LABEL in to else {}),
        )

    def _manifest(self) -> Stage:
        assert self.action.manifest is not None
        docs = _manifest(self.run.root, self.action.manifest, self.context)

        def body() -> None:
            self.apply(ApplyManifest(docs, self.ns, context=self.cluster))
            for doc in docs:
                if doc["kind"] == "Deployment":
                    self.wait(doc["metadata"]["name"], doc["metadata"].get("namespace") or self.ns, fast=False)

        return self._stage(f"apply {self.action.manifest}", body, manifest=self.action.manifest)
