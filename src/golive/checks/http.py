"""HTTP health probe: one request, judged on status, body and latency.

A probe that cannot reach its target FAILs: for a health check a dead host is an answer.
Gates repeat probes and decide how many failures they tolerate.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import structlog

from golive.checks.base import Outcome, Verdict
from golive.checks.deps import ProbeDeps
from golive.runbook.limits import http_limit
from golive.runbook.models import HttpCheck
from golive.runbook.render import HostRef, render

__all__ = ["make_client", "probe_http", "probe_http_check", "probe_many", "request_timeout"]

log = structlog.get_logger(__name__)

MAX_REQUEST_TIMEOUT = 30.0
MAX_BODY_SHOWN = 80


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context, built once: loading the CA bundle costs ~20 ms of CPU a client."""
    return httpx.create_ssl_context()


def make_client(*, max_connections: int = 50) -> httpx.AsyncClient:
    """A client for probes: no proxies from the environment, no redirects followed."""
    # trust_env=False: an HTTP_PROXY meant for the internet must not carry health probes to lab hosts.
    return httpx.AsyncClient(
        trust_env=False,
        verify=_tls(),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )


def request_timeout(max_latency: float, timeout: float | None = None) -> float:
    """How long one request may take: a little past the latency limit, never unbounded."""
    if timeout is not None:
        return max(0.1, min(timeout, MAX_REQUEST_TIMEOUT))
    return min(max(max_latency + 1.0, 2.0), MAX_REQUEST_TIMEOUT)


def _fmt_s(seconds: float) -> str:
    return f"{seconds:g}s"


def describe_http_error(exc: httpx.HTTPError, timeout: float) -> str:
    """Short words for why no answer came: "connection refused", "connection reset", "timeout"."""
    # anyio reports "All connection attempts failed"; the OS error is further down the chain.
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 8:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return "connection reset"
    text = str(exc).lower()
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {_fmt_s(timeout)}"
    if "refused" in text:
        return "connection refused"
    if "reset" in text:
        return "connection reset"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"connection closed without a valid answer ({exc})" if str(exc) else "connection closed"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def probe_http(
    *,
    url: str,
    host: str | None,
    method: str,
    expect_status: int | list[int],
    body_regex: str | None,
    max_latency: float,
    client: httpx.AsyncClient,
    timeout: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Verdict:
    """Send one request to ``url`` and judge the answer."""
    expected = [expect_status] if isinstance(expect_status, int) else list(expect_status)
    limit = http_limit(status=expected, body=body_regex, max_latency=max_latency)
    wait = request_timeout(max_latency, timeout)

    def verdict(outcome: Outcome, observed: str, value: float | None = None, message: str = "") -> Verdict:
        return Verdict(
            outcome=outcome,
            check="http",
            target=url,
            observed=observed,
            limit=limit,
            host=host,
            value=value,
            message=message,
        )

    started = clock()
    try:
        response = await client.request(method, url, timeout=wait)
    except httpx.HTTPError as exc:
        observed = describe_http_error(exc, wait)
        log.info("http_probe_failed", url=url, host=host, observed=observed)
        return verdict(Outcome.FAIL, observed)
    latency = clock() - started
    observed = f"status {response.status_code} in {latency:.3f}s"
    if response.status_code not in expected:
        return verdict(Outcome.FAIL, observed, latency)
    if body_regex is not None and not re.search(body_regex, response.text):
        shown = response.text.strip()[:MAX_BODY_SHOWN]
        return verdict(Outcome.FAIL, f"{observed}, body {shown!r} does not match", latency)
    if latency > max_latency:
        return verdict(Outcome.FAIL, observed, latency, f"slower than {_fmt_s(max_latency)}")
    return verdict(Outcome.PASS, observed, latency)


async def probe_http_check(check: HttpCheck, target: HostRef | None, ctx: dict[str, Any], deps: ProbeDeps) -> Verdict:
    """One measurement of an ``http:`` check, its URL and body pattern rendered for ``target``."""
    async with make_client() as client:
        return await probe_http(
            url=render(check.http, ctx),
            host=target.name if target else None,
            method=check.method,
            expect_status=check.expect.status,
            body_regex=render(check.expect.body, ctx) if check.expect.body else None,
            max_latency=check.expect.max_latency,
            client=client,
            timeout=check.timeout,
        )


async def probe_many(
    *,
    targets: Sequence[tuple[str | None, str]],
    method: str = "GET",
    expect_status: int | list[int] = 200,
    body_regex: str | None = None,
    max_latency: float,
    client: httpx.AsyncClient,
    timeout: float | None = None,
    concurrency: int = 50,
) -> list[Verdict]:
    """Probe every ``(host, url)`` at once (at most ``concurrency`` in flight); verdicts in input order."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(host: str | None, url: str) -> Verdict:
        async with gate:
            return await probe_http(
                url=url,
                host=host,
                method=method,
                expect_status=expect_status,
                body_regex=body_regex,
                max_latency=max_latency,
                client=client,
                timeout=timeout,
            )

    return list(await asyncio.gather(*(one(h, u) for h, u in targets)))
