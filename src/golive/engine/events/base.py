"""What every journal entry carries, and the shapes nested inside some events."""

from __future__ import annotations

from typing import NotRequired

from pydantic import BaseModel, ConfigDict, with_config
from typing_extensions import TypedDict

__all__ = ["ENVELOPE", "Event", "HostOutcome", "InputRef", "StepRef"]

# Written by Journal.append itself; a writer never passes them.
ENVELOPE = frozenset({"seq", "ts", "prev", "event"})


class Event(BaseModel):
    """One journal entry. Subclasses narrow ``event`` to their name and declare their fields.

    Unknown fields are refused, so a writer cannot add a field the docs and readers do not know.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    ts: str
    prev: str
    run_id: str
    event: str


@with_config(ConfigDict(extra="forbid"))
class StepRef(TypedDict):
    """A step of the plan as run_started lists it (older journals have only id and kind)."""

    id: str
    kind: str
    owner: NotRequired[str | None]
    action: NotRequired[str]
    estimate_s: NotRequired[float]


@with_config(ConfigDict(extra="forbid"))
class InputRef(TypedDict):
    """One input of the plan and its hash, as run_started keeps it (``golive.plan.PlanInput``)."""

    kind: str
    name: str
    sha256: str
    note: NotRequired[str]


@with_config(ConfigDict(extra="forbid"))
class HostOutcome(TypedDict):
    """What an action did on one host (a rollback action leaves out changed and unreachable)."""

    ok: bool
    message: str
    changed: NotRequired[bool]
    unreachable: NotRequired[bool]
