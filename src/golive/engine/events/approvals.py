"""An approval step: the request, each answer, and how it ended."""

from __future__ import annotations

from typing import Literal

from golive.engine.events.base import Event

__all__ = [
    "ApprovalAccepted",
    "ApprovalGranted",
    "ApprovalRefused",
    "ApprovalRejected",
    "ApprovalRequested",
    "ApprovalTimedOut",
    "ApprovalUiUnavailable",
]


class ApprovalRequested(Event):
    event: Literal["approval_requested"] = "approval_requested"
    step: str
    digest: str
    approvers: int
    exclude_initiator: bool
    initiator: str
    timeout_s: float
    message: str | None
    next_steps: list[str]
    flow_run_id: str | None
    howto: str


class ApprovalAccepted(Event):
    event: Literal["approval_accepted"] = "approval_accepted"
    step: str
    by: str
    comment: str | None
    count: int
    needed: int
    source: str
    signed: bool = False  # by is the principal whose key verified, not a name typed


class ApprovalRefused(Event):
    """An approval that does not count (wrong digest, not an approver, the initiator, twice)."""

    event: Literal["approval_refused"] = "approval_refused"
    step: str
    by: str
    reason: str


class ApprovalRejected(Event):
    event: Literal["approval_rejected"] = "approval_rejected"
    step: str
    by: str
    reason: str | None


class ApprovalGranted(Event):
    event: Literal["approval_granted"] = "approval_granted"
    step: str
    approvers: list[str]


class ApprovalTimedOut(Event):
    event: Literal["approval_timed_out"] = "approval_timed_out"
    step: str
    on_timeout: Literal["reject", "abort"]


class ApprovalUiUnavailable(Event):
    """The Prefect UI form could not be opened or closed; the CLI path still works."""

    event: Literal["approval_ui_unavailable"] = "approval_ui_unavailable"
    error: str
