"""golive run, resume and abort: starting, continuing and undoing runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from golive.cli.app import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_REFUSED,
    ByOpt,
    EnvOpt,
    InvOpt,
    ParamOpt,
    RootOpt,
    RunArg,
    app,
    err,
    fail_input,
    out,
    parse_params,
    project_root,
)
from golive.cli.plan_cmds import render_dry_run
from golive.errors import RunbookError

if TYPE_CHECKING:
    from golive.report.live import LiveView


def _prefect_setup(root: Path, use_prefect: bool) -> None:
    from golive.settings import ENV_FILE_VAR, PREFECT_WAIT_S, apply_settings

    settings = apply_settings(root, prefect=use_prefect)
    if not use_prefect or "PREFECT_API_URL" in os.environ:
        return
    if settings.prefect_unanswered:
        why = f"the Prefect server in {settings.path} ({settings.prefect_unanswered}) did not answer within "
        why += f"{PREFECT_WAIT_S:.0f} s"
    else:
        why = f"PREFECT_API_URL is not set, in the environment or in ${ENV_FILE_VAR} / .golive/env"
    note = "the run starts a temporary one (7-14 s) once its inputs check out"
    err.print(f"no Prefect server to use ({why}): {note}", style="yellow")


def _interrupt_on_signals() -> None:
    """SIGTERM (a supervisor stopping golive) is handled like Ctrl-C: journaled, rollback offered."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN and not sys.stdin.isatty():
        return  # started with Ctrl-C ignored on purpose (nohup, a background job): respect that
    signal.signal(signal.SIGINT, interrupt)


def _ask_rollback(view: LiveView) -> bool:
    view.close()  # the live board would draw over the question
    if not sys.stdin.isatty():
        err.print("interrupted: rolling back what was done", style="bold yellow")
        return True
    return typer.confirm("Interrupted. Roll back what was done?", default=True, err=True)


def _note_change(root: Path, handle: Any) -> None:
    """A resumed or aborted run that carries a change: its outcome goes on the change too."""
    from golive.changes import note_run_end

    warning = note_run_end(root, handle)
    if warning:
        err.print(warning, style="yellow", markup=False)


def exit_for(code: int, run_id: str) -> NoReturn:
    from golive.report.live import explain_exit

    (out if code == 0 else err).print(explain_exit(code, run_id))
    raise typer.Exit(code)


NoPrefect = Annotated[bool, typer.Option("--no-prefect", help="run without Prefect (no UI, no task runs)")]


ChangeOpt = Annotated[
    str | None,
    typer.Option("--change", help="run an approved change (golive plan --save): its runbook, env, inventory, params"),
]


@app.command()
def run(
    runbook: Annotated[Path | None, typer.Argument(help="runbook YAML file (none with --change)")] = None,
    env: EnvOpt = None,
    param: ParamOpt = None,
    inventory: InvOpt = None,
    no_prefect: NoPrefect = False,
    as_user: Annotated[str | None, typer.Option("--as", help="who starts the run (default: OS user)")] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="change nothing: k8s steps dry-run on the server, ansible steps in check mode"),
    ] = False,
    change: ChangeOpt = None,
    break_glass: Annotated[
        bool,
        typer.Option("--break-glass", help="run outside the change window or in a freeze (needs --reason; journaled)"),
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="why --break-glass is needed")] = None,
    after_crash: Annotated[
        bool,
        typer.Option(
            "--after-crash",
            help="start although the env's previous run died unfinished (not resumed or aborted; journaled)",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="with --check: the path as JSON (docs/rehearsal.md)")] = False,
) -> None:
    """Run a cutover: steps in order, gated, rolled back in reverse on the first failure."""
    if as_json and not check:
        err.print(
            "--json goes with --check (a run's own record is its journal: golive status RUN --json)", markup=False
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    if break_glass and not (reason or "").strip():
        err.print("--break-glass needs --reason TEXT: say why the change cannot wait for its window", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    glass = reason if break_glass else None
    if change is not None:
        given = _fixed_by_change(runbook, env, param, inventory, check)
        _run_change(
            change, given=given, no_prefect=no_prefect, as_user=as_user, break_glass=glass, after_crash=after_crash
        )
    if runbook is None:
        err.print("name a runbook (golive run RUNBOOK -e ENV) or an approved change (--change ID)", style="red")
        raise typer.Exit(EXIT_BAD_INPUT)
    from golive.changes import ChangeRefused, refuse_without_change
    from golive.context import prepare

    project = Path.cwd() if inventory else project_root(runbook.parent)
    _prefect_setup(project, not (no_prefect or check))
    try:
        params = parse_params(param)
        ctx = prepare(runbook, env=env, params=params, inventory_path=inventory, with_history=True)
        ctx.plan()
        if not check:
            from golive.secrets import resolve

            resolve(ctx.loaded, root=ctx.root)  # a secret not there now: refused before anything starts
    except RunbookError as exc:
        fail_input(exc)
    if check:
        _check_run(ctx, initiator=as_user, as_json=as_json)
    try:
        refuse_without_change(ctx)
    except ChangeRefused as exc:
        err.print(f"refused: {exc}", style="bold red", markup=False)
        raise typer.Exit(EXIT_REFUSED) from None
    _window_notes(ctx, break_glass=glass)
    _execute(
        lambda **kw: _execute_new(ctx, break_glass=glass, after_crash=after_crash, **kw),
        no_prefect=no_prefect,
        as_user=as_user,
    )


def _fixed_by_change(
    runbook: Path | None, env: str | None, param: list[str] | None, inventory: Path | None, check: bool
) -> list[str]:
    """What was given beside --change, though the change fixes it."""
    given = {"RUNBOOK": runbook is not None, "-e": env is not None, "-p": bool(param), "-i": inventory is not None}
    return [name for name, yes in {**given, "--check": check}.items() if yes]


def _execute_new(ctx: Any, **kw: Any) -> tuple[Any, int]:
    from golive.engine.execute import execute_new

    return execute_new(ctx, **kw)


def _run_change(
    change_id: str,
    *,
    given: list[str],
    no_prefect: bool,
    as_user: str | None,
    break_glass: str | None,
    after_crash: bool = False,
) -> NoReturn:
    from golive.changes import change_store, execute_change, prepare_change_run
    from golive.cli.change_cmds import change_errors

    if given:
        err.print(
            f"{', '.join(given)} cannot be given with --change: the change fixes its runbook, env, inventory "
            f"and params (`golive change show {change_id}`); propose a new change for others",
            style="red",
            markup=False,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    from golive.settings import apply_settings

    root = project_root(None)
    apply_settings(root, prefect=False)  # as `golive plan --save` did, before the inputs are hashed again
    with change_errors():
        store = change_store(root)
        try:
            change, ctx = prepare_change_run(store, change_id)
        except RunbookError as exc:
            fail_input(exc)
    _prefect_setup(ctx.root, not no_prefect)
    _window_notes(ctx, break_glass=break_glass)
    _execute(
        lambda **kw: execute_change(store, change, ctx, break_glass=break_glass, after_crash=after_crash, **kw),
        no_prefect=no_prefect,
        as_user=as_user,
    )


def _execute(start: Callable[..., tuple[Any, int]], *, no_prefect: bool, as_user: str | None) -> NoReturn:
    from golive.engine.execute import Refused
    from golive.report.live import LiveView

    view = LiveView(console=err)
    _interrupt_on_signals()
    try:
        handle, code = start(
            use_prefect=not no_prefect,
            listener=view.on_event,
            ask_rollback=lambda: _ask_rollback(view),
            initiator=as_user,
            on_started=lambda h: err.print(f"run {h.run_id}  journal {h.dir}/journal.jsonl"),
        )
    except Refused as exc:
        err.print(f"refused: {exc}", style="bold red")
        raise typer.Exit(EXIT_REFUSED) from None
    finally:
        view.close()
    exit_for(code, handle.run_id)


def _window_notes(ctx: Any, *, break_glass: str | None) -> None:
    """Break-glass as a red banner; a run that will outlast its window said before it starts."""
    from rich.panel import Panel
    from rich.text import Text

    plan = ctx.plan()
    protected = ctx.inventory.protected if ctx.inventory is not None else False
    info = plan.schedule
    if break_glass is not None:
        closed = "OUTSIDE its change window" if info is not None and not info.open else "inside its window"
        extra = "; waits for one approval by someone else (protected env)" if protected else ""
        text = Text(f"BREAK-GLASS: this run starts {closed}, journaled{extra}\nreason: {break_glass}")
        err.print(Panel(text, style="bold white on red"))
        if info is not None and not info.open:
            err.print(info.reason, style="red", markup=False, soft_wrap=False)
        return
    closes = info.closes_at if info is not None and info.open else None
    if info is not None and closes is not None and (closes - info.now).total_seconds() < plan.estimate_s:
        from zoneinfo import ZoneInfo

        from golive.windows import when

        err.print(
            f"warning: the estimate ({plan.estimate_s:.0f} s) outlasts the window, which closes "
            f"{when(closes, ZoneInfo(info.tz))}; the run pauses for a human at the close, before its next "
            "step or batch",
            style="yellow",
            markup=False,
        )


def _check_run(ctx: Any, *, initiator: str | None, as_json: bool = False) -> NoReturn:
    """``run --check``: the path the run would take; dry-runs and read-only probes only; no journal, no Prefect."""
    import tempfile

    from golive.engine.checkpath import check_path
    from golive.engine.dryrun import ansible_check, server_dry_run
    from golive.engine.runner import current_user

    who = initiator or current_user()
    report = server_dry_run(ctx, initiator=who)
    with tempfile.TemporaryDirectory(prefix="golive-check-") as work:
        checked = ansible_check(ctx, work_dir=Path(work), initiator=who)
    report.problems += checked.problems
    report.ansible = checked.ansible
    if not as_json:
        render_dry_run(report, summary=out)
    path = check_path(ctx, report, initiator=who, gates=_real_gates(ctx), ssh=_ssh_probe(ctx))
    ok = report.ok and path.ok
    if as_json:
        _print_check_json(ctx, report, path, ok=ok)
    else:
        _render_path(path)
        _check_window(ctx)
    raise typer.Exit(EXIT_OK if ok else EXIT_BAD_INPUT)


def _print_check_json(ctx: Any, report: Any, path: Any, *, ok: bool) -> None:
    """``run --check --json``: the server's and Ansible's verdicts and the path, secrets masked."""
    import json
    from dataclasses import asdict

    from golive.secrets import redact_tree

    plan = ctx.plan()
    body = {
        "schema_version": 1,
        "runbook": plan.runbook,
        "env": plan.env,
        "digest": plan.digest,
        "ok": ok,
        "problems": [asdict(p) for p in report.problems],
        "server_dry_run_accepted": report.accepted,
        "ansible_check": [asdict(a) for a in report.ansible],
        "path": path.as_dict(),
    }
    sys.stdout.write(json.dumps(redact_tree(body), indent=2) + "\n")


def _real_gates(ctx: Any) -> Any:
    """A gate runner with the run's real probes (checks only read), or None without an env."""
    if ctx.inventory is None:
        return None
    from golive.engine.gates import GateRunner
    from golive.engine.services import probe_for

    probe = probe_for(ctx.inventory)
    return lambda: GateRunner(probe=probe)


def _ssh_probe(ctx: Any) -> Any:
    """Runs a check_command on hosts over SSH: host -> (ok, output)."""
    if ctx.inventory is None:
        return None
    inv = ctx.inventory

    def run(hosts: list[str], command: str) -> dict[str, tuple[bool, str]]:
        from golive.drivers.ssh.commands import run_commands
        from golive.errors import TransientError

        try:
            result = run_commands(
                connections=[inv.connection(h) for h in hosts], commands=[command], timeout=30, attempts=1
            )
        except TransientError as exc:
            return {h: (False, str(exc)) for h in hosts}
        return {h: (r.ok, r.output or r.message) for h, r in result.results.items()}

    return run


def _render_path(path: Any) -> None:
    from golive.runbook.types import format_duration
    from golive.secrets import redact

    out.print("the path the run would take:", style="bold")
    for n, line in enumerate(path.lines, 1):
        style = "red" if line.refused else ""
        out.print(redact(f"{n}. {line.step} ({line.kind}): {line.what}"), style=style, markup=False)
        for detail in line.details:
            out.print(f"     {redact(detail)}", markup=False)
        if line.stops:
            out.print(f"     -> {line.stops}", style="yellow", markup=False)
        if line.refused:
            out.print(f"     REFUSED: {line.refused}", style="bold red", markup=False)
    if path.watch:
        out.print(f"then: {path.watch}", markup=False)
    out.print(
        f"predicted ≈{format_duration(path.predicted_s)} (checks as measured now) beside the plan's estimate "
        f"≈{format_duration(path.estimate_s)}; nothing was changed",
        markup=False,
    )


def _check_window(ctx: Any) -> None:
    """``run --check`` changes nothing, so it runs outside the window; it says so."""
    info = ctx.plan().schedule
    if info is None:
        return
    from golive.report.plan_view import schedule_lines

    for line in schedule_lines(info, estimate_s=ctx.plan().estimate_s)[1:]:
        out.print(line)


ForceStale = Annotated[
    bool,
    typer.Option("--force-stale", help="go on although a newer run of the env exists (needs --reason; journaled)"),
]


def _stale_reason(force_stale: bool, reason: str | None) -> str | None:
    """The --force-stale reason; exit 2 when the flag comes without one."""
    if not force_stale:
        return None
    if not (reason or "").strip():
        err.print("--force-stale needs --reason TEXT: say why the older run must act on the env", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    return reason


@app.command()
def resume(
    run_id: RunArg = None,
    root: RootOpt = None,
    as_user: ByOpt = None,
    no_prefect: NoPrefect = False,
    force_stale: ForceStale = False,
    reason: Annotated[str | None, typer.Option("--reason", help="why --force-stale is needed")] = None,
) -> None:
    """Continue a paused run, or restart a killed one from its journal (same runbook digest only)."""
    from golive.engine.execute import Refused, execute_resume
    from golive.report.live import LiveView

    stale = _stale_reason(force_stale, reason)
    r = project_root(root)
    _prefect_setup(r, not no_prefect)
    view = LiveView(console=err)
    _interrupt_on_signals()
    try:
        handle, code, how = execute_resume(
            r,
            run_id,
            use_prefect=not no_prefect,
            listener=view.on_event,
            ask_rollback=lambda: _ask_rollback(view),
            by=as_user,
            force_stale=stale,
        )
    except Refused as exc:
        err.print(f"refused: {exc}", style="bold red")
        raise typer.Exit(EXIT_REFUSED) from None
    except RunbookError as exc:
        fail_input(exc)
    finally:
        view.close()
    if how == "signalled":
        out.print(f"run {handle.run_id}: asked the running process to resume")
        return
    _note_change(r, handle)
    exit_for(code, handle.run_id)


@app.command()
def abort(
    run_id: RunArg = None,
    root: RootOpt = None,
    as_user: ByOpt = None,
    reason: Annotated[str, typer.Option("--reason")] = "",
    force_stale: ForceStale = False,
) -> None:
    """Roll a run back now (the live runner does it; a dead run is rolled back from its journal)."""
    from golive.engine.execute import Refused, execute_abort

    stale = _stale_reason(force_stale, reason)
    try:
        r = project_root(root)
        handle, code, how = execute_abort(r, run_id, by=as_user, reason=reason, force_stale=stale)
    except Refused as exc:
        err.print(f"refused: {exc}", style="bold red")
        raise typer.Exit(EXIT_REFUSED) from None
    if how == "signalled":
        out.print(f"run {handle.run_id}: abort requested; the runner rolls back now")
        return
    _note_change(r, handle)
    exit_for(code, handle.run_id)
