"""What every driver returns: a result per host, so the engine can count failures per batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ActionResult", "HostResult"]


@dataclass(frozen=True)
class HostResult:
    host: str
    ok: bool
    changed: bool = False
    unreachable: bool = False
    message: str = ""
    output: str = ""
    rc: int | None = None


@dataclass
class ActionResult:
    """Outcome of applying (or undoing, or checking) one action on a set of hosts."""

    results: dict[str, HostResult] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_hosts(self) -> list[str]:
        return [h for h, r in self.results.items() if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed_hosts

    def summary(self) -> str:
        bad = self.failed_hosts
        if not bad:
            return f"ok on {len(self.results)} host(s)"
        parts = [
            f"{h}: {'unreachable' if self.results[h].unreachable else 'failed'}"
            f"{' (' + self.results[h].message + ')' if self.results[h].message else ''}"
            for h in bad
        ]
        return f"failed on {len(bad)}/{len(self.results)} host(s): " + "; ".join(parts)
