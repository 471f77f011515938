"""The driver contract: apply one change, undo exactly what was done, check a change without making it.

A driver knows one way of changing the world (Ansible plays, SSH commands, the
Kubernetes API) and nothing of gates, batches, bakes or the journal. The engine hands it
a rendered ``change``; the driver reports, *before* it alters anything, what undo will
need (``save``: the spec it read, the object it is about to create, the version it
replaces) and returns per-host results. The engine journals every saved record, so undo
works from the journal alone, also after a crash and ``golive resume``; the engine alone
decides when, and in which order, undo runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

__all__ = ["ActionResult", "Driver", "HostResult", "Save", "UndoRecord"]


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
    """Outcome of applying (or undoing, or checking) one action on a set of hosts or objects."""

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


@dataclass(frozen=True)
class UndoRecord:
    """What undo needs of one thing a driver changed: JSON only, so the journal can keep it.

    ``what`` says how to undo: ``saved`` (put ``spec`` back), ``created`` (delete the
    object), ``rollback`` (run ``spec``, a rendered compensating change).
    """

    what: str
    kind: str  # Deployment, Service, ansible, ssh ...
    name: str
    namespace: str | None = None
    spec: dict[str, Any] | None = None

    def key(self) -> tuple[str, str | None, str]:
        return (self.kind, self.namespace, self.name)

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "kind": self.kind, "name": self.name, "namespace": self.namespace, "spec": self.spec}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UndoRecord:
        return cls(
            what=data["what"],
            kind=data["kind"],
            name=data["name"],
            namespace=data.get("namespace"),
            spec=data.get("spec"),
        )


# Called by a driver before it changes anything; returns once the record is durable.
Save = Callable[[UndoRecord], None]

C = TypeVar("C", contravariant=True)


class Driver(Protocol[C]):
    """What every driver offers the engine; ``C`` is the driver's rendered change type."""

    def apply(self, change: C, *, save: Save) -> ActionResult:
        """Make the change; ``save`` each undo record before the state it describes is altered."""
        ...

    def undo(self, records: list[UndoRecord]) -> ActionResult:
        """Put back exactly what ``records`` (as saved by ``apply``) describe, newest first."""
        ...

    def check(self, change: C) -> ActionResult:
        """What the change would do, changing nothing (check mode, dry run, the rendered commands)."""
        ...
