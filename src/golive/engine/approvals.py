"""Approvals: a second (and third) pair of eyes, bound to the plan digest.

An approval is a control entry in the journal, written by ``golive approve`` from any
terminal. The runner counts only approvals that pass ``refusal``: right digest, a
person allowed in this env, not the initiator where that is excluded, one vote each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from golive.engine.controls import Aborted
from golive.exits import ExitCode
from golive.runbook.render import render
from golive.signing import SigningError, payload, verify

if TYPE_CHECKING:
    from golive.engine.runner import Runner
    from golive.plan import PlannedStep

__all__ = ["await_approval", "refusal", "signed_by"]

POLL_S = 0.2


def refusal(
    *,
    by: str,
    digest: str | None,
    plan_digest: str,
    initiator: str,
    exclude_initiator: bool,
    allowed: list[str] | None,
    already: list[str],
) -> str | None:
    """Why this approval does not count, or None when it does."""
    if digest and digest != plan_digest:
        return f"approval is for plan {digest[:12]}, this run executes plan {plan_digest[:12]}"
    if exclude_initiator and by == initiator:
        return f"{by} started this run and may not approve it (two-person rule)"
    if allowed is not None and by not in allowed:
        return f"{by} is not an approver for this environment (approvers: {', '.join(allowed)})"
    if by in already:
        return f"{by} has already approved; a second approval must come from someone else"
    return None


def await_approval(runner: Runner, *, planned: PlannedStep, message: str | None) -> None:
    spec = planned.approval
    assert spec is not None
    steer, svc = runner.steer, runner.svc
    allowed = svc.approvers()
    accepted: list[str] = []
    end = svc.clock() + spec.timeout_s
    ui = _open_ui(runner, spec.timeout_s)
    steer.record(
        "approval_requested",
        step=planned.id,
        digest=runner.plan.digest,
        approvers=spec.approvers,
        exclude_initiator=spec.exclude_initiator,
        initiator=runner.initiator,
        timeout_s=spec.timeout_s,
        message=render(message, runner.context(planned)) if message else None,
        next_steps=[s.id for s in runner.plan.steps[planned.index + 1 :]],
        flow_run_id=str(ui.flow_run_id) if ui is not None else None,
        howto=f"golive approve {runner.run_id} "
        + ("--sign ~/.ssh/id_ed25519" if runner.svc.signers() is not None else "--as NAME")
        + f" | golive reject {runner.run_id} --reason TEXT",
    )
    try:
        while True:
            steer.poll()
            if steer.abort_reason:
                raise Aborted(steer.abort_reason)
            from_ui = ui.poll() if ui is not None else None
            if from_ui is not None:  # journaled as a control like any other, and so taken below once
                steer.record("control", **from_ui, digest=runner.plan.digest, step=planned.id)
            for c in steer.take("approve", "reject"):
                _count(runner, planned, c, accepted, allowed)
            if len(accepted) >= spec.approvers:
                steer.record("approval_granted", step=planned.id, approvers=accepted)
                return
            if from_ui is not None and ui is not None:
                ui.open()  # the UI answer resumed the flow run: pause it again for the next vote
            if svc.clock() >= end:
                steer.record("approval_timed_out", step=planned.id, on_timeout=spec.on_timeout)
                raise Aborted(
                    f"approval timed out after {spec.timeout_s:g}s ({spec.on_timeout})",
                    rollback=spec.on_timeout == "reject",
                    exit_code=ExitCode.REFUSED,
                )
            svc.sleep(POLL_S)
    finally:
        if ui is not None:
            _close_ui(runner, ui)


def signed_by(runner: Runner, planned: PlannedStep, c: dict[str, Any]) -> tuple[str | None, str | None]:
    """(verified principal, None) for a signed approval; (None, why not) where one is required and
    missing or false; (None, None) where signatures are not required and none was given."""
    signers = runner.svc.signers()
    if signers is None and not c.get("signature"):
        return None, None
    if not c.get("signature"):
        how = "the Prefect UI cannot sign: approve" if c.get("source") == "ui" else "approve"
        return None, (
            f"unsigned: env approvals must be signed by a key in {signers.name if signers else 'allowed_signers'}; "
            f"{how} with `golive approve {runner.run_id} --sign ~/.ssh/id_ed25519`"
        )
    if signers is None:
        return None, None  # a signature nobody asked for, with nothing to verify it against: counts by name
    data = payload(run_id=runner.run_id, step=planned.id, digest=runner.plan.digest, decision="approve")
    try:
        return verify(str(c["signature"]), data, allowed_signers=signers), None
    except SigningError as exc:
        return None, f"signature refused: {exc}"


def _count(
    runner: Runner, planned: PlannedStep, c: dict[str, Any], accepted: list[str], allowed: list[str] | None
) -> None:
    """One answer: a rejection ends the wait; an approval counts when nothing refuses it."""
    spec = planned.approval
    assert spec is not None
    by = str(c.get("by"))
    if c["action"] == "reject":  # unsigned is enough: a rejection only ever rolls back
        runner.record("approval_rejected", step=planned.id, by=by, reason=c.get("reason"))
        raise Aborted(f"approval rejected by {by}: {c.get('reason') or 'no reason given'}", exit_code=ExitCode.REFUSED)
    principal, unsigned = signed_by(runner, planned, c)
    if unsigned:
        runner.record("approval_refused", step=planned.id, by=by, reason=unsigned)
        return
    by = principal or by
    why = refusal(
        by=by,
        digest=c.get("digest"),
        plan_digest=runner.plan.digest,
        initiator=runner.initiator,
        exclude_initiator=spec.exclude_initiator,
        allowed=allowed,
        already=accepted,
    )
    if why:
        runner.record("approval_refused", step=planned.id, by=by, reason=why)
        return
    accepted.append(by)
    runner.record(
        "approval_accepted",
        step=planned.id,
        by=by,
        comment=c.get("comment"),
        count=len(accepted),
        needed=spec.approvers,
        source=c.get("source", "cli"),
        signed=principal is not None,
    )


def _open_ui(runner: Runner, timeout_s: float) -> Any:
    """The Prefect UI form for this approval, or None; a UI that fails never blocks the CLI path."""
    try:
        ui = runner.svc.approval_ui(timeout_s, runner.svc.clock)
        if ui is not None:
            ui.open()
        return ui
    except Exception as exc:
        runner.record("approval_ui_unavailable", error=str(exc))
        return None


def _close_ui(runner: Runner, ui: Any) -> None:
    try:
        ui.close()
    except Exception as exc:
        runner.record("approval_ui_unavailable", error=str(exc))
