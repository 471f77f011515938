"""Command probe: run one command on a host over SSH and judge its exit code and stdout."""

from __future__ import annotations

import asyncio
import re

from golive.checks.base import Outcome, Verdict
from golive.drivers.ssh import exec_on_host
from golive.inventory import Connection

__all__ = ["probe_command"]

MAX_OUTPUT = 16384
MAX_SHOWN = 120
CONNECT_ATTEMPTS = 2


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:MAX_SHOWN] if lines else ""


async def probe_command(
    *, connection: Connection, command: str, expect_rc: int, stdout_regex: str | None, timeout: float
) -> Verdict:
    """PASS when ``command`` exits with ``expect_rc`` and its stdout matches ``stdout_regex``.

    An unreachable host or a refused host key FAILs, like an HTTP probe to a dead host.
    """
    limit = f"rc {expect_rc}" + (f", stdout ~ /{stdout_regex}/" if stdout_regex else "")

    def verdict(outcome: Outcome, observed: str, message: str = "") -> Verdict:
        return Verdict(
            outcome=outcome,
            check="command",
            target=command,
            observed=observed,
            limit=limit,
            host=connection.name,
            message=message,
        )

    # Two connect attempts ride out a dropped handshake; the gate around the probe repeats the rest.
    out = await asyncio.to_thread(
        exec_on_host, connection, command, timeout=timeout, max_output=MAX_OUTPUT, attempts=CONNECT_ATTEMPTS
    )
    if out.error:
        return verdict(Outcome.FAIL, "unreachable", out.error)
    if out.timed_out:
        return verdict(Outcome.FAIL, f"no exit within {timeout:g}s")
    observed = f"rc {out.rc}"
    if out.rc != expect_rc:
        tail = _last_line(out.stderr) or _last_line(out.stdout)
        return verdict(Outcome.FAIL, f"{observed}: {tail}" if tail else observed)
    if stdout_regex is not None and not re.search(stdout_regex, out.stdout):
        return verdict(Outcome.FAIL, f"{observed}, stdout {_last_line(out.stdout)!r} does not match")
    return verdict(Outcome.PASS, observed)
