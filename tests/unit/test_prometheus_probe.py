"""Prometheus queries and gates against canned Prometheus answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from golive.checks.base import Outcome, Verdict
from golive.checks.prometheus import probe_prometheus, query_prometheus
from golive.errors import PermanentError, TransientError

BASE = "http://127.0.0.1:9090"


def _vector(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": m, "value": [1700000000.0, v]} for m, v in samples]},
    }


def _answers(by_query: dict[str, httpx.Response]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query"
        return by_query[request.url.params["query"]]

    return handler


def _query(response: httpx.Response | Exception) -> float | None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    async def go() -> float | None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await query_prometheus(base_url=BASE, query="q", client=client)

    return asyncio.run(go())


def _probe(answers: dict[str, httpx.Response], **kw: Any) -> Verdict:
    args: dict[str, Any] = {"max": None, "min": None, "baseline_query": None, "max_ratio": None, "max_delta": None}
    args.update(kw)

    async def go() -> Verdict:
        async with httpx.AsyncClient(transport=httpx.MockTransport(_answers(answers))) as client:
            return await probe_prometheus(base_url=BASE, query="q", client=client, **args)

    return asyncio.run(go())


def test_single_sample_value() -> None:
    """An instant vector with one sample gives its value."""
    assert _query(httpx.Response(200, json=_vector(({}, "0.25")))) == 0.25


def test_scalar_value() -> None:
    """A scalar result gives its value."""
    body = {"status": "success", "data": {"resultType": "scalar", "result": [1700000000.0, "3"]}}
    assert _query(httpx.Response(200, json=body)) == 3.0


@pytest.mark.parametrize("body", [_vector(), _vector(({}, "NaN"))])
def test_empty_or_nan_is_none(body: dict[str, Any]) -> None:
    """No samples, or only NaN, means no data."""
    assert _query(httpx.Response(200, json=body)) is None


def test_several_series_need_aggregation() -> None:
    """A query with several series is refused with a hint to aggregate it."""
    with pytest.raises(PermanentError, match="aggregate"):
        _query(httpx.Response(200, json=_vector(({"i": "a"}, "1"), ({"i": "b"}, "2"))))


def test_bad_query_is_permanent_with_prometheus_text() -> None:
    """A 400 from Prometheus is a PermanentError carrying Prometheus' own error text."""
    body = {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected end of input"}
    with pytest.raises(PermanentError, match="parse error: unexpected end of input"):
        _query(httpx.Response(400, json=body))


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(503, text="busy", headers={"Retry-After": "2"}),
        httpx.ConnectError("[Errno 111] Connection refused"),
    ],
)
def test_unavailable_prometheus_is_transient(response: httpx.Response | Exception) -> None:
    """Connection errors and 5xx are transient: the gate may ask again."""
    with pytest.raises(TransientError):
        _query(response)


def test_under_max_passes() -> None:
    """A value within max passes and reports the value."""
    v = _probe({"q": httpx.Response(200, json=_vector(({}, "0.003")))}, max=0.01)
    assert (v.outcome, v.observed, v.limit, v.value) == (Outcome.PASS, "0.003", "<= 0.01", 0.003)


def test_over_max_fails_naming_the_worst_series() -> None:
    """Every series is judged; the worst offender is reported with its labels."""
    answers = {
        "q": httpx.Response(
            200, json=_vector(({"instance": "a"}, "0.002"), ({"instance": "b"}, "0.031"), ({"instance": "c"}, "0.02"))
        )
    }
    v = _probe(answers, max=0.01)
    assert v.outcome is Outcome.FAIL
    assert v.observed == '0.031 on {instance="b"}'
    assert "0.031 > max 0.01" in v.message and "2 of 3 series fail" in v.message


def test_under_min_fails() -> None:
    """A value below min fails."""
    v = _probe({"q": httpx.Response(200, json=_vector(({}, "2")))}, min=5)
    assert v.outcome is Outcome.FAIL and "2 < min 5" in v.message


def test_no_data_is_inconclusive() -> None:
    """An empty result pauses for a human rather than passing."""
    v = _probe({"q": httpx.Response(200, json=_vector())}, max=1)
    assert (v.outcome, v.observed) == (Outcome.INCONCLUSIVE, "no data")


def test_query_error_is_inconclusive() -> None:
    """A query Prometheus rejects gives INCONCLUSIVE with Prometheus' error text."""
    bad = httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error"})
    v = _probe({"q": bad}, max=1)
    assert v.outcome is Outcome.INCONCLUSIVE and "parse error" in v.message


def test_baseline_ratio_and_delta() -> None:
    """With a baseline, the value fails when it is worse by the ratio or by the margin."""
    answers = {
        "q": httpx.Response(200, json=_vector(({}, "0.03"))),
        "base": httpx.Response(200, json=_vector(({}, "0.01"))),
    }
    ratio = _probe(answers, baseline_query="base", max_ratio=2.0)
    assert ratio.outcome is Outcome.FAIL
    assert ratio.observed == "0.03 (baseline 0.01)"
    assert ratio.limit == "<= baseline x 2"
    delta_ok = _probe(answers, baseline_query="base", max_delta=0.05)
    assert delta_ok.outcome is Outcome.PASS and delta_ok.observed == "0.03 (baseline 0.01)"
    delta_bad = _probe(answers, baseline_query="base", max_delta=0.01)
    assert delta_bad.outcome is Outcome.FAIL and "> baseline 0.01 + 0.01" in delta_bad.message


def test_baseline_without_data_is_inconclusive() -> None:
    """A baseline with no data cannot be compared against."""
    answers = {"q": httpx.Response(200, json=_vector(({}, "0.03"))), "base": httpx.Response(200, json=_vector())}
    v = _probe(answers, baseline_query="base", max_ratio=2.0)
    assert (v.outcome, v.observed) == (Outcome.INCONCLUSIVE, "baseline has no data")
