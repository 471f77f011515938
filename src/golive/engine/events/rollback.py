"""Rollback: each applied unit undone, newest first."""

from __future__ import annotations

from typing import Literal

from golive.engine.events.base import Event

__all__ = [
    "CompensationDone",
    "CompensationFailed",
    "CompensationMissing",
    "CompensationSkipped",
    "CompensationStarted",
    "RollbackDone",
    "RollbackFailed",
    "RollbackResumed",
    "RollbackStarted",
]


class RollbackStarted(Event):
    event: Literal["rollback_started"] = "rollback_started"
    reason: str
    units: list[str]


class CompensationStarted(Event):
    event: Literal["compensation_started"] = "compensation_started"
    unit: str
    step: str
    batch: int | None
    hosts: list[str]


class CompensationSkipped(Event):
    event: Literal["compensation_skipped"] = "compensation_skipped"
    unit: str
    why: str


class CompensationMissing(Event):
    event: Literal["compensation_missing"] = "compensation_missing"
    unit: str
    step: str


class CompensationFailed(Event):
    """One failed attempt; more may follow."""

    event: Literal["compensation_failed"] = "compensation_failed"
    unit: str
    attempt: int
    error: str
    permanent: bool = False


class RollbackResumed(Event):
    """A rollback a dead process began goes on in a new process (it never goes forward again)."""

    event: Literal["rollback_resumed"] = "rollback_resumed"
    reason: str
    units: list[str]


class CompensationDone(Event):
    event: Literal["compensation_done"] = "compensation_done"
    unit: str


class RollbackDone(Event):
    event: Literal["rollback_done"] = "rollback_done"
    restored: list[str]


class RollbackFailed(Event):
    event: Literal["rollback_failed"] = "rollback_failed"
    restored: list[str]
    not_restored: list[str]
    reason: str
