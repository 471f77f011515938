"""The dry-run library: template context, problem lines and counting, with a fake Kubernetes driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from golive.context import prepare
from golive.engine.dryrun import server_dry_run
from golive.runbook.models import K8sStep

RUNBOOK = """\
name: dry
params:
  version: v2
steps:
  - id: hello
    notify: {message: "go"}
  - id: api
    k8s:
      deployment: api
      image: "registry.local/api:{{ params.version }}"
  - id: web
    k8s:
      deployment: web
      image: "registry.local/web:{{ params.version }}"
"""


class FakeK8s:
    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.calls: list[tuple[str, dict[str, Any], Path | None]] = []

    def server_dry_run(self, step: K8sStep, context: dict[str, Any], *, root: Path | None = None) -> list[str]:
        self.calls.append((step.id, context, root))
        return [f"deployment {step.k8s.deployment} not found"] if step.id in self.refuse else []


def test_server_dry_run_renders_each_k8s_step_and_reports_refusals_at_the_k8s_line(tmp_path: Path) -> None:
    """Each k8s step gets the run's template context; a refusal names file, the k8s: line and the step."""
    path = tmp_path / "dry.yml"
    path.write_text(RUNBOOK)
    ctx = prepare(path, env=None, params={"version": "v3"})
    fake = FakeK8s(refuse={"web"})

    report = server_dry_run(ctx, k8s=fake, initiator="alice")  # type: ignore[arg-type]

    assert [c[0] for c in fake.calls] == ["api", "web"]
    context = fake.calls[0][1]
    assert context["params"]["version"] == "v3"
    assert context["step"] == {"id": "api"}
    assert context["run"] == {"id": "dry-run", "initiator": "alice"}
    assert fake.calls[0][2] == ctx.root
    assert report.accepted == 1 and not report.ok
    assert [p.render() for p in report.problems] == [f"{path}:12: step web: deployment web not found"]


def test_a_runbook_without_k8s_steps_needs_no_cluster(tmp_path: Path) -> None:
    """No k8s step means no driver is built and zero changes are reported."""
    path = tmp_path / "plain.yml"
    path.write_text("name: plain\nsteps:\n  - id: hello\n    notify: {message: hi}\n")
    report = server_dry_run(prepare(path, env=None, params={}))
    assert report.ok and report.accepted == 0
