"""The dry-run library: template context, problem lines and counting, with a fake Kubernetes driver."""

from __future__ import annotations

from pathlib import Path

from golive.context import prepare
from golive.drivers.base import ActionResult, HostResult
from golive.drivers.k8s import SetImage
from golive.engine.dryrun import server_dry_run, step_context

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
    """A Kubernetes driver whose dry runs refuse the changes to some Deployments."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.calls: list[SetImage] = []

    def check(self, change: SetImage) -> ActionResult:
        self.calls.append(change)
        ok = change.deployment not in self.refuse
        message = "" if ok else f"deployment {change.deployment} not found"
        return ActionResult(results={change.deployment: HostResult(change.deployment, ok=ok, message=message)})


def test_server_dry_run_renders_each_k8s_step_and_reports_refusals_at_the_k8s_line(tmp_path: Path) -> None:
    """Each k8s step gets the run's template context; a refusal names file, the k8s: line and the step."""
    path = tmp_path / "dry.yml"
    path.write_text(RUNBOOK)
    ctx = prepare(path, env=None, params={"version": "v3"})
    fake = FakeK8s(refuse={"web"})

    report = server_dry_run(ctx, k8s=fake, initiator="alice")  # type: ignore[arg-type]

    assert [c.deployment for c in fake.calls] == ["api", "web"]
    assert fake.calls[0].image == "registry.local/api:v3"  # rendered with the run's params
    plan = ctx.plan()
    context = step_context(ctx, plan, plan.step("api"), initiator="alice")
    assert context["step"] == {"id": "api"}
    assert context["run"] == {"id": "dry-run", "initiator": "alice"}
    assert report.accepted == 1 and not report.ok
    assert [p.render() for p in report.problems] == [f"{path}:12: step web: deployment web not found"]


def test_a_runbook_without_k8s_steps_needs_no_cluster(tmp_path: Path) -> None:
    """No k8s step means no driver is built and zero changes are reported."""
    path = tmp_path / "plain.yml"
    path.write_text("name: plain\nsteps:\n  - id: hello\n    notify: {message: hi}\n")
    report = server_dry_run(prepare(path, env=None, params={}))
    assert report.ok and report.accepted == 0
