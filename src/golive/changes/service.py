"""The rules of changes: proposing one, approving or rejecting it, running it.

A change runs only when enough distinct people allowed in its env approved it, no one
rejected it, it has not run yet, and every input still hashes as it did when it was
proposed. Anything else is a refusal (exit 4) that names what is missing or what changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from golive.changes.model import Change, ChangeEvent, ChangePolicy, new_change_id, now_iso
from golive.changes.store import BadStoreSetting, ChangeStore, DiskChangeStore
from golive.inputs import diff_inputs
from golive.inventory import Inventory
from golive.plan import Plan

if TYPE_CHECKING:
    from golive.context import RunContext
    from golive.engine.execute import RunHandle

__all__ = [
    "ChangeRefused",
    "approve",
    "change_store",
    "execute_change",
    "note_run_end",
    "policy_of",
    "prepare_change_run",
    "propose",
    "refuse_without_change",
    "reject",
    "user",
]


class ChangeRefused(Exception):
    """The change may not be approved or run now; exit 4, nothing runs."""


def user(name: str | None) -> str:
    """Who acts: ``--as`` or the OS user (as engine.runner.current_user, without importing the engine)."""
    import getpass

    return (name or os.environ.get("GOLIVE_USER") or getpass.getuser()).strip()


STORE_VAR = "GOLIVE_CHANGE_STORE"


def change_store(root: Path) -> ChangeStore:
    """Where the project's changes are kept.

    ``$GOLIVE_CHANGE_STORE=prefect``: on the Prefect server ``PREFECT_API_URL`` names, as Prefect
    Variables, so every machine sees the same changes. Otherwise ``<runs dir>/changes``
    (``$GOLIVE_RUNS_DIR`` honoured). The choice is explicit, never a server that happens to
    answer: ``plan --save`` and ``run --change`` must look in the same place.
    """
    from golive.engine.journal import runs_dir

    kind = os.environ.get(STORE_VAR, "disk")
    if kind == "prefect":
        url = os.environ.get("PREFECT_API_URL") or _settings_value(root, "PREFECT_API_URL")
        if not url:
            raise BadStoreSetting(
                f"{STORE_VAR}=prefect, but PREFECT_API_URL is set neither in the environment nor in .golive/env"
            )
        from golive.changes.prefect_store import PrefectChangeStore

        return PrefectChangeStore(url)
    if kind != "disk":
        raise BadStoreSetting(f"{STORE_VAR}={kind!r}: write disk (the default) or prefect")
    return DiskChangeStore(runs_dir(root) / "changes")


def _settings_value(root: Path, key: str) -> str | None:
    """A key of the settings file, read as is (apply_settings applies PREFECT_API_URL only once it answers)."""
    from dotenv import dotenv_values

    from golive.settings import settings_file

    path = settings_file(root)
    return dotenv_values(path).get(key) if path.is_file() else None


def policy_of(inventory: Inventory | None) -> ChangePolicy:
    if inventory is None:
        return ChangePolicy()
    return ChangePolicy(
        required=inventory.change_approvers,
        protected=inventory.protected,
        approvers=inventory.approvers,
        require_change=inventory.require_change,
        signers=_signers(inventory),
    )


def _signers(inventory: Inventory) -> str | None:
    """The allowed_signers file where only signed approvals count (a path that is not there verifies no one)."""
    if not inventory.require_signed_approvals:
        return None
    return str(inventory.allowed_signers or "allowed_signers (golive_allowed_signers is not set)")


# ------------------------------------------------------------------ propose, approve, reject


def propose(
    ctx: RunContext, plan: Plan, *, store: ChangeStore, proposer: str | None = None, comment: str | None = None
) -> Change:
    change = Change(
        id=new_change_id(),
        created=now_iso(),
        proposer=user(proposer),
        comment=comment,
        runbook=plan.runbook,
        file=str(ctx.loaded.path),
        file_abs=str(ctx.loaded.path.resolve()),
        env=ctx.env,
        inventory_path=str(ctx.inventory_path.resolve()) if ctx.inventory_path else None,
        cli_params=dict(ctx.params),
        digest=plan.digest,
        inputs=list(plan.inputs),
        policy=policy_of(ctx.inventory),
        plan=plan.model_dump(mode="json"),
        document=_document(ctx),
    )
    store.create(change)
    return change


def _document(ctx: RunContext) -> str:
    from golive.report.document import render_document

    return render_document(ctx, fmt="md")


def approve(
    store: ChangeStore, change_id: str, *, by: str | None, comment: str | None = None, sign: Path | None = None
) -> Change:
    """Record an approval; with ``sign`` (a private key) it is signed, and the key's principal is the approver."""
    who = user(by)
    signature: str | None = None
    if sign is not None:
        who, signature = _sign_change(store.get(change_id), sign)

    def allowed(change: Change) -> None:
        _refuse_if_closed(change, "approve")
        if change.policy.signers is not None and signature is None:
            raise ChangeRefused(
                f"change {change.id}: env {change.env!r} counts only signed approvals: "
                f"`golive change approve {change.id} --sign ~/.ssh/id_ed25519`"
            )
        why = change.policy.may_approve(who, proposer=change.proposer)
        if why:
            raise ChangeRefused(f"change {change.id}: {why}")

    event = ChangeEvent(kind="approved", at=now_iso(), by=who, comment=comment, signature=signature)
    return store.append(change_id, event, check=allowed)


def _sign_change(change: Change, key: Path) -> tuple[str, str]:
    """Sign the change with ``key`` and verify it: (the verified principal, the signature)."""
    from golive.signing import SigningError, change_payload, sign, verify

    data = change_payload(change_id=change.id, digest=change.digest, decision="approve")
    signers = change.policy.signers
    if signers is None:
        raise ChangeRefused(
            f"change {change.id}: env {change.env!r} names no allowed signers to verify a signature against "
            "(golive_allowed_signers and golive_require_signed_approvals in its group_vars)"
        )
    try:
        signature = sign(key, data)
        principal = verify(signature, data, allowed_signers=Path(signers))
    except SigningError as exc:
        raise ChangeRefused(f"change {change.id}: {exc}") from None
    return principal, signature  # whatever --as said: the key says who approves


def reject(store: ChangeStore, change_id: str, *, by: str | None, comment: str | None = None) -> Change:
    event = ChangeEvent(kind="rejected", at=now_iso(), by=user(by), comment=comment)
    return store.append(change_id, event, check=lambda c: _refuse_if_closed(c, "reject"))


def _refuse_if_closed(change: Change, verb: str) -> None:
    state = change.state()
    if state.name == "rejected":
        done = {"approve": "approved", "reject": "rejected", "run": "run"}[verb]
        raise ChangeRefused(f"change {change.id} was rejected by {state.rejected_by}: it can no longer be {done}")
    if state.run_id is not None:
        raise ChangeRefused(f"change {change.id} already ran (run {state.run_id}): propose a new change")


# ------------------------------------------------------------------ run


def refuse_without_change(ctx: RunContext) -> None:
    """An env that requires changes runs only ``golive run --change ID``."""
    if ctx.inventory is None or not ctx.inventory.require_change:
        return
    env = ctx.env or ctx.inventory.env
    raise ChangeRefused(
        f"env {env!r} requires an approved change (golive_require_change): propose one with "
        f"`golive plan {ctx.loaded.path} -e {env} --save`, have it approved with "
        "`golive change approve ID --as NAME` (or `--sign KEY` where approvals are signed), "
        "then `golive run --change ID`"
    )


def prepare_change_run(store: ChangeStore, change_id: str) -> tuple[Change, RunContext]:
    """The change and its context rebuilt now, planned; raises ChangeRefused unless it may run."""
    from golive.context import prepare

    change = store.get(change_id)
    _refuse_if_closed(change, "run")
    inv = change.inventory_path
    ctx = prepare(
        Path(change.file_abs),
        env=change.env,
        params=dict(change.cli_params),
        inventory_path=Path(inv) if inv else None,
        with_history=True,
    )
    plan = ctx.plan()
    problems = _run_problems(change, ctx, plan)
    if problems:
        raise ChangeRefused(f"change {change.id} may not run, nothing was executed:\n  " + "\n  ".join(problems))
    return change, ctx


def _run_problems(change: Change, ctx: RunContext, plan: Plan) -> list[str]:
    policy = policy_of(ctx.inventory)
    state = change.state(policy)
    out = []
    if len(state.approvers) < policy.required:
        who = ", ".join(state.approvers) or "no one"
        out.append(
            f"approved by {who}: {policy.required} distinct approver(s) needed"
            + (" (not the proposer)" if policy.protected else "")
            + (" (signed by a key in allowed_signers)" if policy.signers else "")
            + f"; `golive change approve {change.id} "
            + ("--sign ~/.ssh/id_ed25519`" if policy.signers else "--as NAME`")
        )
    changed = diff_inputs(change.inputs, plan.inputs)
    out += [f"input changed since it was proposed: {line}" for line in changed]
    if plan.digest != change.digest:
        out.append(f"plan digest changed: {change.digest[:12]} → {plan.digest[:12]}")
    if changed or plan.digest != change.digest:
        env = f" -e {change.env}" if change.env else ""
        out.append(f"propose a new change for what is there now: `golive plan {change.file}{env} --save`")
    return out


def execute_change(
    store: ChangeStore,
    change: Change,
    ctx: RunContext,
    *,
    initiator: str | None,
    on_started: Callable[[RunHandle], None] | None = None,
    **execute: Any,
) -> tuple[RunHandle, int]:
    """Run the change; its record gets ``ran`` (the run id) as the run starts and its outcome at the end."""
    from golive.engine.execute import Refused, execute_new

    policy = policy_of(ctx.inventory)
    started: list[RunHandle] = []

    def still_runnable(current: Change) -> None:  # another process may have run or rejected it meanwhile
        _refuse_if_closed(current, "run")
        if len(current.approvals(policy)) < policy.required:
            raise Refused(f"change {current.id} is no longer approved by enough people")

    def mark_ran(handle: RunHandle) -> None:
        event = ChangeEvent(kind="ran", at=now_iso(), by=user(initiator), run_id=handle.run_id)
        try:
            store.append(change.id, event, check=still_runnable)
        except ChangeRefused as exc:
            raise Refused(str(exc)) from None
        started.append(handle)
        if on_started is not None:
            on_started(handle)

    try:
        handle, code = execute_new(ctx, initiator=initiator, on_started=mark_ran, change_id=change.id, **execute)
    except BaseException as exc:
        if started:
            _finish(store, change.id, started[0], refused=isinstance(exc, Refused))
        raise
    _finish(store, change.id, handle, code=code)
    return handle, code


def note_run_end(root: Path, handle: RunHandle) -> str | None:
    """A run carrying a change ended in another process (resume, abort): record its outcome on the change.

    Returns a warning when the change could not be updated; the run's own outcome stands either way.
    """
    first, _ = handle.journal.ends()
    change_id = first.get("change_id")
    if not change_id:
        return None
    try:
        _finish(change_store(root), str(change_id), handle)
    except Exception as exc:  # the journal has the outcome; the change record only points at it
        return f"change {change_id}: its record was not updated with the run's outcome ({exc})"
    return None


def _finish(
    store: ChangeStore, change_id: str, handle: RunHandle, *, code: int | None = None, refused: bool = False
) -> None:
    from golive.engine.state import fold

    status = "refused" if refused else None
    if status is None:
        try:
            state = fold(handle.journal)
            status, code = state.status, state.exit_code if code is None else code
        except Exception:  # the outcome is the journal's; the change record only points at it
            status = "unknown"
    event = ChangeEvent(kind="finished", at=now_iso(), run_id=handle.run_id, status=status, exit_code=code)
    store.append(change_id, event)
