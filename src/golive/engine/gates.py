"""Gates: repeat checks on a schedule and judge them into one Verdict outcome.

A check measures ``count`` times, ``interval`` apart, on each of its hosts. It FAILs as
soon as more than ``failure_limit`` measurements failed, which ends the gate at once
(the engine starts rollback without waiting for the other checks). More than
``consecutive_errors`` inconclusive measurements in a row make the gate INCONCLUSIVE.
The clock and sleep are parameters so unit tests run gates on fake time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from golive.checks.base import Outcome, Verdict
from golive.runbook.models import CommandCheck, HttpCheck, K8sCheck, PrometheusCheck, TcpCheck
from golive.runbook.render import HostRef, names_variable, render

__all__ = ["GateOutcome", "GateRunner", "Probe"]

log = structlog.get_logger(__name__)

# One measurement of one check on one host (or on no host). The engine supplies real
# probes; unit tests supply fakes.
Probe = Callable[[Any, HostRef | None, dict[str, Any]], Awaitable[Verdict]]


@dataclass
class GateOutcome:
    outcome: Outcome
    verdicts: list[Verdict] = field(default_factory=list)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.PASS


class _Stop(Exception):
    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


@dataclass
class GateRunner:
    probe: Probe
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    on_verdict: Callable[[Verdict], None] = lambda v: None
    should_stop: Callable[[], str | None] = lambda: None

    def evaluate(
        self,
        checks: Sequence[Any],
        *,
        hosts: Sequence[HostRef],
        host_of: Callable[[str], HostRef],
        context: dict[str, Any],
        host_patterns: Callable[[str], list[str]],
    ) -> GateOutcome:
        """Run every check to completion (or the first failure) and judge them together."""
        if not checks:
            return GateOutcome(Outcome.PASS)
        return asyncio.run(
            self._evaluate(checks, hosts=hosts, host_of=host_of, context=context, host_patterns=host_patterns)
        )

    async def _evaluate(
        self,
        checks: Sequence[Any],
        *,
        hosts: Sequence[HostRef],
        host_of: Callable[[str], HostRef],
        context: dict[str, Any],
        host_patterns: Callable[[str], list[str]],
    ) -> GateOutcome:
        verdicts: list[Verdict] = []
        tasks = []
        for check in checks:
            pattern = getattr(check, "hosts", None)
            targets: list[HostRef | None]
            if isinstance(check, HttpCheck | TcpCheck | CommandCheck):
                targets = [host_of(h) for h in host_patterns(render(pattern, context))] if pattern else list(hosts)
                if not targets:
                    targets = [None]
            elif isinstance(check, PrometheusCheck) and _names_host(check):
                # A query about {{ host }} is one measurement per host of the batch.
                targets = list(hosts) or [None]
            else:
                targets = [None]
            tasks.append(asyncio.ensure_future(self._run_check(check, targets, context, verdicts)))
        try:
            for fut in asyncio.as_completed(tasks):
                await fut
        except _Stop as stop:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return GateOutcome(stop.outcome, verdicts, stop.reason)
        return GateOutcome(Outcome.PASS, verdicts)

    async def _run_check(
        self, check: Any, targets: list[HostRef | None], context: dict[str, Any], verdicts: list[Verdict]
    ) -> None:
        failures = 0
        passes = 0
        errors_in_row = 0
        if check.initial_delay:
            await self.sleep(check.initial_delay)
        for i in range(check.count):
            if i:
                await self.sleep(check.interval)
            reason = self.should_stop()
            if reason:
                raise _Stop(Outcome.INCONCLUSIVE, reason)
            round_verdicts = await asyncio.gather(*(self._measure(check, t, context) for t in targets))
            inconclusive = False
            for v in round_verdicts:
                verdicts.append(v)
                self.on_verdict(v)
                if v.outcome is Outcome.PASS:
                    passes += 1
                elif v.outcome is Outcome.FAIL:
                    failures += 1
                elif v.outcome is Outcome.INCONCLUSIVE:
                    inconclusive = True
            if failures > check.failure_limit:
                bad = next(v for v in reversed(verdicts) if v.outcome is Outcome.FAIL)
                raise _Stop(
                    Outcome.FAIL,
                    f"{failures} failed measurement(s) > failure_limit {check.failure_limit}: {bad.summary()}",
                )
            errors_in_row = errors_in_row + 1 if inconclusive else 0
            if errors_in_row > check.consecutive_errors or (i == check.count - 1 and not passes):
                bad = next(v for v in reversed(verdicts) if v.outcome is Outcome.INCONCLUSIVE)
                raise _Stop(Outcome.INCONCLUSIVE, f"no usable measurement: {bad.summary()}")

    async def _measure(self, check: Any, target: HostRef | None, context: dict[str, Any]) -> Verdict:
        ctx = {**context, "host": target} if target is not None else context
        try:
            return await self.probe(check, target, ctx)
        except Exception as exc:  # a probe that breaks is a measurement we could not make
            log.warning("probe_error", check=check.kind, host=target.name if target else None, error=str(exc))
            return Verdict(
                Outcome.INCONCLUSIVE,
                check.kind,
                str(getattr(check, check.kind, "")),
                observed=f"error: {exc}",
                limit="a measurement",
                host=target.name if target else None,
            )


def _names_host(check: PrometheusCheck) -> bool:
    """True when the query or its baseline uses ``host`` (only defined per host)."""
    texts = [check.prometheus, check.baseline.query if check.baseline else ""]
    # A template that does not parse is not per host; rendering reports it as an inconclusive measurement.
    return any(names_variable(text, "host") for text in texts)


def is_analysis(check: Any) -> bool:
    """Checks that keep measuring while a batch bakes."""
    return isinstance(check, PrometheusCheck | K8sCheck)
