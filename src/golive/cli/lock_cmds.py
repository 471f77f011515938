"""golive locks and unlock: who holds an environment, and releasing a dead holder's lock."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from golive.cli.app import EXIT_BAD_INPUT, EXIT_REFUSED, ByOpt, RootOpt, app, err, out, project_root


def _server(root: Path) -> bool:
    from golive.settings import apply_settings

    apply_settings(root)
    return bool(os.environ.get("PREFECT_API_URL"))


def _server_failed(exc: Exception) -> NoReturn:
    url = os.environ.get("PREFECT_API_URL")
    err.print(f"the Prefect server ({url}) did not answer: {exc}; nothing was changed", style="bold red", markup=False)
    raise typer.Exit(EXIT_REFUSED)


def _alive(alive: bool | None) -> str:
    return {True: "alive", False: "DEAD (stale)", None: "unknown (other machine)"}[alive]


@app.command()
def locks(root: RootOpt = None) -> None:
    """List environment locks: env, scope, holder run, since, machine, and whether the holder lives."""
    import httpx

    from golive.engine.envlock import list_locks

    r = project_root(root)
    try:
        found = list_locks(r, server=_server(r))
    except httpx.HTTPError as exc:
        _server_failed(exc)
    if not found:
        out.print("no environment is locked")
        return
    for info in found:
        h = info.holder
        if h is None:
            out.print(f"{info.env}  {info.scope}  held by a process that left no details  {_alive(info.alive)}")
            continue
        out.print(
            f"{info.env}  {info.scope}  run {h.run_id}  by {h.initiator}  since {h.since}  "
            f"on {h.machine} pid {h.pid}  {_alive(info.alive)}",
            markup=False,
        )


@app.command()
def unlock(
    env: Annotated[str, typer.Argument(help="the environment whose lock to release")],
    reason: Annotated[str, typer.Option("--reason", help="why (journaled in the holder's run)")] = "",
    force: Annotated[bool, typer.Option("--force", help="release it even though its holder looks alive")] = False,
    root: RootOpt = None,
    as_user: ByOpt = None,
) -> None:
    """Release an environment lock whose holder died (local lock file and Prefect server slot)."""
    import httpx

    from golive.engine.envlock import LockHeld, unlock
    from golive.engine.runner import current_user

    if not reason.strip():
        err.print("golive unlock: --reason is required: say why the lock may go, e.g. --reason 'runner host died'")
        raise typer.Exit(EXIT_BAD_INPUT)
    from golive.inventory import env_name_issue

    named = env_name_issue(env)
    if named is not None:
        err.print(f"golive unlock: {named.message} — {named.fix}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    r = project_root(root)
    try:
        released = unlock(r, env, by=as_user or current_user(), reason=reason, force=force, server=_server(r))
    except LockHeld as exc:
        err.print(f"refused: {exc}", style="bold red", markup=False)
        raise typer.Exit(EXIT_REFUSED) from None
    except httpx.HTTPError as exc:
        _server_failed(exc)
    if not released:
        out.print(f"environment {env!r} is not locked: nothing to release")
        return
    for rel in released:
        h = rel.info.holder
        who = h.describe() if h else "a holder that left no details"
        state = _alive(rel.info.alive)
        out.print(
            f"released the {rel.info.scope} lock of {env!r} held by {who} ({state}); reason: {reason}", markup=False
        )
        if rel.journal is not None:
            out.print(f"  journaled lock_released in {rel.journal}", markup=False)
