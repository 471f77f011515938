"""Command probe: run one command on a host and judge its exit code and stdout.

The probe does not reach hosts itself: the engine hands it a ``RunCommand`` (over SSH).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from golive.checks.base import Outcome, Verdict
from golive.checks.deps import CommandResult, ProbeDeps, RunCommand
from golive.runbook.limits import command_limit
from golive.runbook.models import CommandCheck
from golive.runbook.render import HostRef, render_shell

__all__ = ["CONNECT_ATTEMPTS", "DEFAULT_TIMEOUT", "MAX_OUTPUT", "probe_command", "probe_command_check"]

MAX_OUTPUT = 16384
MAX_SHOWN = 120
# Two connect attempts ride out a dropped handshake; the gate around the probe repeats the rest.
CONNECT_ATTEMPTS = 2
DEFAULT_TIMEOUT = 30.0


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:MAX_SHOWN] if lines else ""


async def probe_command(
    *, run: RunCommand, host: str, command: str, expect_rc: int, stdout_regex: str | None, timeout: float
) -> Verdict:
    """PASS when ``command`` exits with ``expect_rc`` on ``host`` and its stdout matches ``stdout_regex``.

    An unreachable host or a refused host key FAILs, like an HTTP probe to a dead host.
    """
    limit = command_limit(rc=expect_rc, stdout=stdout_regex)

    def verdict(outcome: Outcome, observed: str, message: str = "") -> Verdict:
        return Verdict(
            outcome=outcome, check="command", target=command, observed=observed, limit=limit, host=host, message=message
        )

    def call() -> CommandResult:
        return run(host=host, command=command, timeout=timeout, max_output=MAX_OUTPUT, attempts=CONNECT_ATTEMPTS)

    out = await asyncio.to_thread(call)
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


async def probe_command_check(
    check: CommandCheck, target: HostRef | None, ctx: dict[str, Any], deps: ProbeDeps
) -> Verdict:
    if deps.run_command is None or target is None:
        raise ValueError("a command check needs hosts from an inventory")
    return await probe_command(
        run=deps.run_command,
        host=target.name,
        command=render_shell(check.command, ctx),
        expect_rc=check.expect.rc,
        stdout_regex=check.expect.stdout,
        timeout=check.timeout or DEFAULT_TIMEOUT,
    )
