"""A change: a plan proposed for one environment, approved (or rejected) before it runs.

The record keeps what ``golive run --change`` needs to rebuild the same context (runbook,
env, inventory, command-line params), the plan and its digest as proposed, and one hash per
input, so that a run is refused, naming the input, when anything changed since approval.
What happened to the change since (approvals, rejections, the run and its outcome) is a
list of events; its state is those events folded, nothing kept beside them.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from golive.plan import PlanInput

__all__ = [
    "CHANGE_ID",
    "Change",
    "ChangeEvent",
    "ChangePolicy",
    "ChangeState",
    "new_change_id",
    "now_iso",
]

CHANGE_ID = re.compile(r"^chg-\d{8}-\d{4}-[0-9a-f]{4}$")
EventKind = Literal["approved", "rejected", "ran", "finished"]
StateName = Literal["proposed", "approved", "rejected", "ran", "failed"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_change_id(now: datetime | None = None) -> str:
    """Short and readable: ``chg-20261203-0612-ab12`` (UTC minute, 4 random hex digits)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M")
    return f"chg-{stamp}-{secrets.token_hex(2)}"


def same_person(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


class ChangePolicy(BaseModel):
    """An environment's rules for changes (``golive_*`` settings of its inventory)."""

    model_config = ConfigDict(frozen=True)

    required: int = 0  # distinct approvers needed
    protected: bool = False  # the proposer may not approve
    approvers: list[str] | None = None  # only these may approve, when set
    require_change: bool = False  # `golive run` without --change is refused
    # Where only signed approvals count: the allowed_signers file their keys must be in.
    signers: str | None = None

    def may_approve(self, who: str, *, proposer: str) -> str | None:
        """Why ``who`` may not approve this change, or None."""
        if self.protected and same_person(who, proposer):
            return f"{who} proposed this change and the env is protected: the proposer may not approve it"
        if self.approvers is not None and not any(same_person(who, a) for a in self.approvers):
            return f"{who} is not among the env's approvers ({', '.join(self.approvers) or 'none'})"
        return None


class ChangeEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: EventKind
    at: str
    by: str | None = None
    comment: str | None = None
    run_id: str | None = None
    status: str | None = None  # finished: the run's status (succeeded, rolled_back, refused, ...)
    exit_code: int | None = None
    # approved: the approver's SSH signature over the change id, its plan digest and the decision.
    signature: str | None = None


class ChangeState(BaseModel):
    """A change's events folded: who approved (distinct, allowed), rejected, ran."""

    model_config = ConfigDict(frozen=True)

    name: StateName
    approvers: list[str]
    required: int
    rejected_by: str | None = None
    run_id: str | None = None
    run_status: str | None = None

    def label(self) -> str:
        return f"{self.name}({self.run_id})" if self.run_id else self.name


class Change(BaseModel):
    """One proposed plan for one env; ``events`` only ever grows."""

    id: str
    created: str
    proposer: str
    comment: str | None = None
    runbook: str  # the runbook's name
    file: str  # the runbook file as given
    file_abs: str
    env: str | None
    inventory_path: str | None = None
    cli_params: dict[str, Any] = {}
    digest: str
    inputs: list[PlanInput] = []
    policy: ChangePolicy = ChangePolicy()
    plan: dict[str, Any]
    # The go-live document (golive doc, Markdown) of the plan, as the approvers read it.
    document: str | None = None
    events: list[ChangeEvent] = []

    def approvals(self, policy: ChangePolicy | None = None) -> list[str]:
        """Distinct people whose approval counts under ``policy`` (the one saved by default)."""
        policy = policy or self.policy
        seen: list[str] = []
        for e in self.events:
            who = e.by or ""
            if e.kind != "approved" or any(same_person(who, s) for s in seen):
                continue
            if policy.signers is not None and not self._signed_by(e, policy.signers):
                continue
            if policy.may_approve(who, proposer=self.proposer) is None:
                seen.append(who)
        return seen

    def _signed_by(self, event: ChangeEvent, signers: str) -> bool:
        """The approval's signature verifies, over this change and digest, for the name it is recorded under."""
        from pathlib import Path

        from golive.signing import SigningError, change_payload, verify

        if not event.signature or not event.by:
            return False
        data = change_payload(change_id=self.id, digest=self.digest, decision="approve")
        try:
            return same_person(verify(event.signature, data, allowed_signers=Path(signers)), event.by)
        except SigningError:
            return False

    def state(self, policy: ChangePolicy | None = None) -> ChangeState:
        policy = policy or self.policy
        approvers = self.approvals(policy)
        base: dict[str, Any] = {"approvers": approvers, "required": policy.required}
        rejected = next((e for e in self.events if e.kind == "rejected"), None)
        if rejected is not None:
            return ChangeState(name="rejected", rejected_by=rejected.by, **base)
        ran = self._last_run()
        if ran is not None:
            run_id, finished = ran
            status = finished.status if finished is not None else None  # None: still running (or died)
            ran_as: StateName = "failed" if status not in (None, "succeeded") else "ran"
            return ChangeState(name=ran_as, run_id=run_id, run_status=status, **base)
        waiting: StateName = "approved" if len(approvers) >= policy.required else "proposed"
        return ChangeState(name=waiting, **base)

    def _last_run(self) -> tuple[str, ChangeEvent | None] | None:
        """The run that used this change: a run refused before it started does not count."""
        for e in reversed(self.events):
            if e.kind != "ran" or e.run_id is None:
                continue
            ends = [f for f in self.events if f.kind == "finished" and f.run_id == e.run_id]
            finished = ends[-1] if ends else None  # a resumed run ends again: the last end is its outcome
            if finished is not None and finished.status == "refused":
                continue
            return e.run_id, finished
        return None
