"""golive change approve/reject/show and golive changes: changes approved before the run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from golive.cli.app import EXIT_BAD_INPUT, EXIT_REFUSED, EnvOpt, RootOpt, app, err, out, project_root

if TYPE_CHECKING:
    from golive.changes import Change, ChangeStore

change_app = typer.Typer(
    help="Approve, reject or show a change proposed with `golive plan --save`.", no_args_is_help=True
)
app.add_typer(change_app, name="change")

IdArg = Annotated[str, typer.Argument(help="change id, e.g. chg-20261203-0612-ab12 (`golive changes` lists them)")]
CommentOpt = Annotated[str | None, typer.Option("--comment", help="a note kept with your answer")]


@contextmanager
def change_errors() -> Iterator[None]:
    """An unknown or malformed id is bad input (2); a change that may not be approved or run is a refusal (4)."""
    from golive.changes import BadChangeId, ChangeRefused, StoreUnavailable

    try:
        yield
    except BadChangeId as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (ChangeRefused, StoreUnavailable) as exc:
        err.print(f"refused: {exc}", style="bold red", markup=False)
        raise typer.Exit(EXIT_REFUSED) from None


def _store(root: Path | None) -> ChangeStore:
    from golive.changes import change_store

    return change_store(project_root(root))


def _answer(verb: str, act: Callable[[], Change]) -> None:
    with change_errors():
        change = act()
    state = change.state()
    need = f"{len(state.approvers)}/{state.required} approver(s)"
    out.print(f"change {change.id}: {verb}; now {state.label()} ({need})", markup=False)


@change_app.command("approve")
def approve_change(
    change_id: IdArg,
    as_user: Annotated[str | None, typer.Option("--as", help="your name, as the env's approvers list it")] = None,
    sign: Annotated[
        Path | None,
        typer.Option("--sign", help="sign with this SSH private key; its principal in allowed_signers is you"),
    ] = None,
    comment: CommentOpt = None,
    root: RootOpt = None,
) -> None:
    """Approve a proposed change (distinct people; in a protected env not its proposer; signed where required)."""
    from golive.changes import approve

    if as_user is None and sign is None:
        err.print("name yourself: --as NAME, or --sign KEY (the key's principal is you)", style="red")
        raise typer.Exit(EXIT_BAD_INPUT)
    key = sign.expanduser() if sign is not None else None
    with change_errors():
        change = approve(_store(root), change_id, by=as_user, comment=comment, sign=key)
    who = change.events[-1].by
    state = change.state()
    signed = " (signed)" if change.events[-1].signature else ""
    need = f"{len(state.approvers)}/{state.required} approver(s)"
    out.print(f"change {change.id}: approved by {who}{signed}; now {state.label()} ({need})", markup=False)


@change_app.command("reject")
def reject_change(
    change_id: IdArg,
    as_user: Annotated[str | None, typer.Option("--as", help="your name (default: OS user)")] = None,
    comment: CommentOpt = None,
    root: RootOpt = None,
) -> None:
    """Reject a change: it never runs."""
    from golive.changes import reject

    _answer("rejected", lambda: reject(_store(root), change_id, by=as_user, comment=comment))


@change_app.command("show")
def show_change(
    change_id: IdArg,
    root: RootOpt = None,
    document: Annotated[
        bool, typer.Option("--document", help="print the go-live document (Markdown) saved with the change")
    ] = False,
) -> None:
    """A change: its plan in short, digest, inputs, approvals and state."""
    with change_errors():
        change = _store(root).get(change_id)
    if document:
        out.print(change.document or f"change {change.id} was saved without a document", markup=False)
        return
    state = change.state()
    out.print(f"change {change.id}  {state.label()}", style="bold", markup=False)
    out.print(f"runbook {change.runbook} ({change.file})  env {change.env}", markup=False)
    out.print(f"proposed by {change.proposer} at {change.created}" + _note(change.comment), markup=False)
    if change.cli_params:
        out.print("params " + " ".join(f"{k}={v}" for k, v in change.cli_params.items()), markup=False)
    out.print(f"plan digest {change.digest}", markup=False)
    for step in change.plan.get("steps", []):
        hosts = step.get("hosts") or []
        out.print(
            f"  {step['index'] + 1}. {step['id']} ({step['kind']})" + (f" on {len(hosts)} host(s)" if hosts else "")
        )
    out.print(f"inputs ({len(change.inputs)}):", markup=False)
    for i in change.inputs:
        out.print(f"  {i.kind:<13} {i.name}  {i.sha256[:12]}", markup=False)
    policy = change.policy
    out.print(
        f"approvals {len(state.approvers)}/{state.required}"
        + (" (proposer excluded)" if policy.protected else "")
        + (f", allowed: {', '.join(policy.approvers)}" if policy.approvers is not None else ""),
        markup=False,
    )
    for e in change.events:
        detail = f" run {e.run_id}" if e.run_id else ""
        detail += f" {e.status} (exit {e.exit_code})" if e.status else ""
        detail += " (signed)" if e.signature else ""
        out.print(f"  {e.at}  {e.kind}{' by ' + e.by if e.by else ''}{detail}{_note(e.comment)}", markup=False)


def _when(iso: str) -> str:
    """``2026-12-03T06:13:03+00:00`` as ``2026-12-03 06:13Z``: the table stays narrow."""
    return iso[:16].replace("T", " ") + "Z"


def _note(comment: str | None) -> str:
    return f": {comment}" if comment else ""


@app.command("changes")
def list_changes(env: EnvOpt = None, root: RootOpt = None) -> None:
    """Changes proposed in this project, oldest first: id, runbook, env, proposer, created, state."""
    from rich.table import Table

    with change_errors():
        store = _store(root)
        ids = store.ids()
    table = Table(box=None, pad_edge=False)
    for col in ("id", "runbook", "env", "proposer", "created", "state"):
        table.add_column(col)
    for change_id in ids:
        try:
            change = store.get(change_id)
        except ValueError as exc:  # a record golive did not write as it is: list it, act on nothing
            table.add_row(change_id, "?", "?", "?", "?", f"unreadable: {str(exc).splitlines()[0]}")
            continue
        if env is not None and change.env != env:
            continue
        table.add_row(
            change.id, change.runbook, change.env or "-", change.proposer, _when(change.created), change.state().label()
        )
    if not table.rows:
        err.print(
            "no changes" + (f" in env {env}" if env else "") + "; `golive plan RUNBOOK -e ENV --save` proposes one"
        )
        return
    out.print(table)
