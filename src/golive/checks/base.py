"""What a single measurement says: PASS, FAIL or INCONCLUSIVE, with observed vs limit."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Outcome", "Verdict"]


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    # No data, or the measurement itself failed past its retries: a human decides.
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    check: str  # http | tcp | command | prometheus | k8s
    target: str  # the rendered URL, address, command, query or object
    observed: str  # what was seen, e.g. "status 503 in 0.012s" or "0.031"
    limit: str  # what was required, e.g. "status 200, latency <= 2s" or "<= 0.01"
    host: str | None = None
    value: float | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.PASS

    def summary(self) -> str:
        where = f" on {self.host}" if self.host else ""
        return f"{self.check} {self.outcome.value}{where}: observed {self.observed}, limit {self.limit}" + (
            f" ({self.message})" if self.message else ""
        )

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outcome"] = self.outcome.value
        return d
