"""Prometheus gate probe: one instant query, judged against fixed limits or a baseline query.

No data, or a query Prometheus cannot answer, is INCONCLUSIVE: the gate pauses for a human
rather than guess.  Every series a query returns is judged; the worst one is reported.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from golive.checks.base import Outcome, Verdict
from golive.checks.deps import ProbeDeps
from golive.checks.http import make_client
from golive.errors import DriverError, PermanentError, TransientError
from golive.runbook.limits import number, prometheus_limit
from golive.runbook.models import PrometheusCheck
from golive.runbook.render import HostRef, render

__all__ = [
    "DEFAULT_TIMEOUT",
    "Series",
    "probe_prometheus",
    "probe_prometheus_check",
    "query_prometheus",
    "query_series",
]

log = structlog.get_logger(__name__)

MAX_ERROR_TEXT = 300
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    value: float

    def where(self) -> str:
        if not self.labels:
            return ""
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return "{" + inner + "}"


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        text = f"{body.get('errorType', 'error')}: {body.get('error', '')}".strip()
    except ValueError:
        text = response.text.strip()
    return text[:MAX_ERROR_TEXT]


async def query_series(
    *, base_url: str, query: str, client: httpx.AsyncClient, timeout: float = DEFAULT_TIMEOUT
) -> list[Series]:
    """Every series of an instant query with a numeric value; NaN samples are left out.

    Raises TransientError on connection errors and 5xx, PermanentError on a query Prometheus
    rejects (400/422, with its error text) or an answer that is not Prometheus'.
    """
    url = base_url.rstrip("/") + "/api/v1/query"
    try:
        response = await client.get(url, params={"query": query, "timeout": f"{timeout:g}s"}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise TransientError(f"prometheus at {base_url} did not answer: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError(
            f"prometheus answered {response.status_code}: {_error_text(response)}", retry_after=_retry_after(response)
        )
    if response.status_code >= 400:
        raise PermanentError(f"prometheus rejected the query ({response.status_code} {_error_text(response)})")
    try:
        data = response.json()["data"]
        kind, result = data["resultType"], data["result"]
    except (ValueError, KeyError, TypeError):
        raise PermanentError(f"{url} did not answer like Prometheus: {response.text[:MAX_ERROR_TEXT]!r}") from None
    if kind == "scalar":
        samples: list[tuple[dict[str, str], str]] = [({}, result[1])]
    elif kind == "vector":
        samples = [(item.get("metric") or {}, item["value"][1]) for item in result]
    else:
        raise PermanentError(
            f"query returns a {kind}, not a number; "
            "use an instant vector or scalar expression (no [range] at the top level)"
        )
    out = [Series({str(k): str(v) for k, v in labels.items()}, float(raw)) for labels, raw in samples]
    return [s for s in out if not math.isnan(s.value)]


async def query_prometheus(
    *, base_url: str, query: str, client: httpx.AsyncClient, timeout: float = DEFAULT_TIMEOUT
) -> float | None:
    """The single value of an instant query, or None when it has no data (empty or NaN).

    A query returning several series raises PermanentError: aggregate it (``sum``, ``max``) first.
    """
    series = await query_series(base_url=base_url, query=query, client=client, timeout=timeout)
    if not series:
        return None
    if len(series) > 1:
        raise PermanentError(
            f"query returns {len(series)} series where one value is needed; aggregate it, e.g. max({query})"
        )
    return series[0].value


def _violations(
    value: float,
    *,
    max_: float | None,
    min_: float | None,
    baseline: float | None,
    max_ratio: float | None,
    max_delta: float | None,
) -> list[str]:
    bad = []
    if max_ is not None and value > max_:
        bad.append(f"{number(value)} > max {number(max_)}")
    if min_ is not None and value < min_:
        bad.append(f"{number(value)} < min {number(min_)}")
    if baseline is not None and max_ratio is not None and value > baseline * max_ratio:
        bad.append(f"{number(value)} > baseline {number(baseline)} x {number(max_ratio)}")
    if baseline is not None and max_delta is not None and value - baseline > max_delta:
        bad.append(f"{number(value)} > baseline {number(baseline)} + {number(max_delta)}")
    return bad


async def probe_prometheus(
    *,
    base_url: str,
    query: str,
    max: float | None,
    min: float | None,
    baseline_query: str | None,
    max_ratio: float | None,
    max_delta: float | None,
    client: httpx.AsyncClient,
    timeout: float = DEFAULT_TIMEOUT,
) -> Verdict:
    """Query once (and the baseline once); FAIL when any series breaks a limit."""
    max_, min_ = max, min
    limit = prometheus_limit(max=max_, min=min_, max_ratio=max_ratio, max_delta=max_delta)

    def verdict(outcome: Outcome, observed: str, value: float | None = None, message: str = "") -> Verdict:
        return Verdict(
            outcome=outcome,
            check="prometheus",
            target=query,
            observed=observed,
            limit=limit,
            value=value,
            message=message,
        )

    try:
        series = await query_series(base_url=base_url, query=query, client=client, timeout=timeout)
        baseline = None
        if baseline_query:
            baseline = await query_prometheus(base_url=base_url, query=baseline_query, client=client, timeout=timeout)
            if baseline is None:
                return verdict(
                    Outcome.INCONCLUSIVE,
                    "baseline has no data",
                    message=f"baseline query returned nothing: {baseline_query}",
                )
    except DriverError as exc:
        log.warning("prometheus_query_failed", query=query, error=str(exc), transient=isinstance(exc, TransientError))
        return verdict(Outcome.INCONCLUSIVE, "query error", message=str(exc))
    if not series:
        return verdict(Outcome.INCONCLUSIVE, "no data", message="the query returned no samples")
    rules = {"max_": max_, "min_": min_, "baseline": baseline, "max_ratio": max_ratio, "max_delta": max_delta}
    judged = [(s, _violations(s.value, **rules)) for s in series]
    failing = [(s, v) for s, v in judged if v]
    base_text = f" (baseline {number(baseline)})" if baseline is not None else ""
    if failing:
        # Report the series furthest past its limit: highest for upper bounds, lowest for a min.
        uppers = [(s, v) for s, v in failing if not all(" < min " in x for x in v)]
        worst, why = (
            sorted(uppers, key=lambda sv: sv[0].value)[-1] if uppers else sorted(failing, key=lambda sv: sv[0].value)[0]
        )
        where = f" on {worst.where()}" if worst.where() else ""
        extra = f"; {len(failing)} of {len(series)} series fail" if len(series) > 1 else ""
        return verdict(Outcome.FAIL, f"{number(worst.value)}{where}{base_text}", worst.value, "; ".join(why) + extra)
    # Show the series nearest its limit: the highest one unless only a minimum applies.
    only_min = max_ is None and baseline is None
    ordered = sorted(series, key=lambda s: s.value)
    top = ordered[0] if only_min else ordered[-1]
    shown = (
        number(top.value)
        if len(series) == 1
        else f"{'min' if only_min else 'max'} {number(top.value)} over {len(series)} series"
    )
    return verdict(Outcome.PASS, f"{shown}{base_text}", top.value)


async def probe_prometheus_check(
    check: PrometheusCheck, target: HostRef | None, ctx: dict[str, Any], deps: ProbeDeps
) -> Verdict:
    """One measurement of a ``prometheus:`` check against its own ``url:`` or the environment's Prometheus."""
    base = check.url or deps.prometheus_url
    if not base:
        return Verdict(
            Outcome.INCONCLUSIVE,
            "prometheus",
            check.prometheus,
            observed="no Prometheus URL",
            limit="golive_prometheus_url in the env or url: on the gate",
        )
    b = check.baseline
    async with make_client() as client:
        verdict = await probe_prometheus(
            base_url=base,
            query=render(check.prometheus, ctx),
            max=check.max,
            min=check.min,
            baseline_query=render(b.query, ctx) if b else None,
            max_ratio=b.max_ratio if b else None,
            max_delta=b.max_delta if b else None,
            client=client,
            timeout=check.timeout or DEFAULT_TIMEOUT,
        )
    # A per-host query (one naming {{ host }}) reports which host it measured.
    return dataclasses.replace(verdict, host=target.name) if target else verdict
