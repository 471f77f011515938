"""HTTP and TCP probes: what PASSes, what FAILs, and what the verdict says was observed."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from golive.checks.base import Outcome, Verdict
from golive.checks.http import make_client, probe_http, probe_many, request_timeout
from golive.checks.tcp import parse_address, probe_tcp

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _clock(*readings: float) -> Callable[[], float]:
    it: Iterator[float] = iter(readings)
    return lambda: next(it)


def _probe(
    handler: Handler,
    *,
    status: int | list[int] = 200,
    body: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
    max_latency: float = 2.0,
) -> Verdict:
    async def go() -> Verdict:
        async with _client(handler) as client:
            return await probe_http(
                url="http://127.0.0.11:8080/health",
                host="app-1",
                method="GET",
                expect_status=status,
                body_regex=body,
                max_latency=max_latency,
                client=client,
                clock=clock,
            )

    return asyncio.run(go())


def test_expected_status_in_time_passes() -> None:
    """A 200 answered within the latency limit passes and records the latency."""
    v = _probe(lambda r: httpx.Response(200, text="ok"), clock=_clock(10.0, 10.05))
    assert v.outcome is Outcome.PASS
    assert v.observed == "status 200 in 0.050s"
    assert v.limit == "status 200, latency <= 2s"
    assert v.value == pytest.approx(0.05)
    assert v.host == "app-1"


def test_slow_answer_fails_with_latency_observed() -> None:
    """A correct answer slower than max_latency fails, showing observed latency against the limit."""
    v = _probe(lambda r: httpx.Response(200, text="ok"), clock=_clock(0.0, 2.512))
    assert v.outcome is Outcome.FAIL
    assert v.observed == "status 200 in 2.512s"
    assert v.limit == "status 200, latency <= 2s"


@pytest.mark.parametrize("code", [500, 502, 503, 504, 404])
def test_wrong_status_fails(code: int) -> None:
    """Any status other than the expected one, gateway errors included, fails."""
    v = _probe(lambda r: httpx.Response(code))
    assert v.outcome is Outcome.FAIL
    assert v.observed.startswith(f"status {code} in ")


def test_status_list_accepts_any_listed() -> None:
    """With a list of statuses any one of them passes."""
    assert _probe(lambda r: httpx.Response(204), status=[200, 204]).ok


def test_body_regex_mismatch_fails() -> None:
    """A body that does not match the expected pattern fails and shows what came back."""
    v = _probe(lambda r: httpx.Response(200, text="v1\n"), body=r"^v2")
    assert v.outcome is Outcome.FAIL
    assert "'v1' does not match" in v.observed
    assert "body ~ /^v2/" in v.limit


def test_body_regex_match_passes() -> None:
    """A matching body passes."""
    assert _probe(lambda r: httpx.Response(200, text="v2\n"), body=r"^v2").ok


def _raiser(exc: type[httpx.RequestError], text: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc(text, request=request)

    return handler


@pytest.mark.parametrize(
    ("exc", "text", "observed"),
    [
        (httpx.ConnectError, "[Errno 111] Connection refused", "connection refused"),
        (httpx.ReadError, "[Errno 104] Connection reset by peer", "connection reset"),
        (httpx.ReadTimeout, "timed out", "no answer within 3s"),
        (httpx.ConnectTimeout, "timed out", "no answer within 3s"),
    ],
)
def test_connection_errors_fail(exc: type[httpx.RequestError], text: str, observed: str) -> None:
    """No answer at all is a failed health check, not an inconclusive one."""
    v = _probe(_raiser(exc, text))
    assert v.outcome is Outcome.FAIL
    assert v.observed == observed


def test_real_refused_port_fails() -> None:
    """A real loopback port nobody listens on fails with 'connection refused'."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def go() -> Verdict:
        async with make_client() as client:
            return await probe_http(
                url=f"http://127.0.0.1:{port}/health",
                host=None,
                method="GET",
                expect_status=200,
                body_regex=None,
                max_latency=1.0,
                client=client,
            )

    v = asyncio.run(go())
    assert (v.outcome, v.observed) == (Outcome.FAIL, "connection refused")


def test_request_timeout_is_bounded() -> None:
    """The request timeout sits a second past the latency limit and never exceeds the cap."""
    assert request_timeout(2.0) == 3.0
    assert request_timeout(0.1) == 2.0
    assert request_timeout(500.0) == 30.0
    assert request_timeout(2.0, 1.5) == 1.5


def test_probe_many_keeps_order_and_hosts() -> None:
    """probe_many returns one verdict per target in input order."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503 if request.url.host == "127.0.0.12" else 200)

    async def go() -> list[Verdict]:
        async with _client(handler) as client:
            return await probe_many(
                targets=[("app-1", "http://127.0.0.11/h"), ("app-2", "http://127.0.0.12/h")],
                max_latency=2.0,
                client=client,
            )

    verdicts = asyncio.run(go())
    assert [(v.host, v.outcome) for v in verdicts] == [("app-1", Outcome.PASS), ("app-2", Outcome.FAIL)]


def test_tcp_probe_open_and_closed_port() -> None:
    """A listening port passes; a closed one fails with 'connection refused'."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        ok = asyncio.run(probe_tcp(address=f"127.0.0.1:{port}", host="h"))
    closed = asyncio.run(probe_tcp(address=f"127.0.0.1:{port}", host="h"))
    assert ok.outcome is Outcome.PASS and ok.observed.startswith("connected in ")
    assert (closed.outcome, closed.observed) == (Outcome.FAIL, "connection refused")


def test_parse_address_forms() -> None:
    """host:port and [v6]:port parse; a missing port is an error."""
    assert parse_address("127.0.0.11:8080") == ("127.0.0.11", 8080)
    assert parse_address("[::1]:22") == ("::1", 22)
    with pytest.raises(ValueError, match="host:port"):
        parse_address("127.0.0.1")
