"""The probe registry: one probe per check kind, fed by the engine, saying its limits in the plan's words."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from kubernetes.client.rest import ApiException

from golive.checks import http as http_check
from golive.checks import prometheus as prometheus_check
from golive.checks.base import Outcome, Verdict
from golive.checks.command import CONNECT_ATTEMPTS, MAX_OUTPUT
from golive.checks.deps import ProbeDeps
from golive.checks.k8s import measure_deployment
from golive.checks.registry import PROBES, probe_check, probe_for
from golive.runbook.models import CHECK_KINDS, CheckStep, CommandCheck, HttpCheck, K8sCheck, PrometheusCheck, TcpCheck
from golive.runbook.render import HostRef

HOST = HostRef("app-1", "127.0.0.11")
CTX: dict[str, Any] = {"params": {"version": "v2"}, "host": HOST}


def _measure(check: Any, deps: ProbeDeps, target: HostRef | None = HOST) -> Verdict:
    return asyncio.run(probe_check(check, target, CTX, deps))


@dataclass(frozen=True)
class _Output:
    rc: int | None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    error: str = ""


class _Runner:
    """A RunCommand that answers from a script and remembers what it was asked to run."""

    def __init__(self, output: _Output) -> None:
        self.output = output
        self.calls: list[dict[str, Any]] = []

    def __call__(self, *, host: str, command: str, timeout: float, max_output: int, attempts: int) -> _Output:
        self.calls.append(
            {"host": host, "command": command, "timeout": timeout, "max_output": max_output, "attempts": attempts}
        )
        return self.output


def _serve(monkeypatch: pytest.MonkeyPatch, module: Any, handler: Any) -> None:
    monkeypatch.setattr(module, "make_client", lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def _vector(value: str) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, value]}]}}


# ---------------------------------------------------------------- kubernetes fakes


def _deployment(*, want: int = 2, available: int = 2, ready: str = "True") -> Any:
    return SimpleNamespace(
        spec=SimpleNamespace(replicas=want, selector=SimpleNamespace(match_labels={"app": "web"})),
        status=SimpleNamespace(
            available_replicas=available, conditions=[SimpleNamespace(type="Available", status=ready)]
        ),
    )


def _pod(restarts: int) -> Any:
    return SimpleNamespace(status=SimpleNamespace(container_statuses=[SimpleNamespace(restart_count=restarts)]))


def _api_error(status: int, message: str = "", retry_after: str | None = None) -> ApiException:
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"message": message}) if message else None
    exc.headers = {"Retry-After": retry_after} if retry_after else None
    return exc


class _Kube:
    """The Kubernetes driver's ``clients(context)``: apps and core APIs that answer from a script;
    ``call`` is the driver's own (its retries, Retry-After and error classification), sleeping into ``waits``."""

    def __init__(self, *deployments: Any, pods: list[Any] | None = None) -> None:
        from golive.drivers.k8s.api import KubeApi

        self.answers = list(deployments)
        self.pods = pods or []
        self.selectors: list[str] = []
        self.waits: list[float] = []
        self.call = KubeApi(inventory=None, sleep=self.waits.append).call

    def clients(self, context: str | None) -> tuple[Any, Any]:
        return SimpleNamespace(read_namespaced_deployment=self._read), SimpleNamespace(list_namespaced_pod=self._list)

    def _read(self, name: str, namespace: str) -> Any:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _list(self, namespace: str, *, label_selector: str) -> Any:
        self.selectors.append(label_selector)
        return SimpleNamespace(items=self.pods)


# ---------------------------------------------------------------- the registry


def test_every_check_kind_has_exactly_one_probe() -> None:
    """The registry and the runbook's check kinds name the same kinds."""
    assert sorted(PROBES) == sorted(CHECK_KINDS)
    assert probe_for("http") is PROBES["http"]
    with pytest.raises(TypeError, match="no probe for check kind 'smtp'"):
        probe_for("smtp")


def test_checks_load_no_driver_and_no_engine() -> None:
    """Importing every probe loads nothing of golive.drivers or golive.engine (nor paramiko)."""
    code = (
        "import sys, golive.checks.registry; "
        "print(sorted(m for m in sys.modules if m.startswith(('golive.drivers', 'golive.engine', 'paramiko'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- limits: the plan's words are the verdict's


def test_http_plan_and_verdict_word_the_limit_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """An http gate's limit reads the same in the plan and in the verdict: status 200|204, body, latency."""
    check = HttpCheck.model_validate(
        {"http": "http://{{ host }}:8080/version", "expect": {"status": [200, 204], "body": "^v2", "max_latency": "1s"}}
    )
    _serve(monkeypatch, http_check, lambda r: httpx.Response(200, text="v2"))
    verdict = _measure(check, ProbeDeps())
    assert verdict.ok and verdict.host == "app-1" and verdict.target == "http://127.0.0.11:8080/version"
    assert check.limit_text() == verdict.limit == "status 200|204, body ~ /^v2/, latency <= 1s"


def test_command_plan_and_verdict_word_the_limit_alike() -> None:
    """A command gate's limit is 'rc N' in the plan as in the verdict, which also says 'rc N' as observed."""
    check = CommandCheck.model_validate({"command": "cat /srv/demo/current", "expect": {"rc": 0, "stdout": "^v2"}})
    verdict = _measure(check, ProbeDeps(run_command=_Runner(_Output(rc=0, stdout="v2\n"))))
    assert (verdict.outcome, verdict.observed) == (Outcome.PASS, "rc 0")
    assert check.limit_text() == verdict.limit == "rc 0, stdout ~ /^v2/"


def test_tcp_plan_and_verdict_word_the_limit_alike() -> None:
    """A tcp gate's limit names its timeout in the plan as in the verdict."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    check = TcpCheck.model_validate({"tcp": f"127.0.0.1:{port}", "timeout": "1s"})
    verdict = _measure(check, ProbeDeps())
    assert (verdict.outcome, verdict.observed) == (Outcome.FAIL, "connection refused")
    assert check.limit_text() == verdict.limit == "accepts a connection within 1s"
    assert TcpCheck.model_validate({"tcp": "h:1"}).limit_text() == "accepts a connection within 2s"


def test_prometheus_plan_and_verdict_word_the_limit_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """A prometheus gate's bounds and baseline rules read the same in the plan and in the verdict."""
    check = PrometheusCheck.model_validate(
        {"prometheus": "q", "max": 0.05, "baseline": {"query": "b", "max_ratio": 2, "max_delta": 0.01}}
    )
    _serve(monkeypatch, prometheus_check, lambda r: httpx.Response(200, json=_vector("0.01")))
    verdict = _measure(check, ProbeDeps(prometheus_url="http://127.0.0.1:9090"), target=None)
    assert verdict.ok, verdict.summary()
    assert check.limit_text() == verdict.limit == "<= 0.05, <= baseline x 2, <= baseline + 0.01"


def test_k8s_plan_and_verdict_word_the_limit_alike() -> None:
    """A k8s gate's limit reads the same in the plan and in the verdict."""
    check = K8sCheck.model_validate({"k8s": {"deployment": "web", "max_restarts": 0}})
    verdict = _measure(check, ProbeDeps(kube=_Kube(_deployment(), pods=[_pod(0)])), target=None)
    assert verdict.ok, verdict.summary()
    assert check.limit_text() == verdict.limit == "available, restarts <= 0"
    unavailable_ok = K8sCheck.model_validate({"k8s": {"deployment": "web", "available": False}})
    assert unavailable_ok.limit_text() == "exists"


def test_the_plan_shows_each_gate_limit_as_its_check_renders_it(tmp_path: Path) -> None:
    """The plan's gates carry the checks' own limit texts, the words their verdicts use."""
    from golive.plan import build_plan
    from golive.runbook import load_runbook

    runbook = tmp_path / "limits.yml"
    runbook.write_text(
        """
name: limits
steps:
  - id: gates
    check:
      - http: "http://127.0.0.1:8080/version"
        expect: {status: [200, 204], body: "^v2", max_latency: 1s}
      - tcp: "127.0.0.1:8080"
      - prometheus: q
        max: 0.05
        baseline: {query: b, max_ratio: 2}
      - k8s: {deployment: web, max_restarts: 0}
"""
    )
    loaded = load_runbook(runbook)
    plan = build_plan(loaded, root=tmp_path, inventory=None)
    step = loaded.runbook.steps[0]
    assert isinstance(step, CheckStep)
    assert (
        [g.limit for g in plan.steps[0].gates]
        == [c.limit_text() for c in step.check]
        == [
            "status 200|204, body ~ /^v2/, latency <= 1s",
            "accepts a connection within 2s",
            "<= 0.05, <= baseline x 2",
            "available, restarts <= 0",
        ]
    )


# ---------------------------------------------------------------- what the engine injects


def test_a_command_check_runs_through_the_injected_runner_with_the_command_quoted() -> None:
    """The command probe runs the rendered command on the target host through what the engine gave it."""
    check = CommandCheck.model_validate({"command": "grep {{ params.version }} /srv/demo/current", "timeout": "5s"})
    runner = _Runner(_Output(rc=1, stderr="no match\n"))
    verdict = _measure(check, ProbeDeps(run_command=runner))
    assert (verdict.outcome, verdict.observed, verdict.host) == (Outcome.FAIL, "rc 1: no match", "app-1")
    assert runner.calls == [
        {
            "host": "app-1",
            "command": "grep v2 /srv/demo/current",
            "timeout": 5.0,
            "max_output": MAX_OUTPUT,
            "attempts": CONNECT_ATTEMPTS,
        }
    ]


def test_a_command_check_without_an_inventory_cannot_measure() -> None:
    """With no runner (no inventory) or no host, the probe refuses; the gate records that as inconclusive."""
    check = CommandCheck.model_validate({"command": "true"})
    with pytest.raises(ValueError, match="needs hosts from an inventory"):
        _measure(check, ProbeDeps())
    with pytest.raises(ValueError, match="needs hosts from an inventory"):
        _measure(check, ProbeDeps(run_command=_Runner(_Output(rc=0))), target=None)


def test_an_unreachable_host_fails_a_command_check() -> None:
    """A host the runner could not reach fails the check, with the runner's reason."""
    check = CommandCheck.model_validate({"command": "true"})
    verdict = _measure(check, ProbeDeps(run_command=_Runner(_Output(rc=None, error="connection refused"))))
    assert (verdict.outcome, verdict.observed, verdict.message) == (Outcome.FAIL, "unreachable", "connection refused")


def test_prometheus_without_a_url_is_inconclusive() -> None:
    """No Prometheus URL in the env nor on the gate: nothing to ask, a human decides."""
    check = PrometheusCheck.model_validate({"prometheus": "q", "max": 1})
    verdict = _measure(check, ProbeDeps(), target=None)
    assert (verdict.outcome, verdict.observed) == (Outcome.INCONCLUSIVE, "no Prometheus URL")


def test_a_per_host_prometheus_verdict_names_its_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A query measured for one host reports that host; the gate's own url wins over the env's."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.url.host}:{request.url.port} {request.url.params['query']}")
        return httpx.Response(200, json=_vector("1"))

    _serve(monkeypatch, prometheus_check, handler)
    check = PrometheusCheck.model_validate(
        {"prometheus": 'up{instance="{{ host }}:8080"}', "min": 1, "url": "http://127.0.0.2:9090"}
    )
    verdict = _measure(check, ProbeDeps(prometheus_url="http://127.0.0.1:9090"))
    assert (verdict.outcome, verdict.host) == (Outcome.PASS, "app-1")
    assert asked == ['127.0.0.2:9090 up{instance="127.0.0.11:8080"}']


def test_k8s_without_a_cluster_is_inconclusive() -> None:
    """A run with no Kubernetes cluster configured cannot measure a k8s check."""
    check = K8sCheck.model_validate({"k8s": {"deployment": "web"}})
    verdict = _measure(check, ProbeDeps(), target=None)
    assert (verdict.outcome, verdict.observed) == (Outcome.INCONCLUSIVE, "no Kubernetes driver")


# ---------------------------------------------------------------- the k8s probe


def _k8s(kube: _Kube, **spec: Any) -> Verdict:
    check = K8sCheck.model_validate({"k8s": {"deployment": "web", **spec}})
    verdict = measure_deployment(check.k8s, kube)
    assert kube.waits == [], "only transient answers are retried"
    return verdict


def test_k8s_probe_fails_a_deployment_short_of_available_replicas() -> None:
    """1 of 2 replicas available fails an availability check, saying so."""
    verdict = _k8s(_Kube(_deployment(available=1, ready="False")))
    assert (verdict.outcome, verdict.observed) == (Outcome.FAIL, "1/2 available")
    assert verdict.target == "deployment/web in default"


def test_k8s_probe_fails_on_restarts_past_the_limit() -> None:
    """A pod restarted more often than max_restarts fails the check; pods are found by the Deployment's selector."""
    kube = _Kube(_deployment(), pods=[_pod(0), _pod(3)])
    verdict = _k8s(kube, max_restarts=2)
    assert (verdict.outcome, verdict.observed) == (Outcome.FAIL, "2/2 available, max restarts 3")
    assert kube.selectors == ["app=web"]


def test_k8s_probe_fails_a_missing_deployment_and_is_inconclusive_when_refused() -> None:
    """404 is an answer (FAIL, not found); a 403 is no measurement (INCONCLUSIVE, with the server's message)."""
    assert _k8s(_Kube(_api_error(404))).observed == "not found"
    refused = _k8s(_Kube(_api_error(403, "deployments.apps is forbidden")))
    assert (refused.outcome, refused.observed) == (
        Outcome.INCONCLUSIVE,
        "kubernetes API 403: deployments.apps is forbidden",
    )


def test_k8s_probe_retries_a_503_burst_as_the_server_asks() -> None:
    """Transient answers are retried within the measurement, waiting what Retry-After says."""
    kube = _Kube(_api_error(503, retry_after="1"), _api_error(429, retry_after="2"), _deployment())
    check = K8sCheck.model_validate({"k8s": {"deployment": "web"}})
    verdict = measure_deployment(check.k8s, kube)
    assert verdict.ok, verdict.summary()
    assert kube.waits == [1.0, 2.0]


def test_k8s_probe_without_the_named_cluster_is_inconclusive() -> None:
    """A context the environment does not know is no measurement: the driver's reason is shown."""
    from golive.errors import PermanentError

    class _NoCluster:
        def clients(self, context: str | None) -> tuple[Any, Any]:
            raise PermanentError(f"no cluster {context!r} in golive_clusters; known: lab")

        def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

    check = K8sCheck.model_validate({"k8s": {"deployment": "web", "context": "prod"}})
    verdict = measure_deployment(check.k8s, _NoCluster())
    assert (verdict.outcome, verdict.observed) == (
        Outcome.INCONCLUSIVE,
        "no cluster 'prod' in golive_clusters; known: lab",
    )
