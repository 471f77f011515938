"""TCP probe: does something accept connections on host:port."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from golive.checks.base import Outcome, Verdict
from golive.checks.deps import ProbeDeps
from golive.runbook.limits import DEFAULT_TCP_TIMEOUT, tcp_limit
from golive.runbook.models import TcpCheck
from golive.runbook.render import HostRef, render

__all__ = ["parse_address", "probe_tcp", "probe_tcp_check"]


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` into its parts; ValueError when the port is missing or bad."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise ValueError(f"bad address {address!r}; use host:port, e.g. 127.0.0.11:8080")
    return host.removeprefix("[").removesuffix("]"), int(port)


async def probe_tcp(*, address: str, host: str | None, timeout: float = DEFAULT_TCP_TIMEOUT) -> Verdict:
    """Open and close one connection to ``address``; PASS when it is accepted within ``timeout``."""
    limit = tcp_limit(timeout=timeout)

    def verdict(outcome: Outcome, observed: str, value: float | None = None) -> Verdict:
        return Verdict(
            outcome=outcome, check="tcp", target=address, observed=observed, limit=limit, host=host, value=value
        )

    try:
        name, port = parse_address(address)
    except ValueError as exc:
        return verdict(Outcome.INCONCLUSIVE, str(exc))
    started = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(name, port), timeout=timeout)
    except TimeoutError:
        return verdict(Outcome.FAIL, f"no answer within {timeout:g}s")
    except ConnectionRefusedError:
        return verdict(Outcome.FAIL, "connection refused")
    except OSError as exc:
        return verdict(Outcome.FAIL, exc.strerror or str(exc))
    elapsed = time.perf_counter() - started
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return verdict(Outcome.PASS, f"connected in {elapsed:.3f}s", elapsed)


async def probe_tcp_check(check: TcpCheck, target: HostRef | None, ctx: dict[str, Any], deps: ProbeDeps) -> Verdict:
    return await probe_tcp(
        address=render(check.tcp, ctx),
        host=target.name if target else None,
        timeout=check.timeout or DEFAULT_TCP_TIMEOUT,
    )
