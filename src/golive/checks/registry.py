"""One probe per check kind, looked up by the kind a check model declares (``HttpCheck.kind == "http"``).

A probe takes the check as written, the host it measures (or None), the template context
and what it needs from outside (``ProbeDeps``), and returns one Verdict. Adding a check kind
adds its model, its module here and one line in ``PROBES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

from golive.checks.base import Verdict
from golive.checks.command import probe_command_check
from golive.checks.deps import ProbeDeps
from golive.checks.http import probe_http_check
from golive.checks.k8s import probe_k8s_check
from golive.checks.prometheus import probe_prometheus_check
from golive.checks.tcp import probe_tcp_check
from golive.runbook.render import HostRef

__all__ = ["PROBES", "CheckProbe", "probe_check", "probe_for"]


class CheckProbe(Protocol):
    async def __call__(self, check: Any, target: HostRef | None, ctx: dict[str, Any], deps: ProbeDeps) -> Verdict: ...


PROBES: Mapping[str, CheckProbe] = MappingProxyType(
    {
        "http": probe_http_check,
        "tcp": probe_tcp_check,
        "command": probe_command_check,
        "prometheus": probe_prometheus_check,
        "k8s": probe_k8s_check,
    }
)


def probe_for(kind: str) -> CheckProbe:
    try:
        return PROBES[kind]
    except KeyError:
        raise TypeError(f"no probe for check kind {kind!r}; known: {', '.join(PROBES)}") from None


async def probe_check(check: Any, target: HostRef | None, ctx: dict[str, Any], deps: ProbeDeps) -> Verdict:
    """One measurement of ``check`` on ``target``, by the probe registered for its kind."""
    kind = getattr(check, "kind", None)
    if not isinstance(kind, str):
        raise TypeError(f"unknown check {type(check).__name__}")
    return await probe_for(kind)(check, target, ctx, deps)
