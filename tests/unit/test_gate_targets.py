"""Which hosts a gate measures: a Prometheus query naming {{ host }} runs once per host of the batch."""

from __future__ import annotations

from typing import Any

from golive.checks.base import Outcome, Verdict
from golive.engine.gates import GateRunner
from golive.runbook.models import PrometheusCheck
from golive.runbook.render import HostRef, names_variable, render

HOSTS = [HostRef("app-1", "127.0.0.11"), HostRef("app-2", "127.0.0.12")]


def _measure(check: PrometheusCheck) -> list[str]:
    seen: list[str] = []

    async def probe(check: Any, target: HostRef | None, ctx: dict[str, Any]) -> Verdict:
        seen.append(render(check.prometheus, ctx))
        return Verdict(Outcome.PASS, "prometheus", check.prometheus, observed="0", limit="<= 1")

    async def no_sleep(_: float) -> None:
        return None

    outcome = GateRunner(probe=probe, sleep=no_sleep).evaluate(
        [check],
        hosts=HOSTS,
        host_of=lambda n: next(h for h in HOSTS if h.name == n),
        context={"params": {"version": "v2"}},
        host_patterns=lambda p: [],
    )
    assert outcome.ok
    return seen


def test_a_query_naming_host_is_measured_once_per_host_of_the_batch() -> None:
    """{{ host }} in a Prometheus query renders per host instead of failing as undefined."""
    check = PrometheusCheck.model_validate({"prometheus": 'up{instance="{{ host }}:8080"}', "max": 1})
    assert sorted(_measure(check)) == ['up{instance="127.0.0.11:8080"}', 'up{instance="127.0.0.12:8080"}']


def test_a_baseline_naming_host_also_makes_the_check_per_host() -> None:
    """A host-specific baseline query is enough to measure per host."""
    check = PrometheusCheck.model_validate(
        {"prometheus": "sum(up)", "baseline": {"query": 'up{instance!="{{ host }}:8080"}', "max_delta": 0.1}}
    )
    assert _measure(check) == ["sum(up)", "sum(up)"]


def test_a_query_without_host_is_measured_once_for_the_whole_batch() -> None:
    """A fleet-wide query is one measurement however many hosts the batch has."""
    check = PrometheusCheck.model_validate({"prometheus": 'sum(up{version="{{ params.version }}"})', "min": 1})
    assert _measure(check) == ['sum(up{version="v2"})']


def test_a_query_names_host_only_when_it_uses_the_variable() -> None:
    """Render's own parser tells a per-host query from text that merely contains the word, or a broken template."""
    assert names_variable('up{instance="{{ host }}:8080"}', "host")
    assert names_variable("{{ host.name }}", "host")
    assert not names_variable('sum(up{job="host"})', "host")
    assert not names_variable("{{ params.host }}", "host")
    assert not names_variable("{% for host in hosts %}{{ host }}{% endfor %}", "host")
    assert not names_variable("{{ host ", "host")
