"""What every runbook model shares: unknown keys refused, frozen, validators built on first use."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["Model", "kind_of"]


class Model(BaseModel):
    # Deferred: only the models a command validates against get a validator built (Runbook, which
    # holds every other one); building one per class cost ~45 ms of every ``golive`` start.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


def kind_of(value: Any, kinds: tuple[str, ...]) -> str | None:
    if isinstance(value, dict):
        found = [k for k in kinds if k in value]
        return found[0] if len(found) == 1 else None
    kind = getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None
