"""golive status, runs and the controls (pause, promote, approve, reject) sent through a run's journal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from golive.cli.app import (
    EXIT_BAD_INPUT,
    EXIT_REFUSED,
    ByOpt,
    RootOpt,
    RunArg,
    app,
    err,
    find_run_handle,
    out,
    project_root,
)
from golive.errors import JournalCorrupt, RunbookError

if TYPE_CHECKING:
    from golive.engine.state import RunState
    from golive.inventory import Inventory


@app.command()
def status(
    run_id: RunArg = None, root: RootOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Where a run is: steps, batches, failures, rollback, who approved (exit 2: its journal is not as written)."""
    import json

    from golive.engine.execute import is_live
    from golive.engine.state import fold
    from golive.report.live import render_integrity, render_status

    handle = find_run_handle(run_id, root)
    found = handle.journal.integrity()
    try:
        state = fold(handle.journal)
    except JournalCorrupt:  # a line that is no entry: there is no state to show, only where it broke
        if as_json:
            sys.stdout.write(json.dumps({"run_id": handle.run_id, "journal": found.as_dict()}, indent=2) + "\n")
        else:
            render_integrity(found, console=out)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if as_json:
        data = render_status(state, live=is_live(handle), integrity=found, as_dict=True)
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        render_status(state, live=is_live(handle), integrity=found, console=out)
    if not found.intact:
        raise typer.Exit(EXIT_BAD_INPUT)


journal_app = typer.Typer(help="Check a run's journal.", no_args_is_help=True)
app.add_typer(journal_app, name="journal")


@journal_app.command("verify")
def journal_verify(run_id: RunArg = None, root: RootOpt = None) -> None:
    """Check every line: hash chain, head record, sequence and time order (exit 2 when not as written)."""
    handle = find_run_handle(run_id, root)
    found = handle.journal.integrity()
    problems = handle.journal.check_all()
    if problems:
        err.print(f"JOURNAL NOT AS WRITTEN: {handle.journal.path}", style="bold white on red", markup=False)
        for problem in problems:
            err.print(f"  {problem}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    out.print(
        f"run {handle.run_id}: journal intact: {found.entries} entries, seq 0..{found.entries - 1} in order, "
        f"hash chain and head record agree (head {found.head[:16]})" + (f"; {found.note}" if found.note else ""),
        markup=False,
    )


@app.command()
def runs(root: RootOpt = None, limit: Annotated[int, typer.Option("--limit")] = 20) -> None:
    """List recent runs, newest first."""
    from golive.engine.journal import Journal, runs_dir
    from golive.report.live import render_runs

    base = runs_dir(project_root(root))
    journals = (
        sorted(base.glob("*/journal.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
        if base.is_dir()
        else []
    )
    render_runs([Journal(p) for p in journals], console=out)


def _nothing_to_act_on(action: str, state: RunState, *, live: bool) -> str | None:
    """Why ``action`` would do nothing to this run now (None: it would act)."""
    where = f"it is {state.status}" + (f" at step {state.current}" if state.current else "")
    if state.finished:
        return f"already finished ({state.status})"
    if not live:
        return f"no golive process is running it ({where}): `golive resume` or `golive abort` it"
    if action == "promote" and state.promotable is None:
        return f"nothing to promote: no bake or timed wait is in progress ({where})"
    if action == "pause" and state.status in ("paused", "awaiting_approval"):
        return f"already holding: {where}"
    if action == "reject" and state.approval is None:
        return f"not waiting for an approval ({where})"
    return None


def _control(action: str, run_id: str | None, root: Path | None, by: str | None, **fields: object) -> None:
    from golive.engine.execute import is_live, send_control
    from golive.engine.state import fold

    handle = find_run_handle(run_id, root)
    state = fold(handle.journal, skip_damaged=True)  # the live runner reads past damage too
    why = _nothing_to_act_on(action, state, live=is_live(handle))
    if why:
        err.print(f"refused: run {handle.run_id}: {why}", style="bold red", markup=False)
        raise typer.Exit(EXIT_REFUSED)
    send_control(handle, action, by=by, **fields)
    what = f" ({state.promotable})" if action == "promote" else ""
    out.print(f"run {handle.run_id}: {action} sent{what}", markup=False)


@app.command()
def pause(run_id: RunArg = None, root: RootOpt = None, as_user: ByOpt = None) -> None:
    """Hold a running cutover at its next safe point until `golive resume`."""
    _control("pause", run_id, root, as_user)


@app.command()
def promote(run_id: RunArg = None, root: RootOpt = None, as_user: ByOpt = None) -> None:
    """End the current bake now and go on (journaled with who)."""
    _control("promote", run_id, root, as_user)


@app.command()
def approve(
    run_id: RunArg = None,
    root: RootOpt = None,
    as_user: ByOpt = None,
    comment: Annotated[str | None, typer.Option("--comment")] = None,
    digest: Annotated[str | None, typer.Option("--digest", help="the plan digest you reviewed")] = None,
    sign_with: Annotated[
        Path | None,
        typer.Option("--sign", help="sign with this SSH private key (required where the env asks for signatures)"),
    ] = None,
) -> None:
    """Approve the approval step a run waits at (bound to the plan digest; signed with --sign KEY)."""
    from golive.engine.approvals import refusal
    from golive.engine.execute import send_control
    from golive.engine.runner import current_user
    from golive.engine.state import fold
    from golive.inventory import load_inventory

    handle = find_run_handle(run_id, root)
    state = fold(handle.journal, skip_damaged=True)  # the live runner reads past damage too
    if state.approval is None:
        err.print(f"refused: run {handle.run_id} is not waiting for an approval", style="bold red")
        raise typer.Exit(EXIT_REFUSED)
    by = as_user or current_user()

    request, accepted = state.approval.request, state.approval.accepted
    inv: Inventory | None = None
    meta = state.meta
    if meta.get("env"):
        try:
            inv_path = meta.get("inventory_path")
            inv = load_inventory(root=project_root(root), env=meta["env"], path=Path(inv_path) if inv_path else None)
        except RunbookError:
            inv = None
    allowed = inv.approvers if inv is not None else None
    signature, principal = _signed(
        handle.run_id, step=request["step"], digest=digest or request["digest"], key=sign_with, inv=inv
    )
    by = principal or by
    why = refusal(
        by=by,
        digest=digest or request["digest"],
        plan_digest=request["digest"],
        initiator=request.get("initiator", ""),
        exclude_initiator=bool(request.get("exclude_initiator")),
        allowed=allowed,
        already=accepted,
    )
    if why:
        handle.journal.append("approval_refused", run_id=handle.run_id, step=request["step"], by=by, reason=why)
        err.print(f"refused: {why}", style="bold red")
        raise typer.Exit(EXIT_REFUSED)
    send_control(
        handle,
        "approve",
        by=by,
        comment=comment,
        digest=digest or request["digest"],
        step=request["step"],
        signature=signature,
    )
    n = len(accepted) + 1
    how = " (signature verified)" if principal else (" (signed)" if signature else "")
    out.print(
        f"run {handle.run_id}: approval by {by}{how} sent ({n}/{request['approvers']}) "
        f"for plan {request['digest'][:12]}"
    )


def _signed(
    run_id: str, *, step: str, digest: str, key: Path | None, inv: Inventory | None
) -> tuple[str | None, str | None]:
    """(signature, verified principal) of this approval; exit 4 where the env needs a signature it lacks."""
    from golive.signing import SigningError, payload, sign, verify

    required = inv is not None and inv.require_signed_approvals
    signers = inv.allowed_signers if inv is not None else None
    if key is None:
        if required:
            err.print(
                f"refused: approvals in env {inv.env if inv else ''} must be signed: "
                f"golive approve {run_id} --sign ~/.ssh/id_ed25519 (a key listed in {signers or 'allowed_signers'})",
                style="bold red",
                markup=False,
            )
            raise typer.Exit(EXIT_REFUSED)
        return None, None
    data = payload(run_id=run_id, step=step, digest=digest, decision="approve")
    try:
        signature = sign(key.expanduser(), data)
        principal = verify(signature, data, allowed_signers=signers) if signers is not None else None
    except SigningError as exc:
        err.print(f"refused: {exc}", style="bold red", markup=False)
        raise typer.Exit(EXIT_REFUSED) from None
    return signature, principal


@app.command()
def reject(
    run_id: RunArg = None,
    root: RootOpt = None,
    as_user: ByOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="why (journaled)")] = "",
) -> None:
    """Reject the approval a run waits at: the run rolls back."""
    if not reason:
        err.print("a rejection needs --reason TEXT", style="red")
        raise typer.Exit(EXIT_BAD_INPUT)
    _control("reject", run_id, root, as_user, reason=reason)
