"""The ``golive`` command. Commands parse, call into the package and render; no logic here.

Heavy imports (Prefect, Ansible, the Kubernetes client) happen inside commands so
that ``golive validate`` and ``golive plan`` start fast.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from golive.errors import JournalCorrupt, RunbookError

if TYPE_CHECKING:
    from golive.engine.execute import RunHandle
    from golive.report.live import LiveView

__all__ = ["app", "main"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ROLLBACK_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

app = typer.Typer(
    help="golive: go-live runbooks as Prefect flows, gated, released in grey stages, rolled back automatically.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EnvOpt = Annotated[str | None, typer.Option("-e", "--env", help="environment: inventory/<env>/")]
ParamOpt = Annotated[list[str] | None, typer.Option("-p", "--param", help="runbook param, key=value (repeatable)")]
InvOpt = Annotated[Path | None, typer.Option("-i", "--inventory", help="inventory path instead of inventory/<env>")]


def _fail_input(exc: RunbookError) -> NoReturn:
    for issue in exc.issues:
        style = "yellow" if issue.severity == "warning" else "red"
        err.print(issue.render(), style=style, markup=False)
    n = len(exc.errors)
    err.print(f"{n} error(s); nothing was executed.", style="bold red")
    raise typer.Exit(EXIT_BAD_INPUT)


def parse_params(items: list[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not key.strip().replace("_", "a").isalnum():
            raise RunbookError.single(
                "-p", None, f"malformed param {item!r}", "write -p key=value, e.g. -p version=2.0.0"
            )
        params[key.strip()] = value
    return params


@app.callback()
def _root(
    log_json: Annotated[bool, typer.Option("--log-json", help="log JSON lines to stderr")] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning, error")] = "warning",
) -> None:
    from golive.log import configure

    configure(json=log_json, level=log_level)


@app.command()
def validate(
    runbook: Annotated[Path, typer.Argument(help="runbook YAML file")],
    env: EnvOpt = None,
    param: ParamOpt = None,
    inventory: InvOpt = None,
) -> None:
    """Check a runbook (and, with -e, its inventory): every error at once, as file:line: problem — fix."""
    from golive.context import prepare

    try:
        ctx = prepare(runbook, env=env, params=parse_params(param), inventory_path=inventory)
        issues = ctx.issues()
    except RunbookError as exc:
        _fail_input(exc)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        _fail_input(RunbookError(issues))
    for issue in issues:
        err.print(issue.render(), style="yellow", markup=False)
    where = f" against env {env}" if env else ""
    out.print(f"{runbook}: ok, {len(ctx.loaded.runbook.steps)} steps{where}, {len(issues)} warning(s)")


@app.command()
def plan(
    runbook: Annotated[Path, typer.Argument(help="runbook YAML file")],
    env: EnvOpt = None,
    param: ParamOpt = None,
    inventory: InvOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the plan as JSON (stable, see docs/plan.md)")] = False,
    server_dry_run: Annotated[
        bool, typer.Option("--server-dry-run", help="also send each k8s change to its API server with dryRun=All")
    ] = False,
) -> None:
    """Show what a run would do: steps, host batches, gates, rollback paths, duration, digest."""
    from golive.context import prepare

    try:
        ctx = prepare(runbook, env=env, params=parse_params(param), inventory_path=inventory)
        the_plan = ctx.plan()
    except RunbookError as exc:
        _fail_input(exc)
    if as_json:
        sys.stdout.write(the_plan.to_json() + "\n")
    else:
        from golive.report.plan_view import render_plan

        render_plan(the_plan, console=out)
    if server_dry_run:
        from golive.engine.dryrun import server_dry_run as dry_run

        report = dry_run(ctx)
        _render_dry_run(report, summary=err if as_json else out)
        if not report.ok:
            raise typer.Exit(EXIT_BAD_INPUT)


def _render_dry_run(report: Any, *, summary: Console) -> None:
    for problem in report.problems:
        err.print(problem.render(), style="red", markup=False)
    for check in report.ansible:
        changed = ", ".join(check.changed) or "none"
        summary.print(f"ansible step {check.step}: check mode would change {changed}", markup=False)
    if report.problems:
        err.print(f"dry run: {len(report.problems)} problem(s); nothing was changed.", style="bold red")
    else:
        summary.print(f"server dry-run: {report.accepted} change(s) accepted")


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
    err.print(f"no Prefect server to use ({why}): starting a temporary one, which takes 7-14 s", style="yellow")


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


def _exit_for(code: int, run_id: str) -> NoReturn:
    from golive.report.live import explain_exit

    (out if code == 0 else err).print(explain_exit(code, run_id))
    raise typer.Exit(code)


NoPrefect = Annotated[bool, typer.Option("--no-prefect", help="run without Prefect (no UI, no task runs)")]


@app.command()
def run(
    runbook: Annotated[Path, typer.Argument(help="runbook YAML file")],
    env: EnvOpt = None,
    param: ParamOpt = None,
    inventory: InvOpt = None,
    no_prefect: NoPrefect = False,
    as_user: Annotated[str | None, typer.Option("--as", help="who starts the run (default: OS user)")] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="change nothing: k8s steps dry-run on the server, ansible steps in check mode"),
    ] = False,
) -> None:
    """Run a cutover: steps in order, gated, rolled back in reverse on the first failure."""
    from golive.context import prepare
    from golive.engine.execute import Refused, execute_new, previous_from_history
    from golive.report.live import LiveView

    project = Path.cwd() if inventory else _project(runbook.parent)
    _prefect_setup(project, not (no_prefect or check))
    try:
        params = parse_params(param)
        ctx = prepare(runbook, env=env, params=params, inventory_path=inventory)
        ctx.previous = previous_from_history(ctx.root, runbook=ctx.loaded.runbook.name, env=env)
        ctx.plan()
    except RunbookError as exc:
        _fail_input(exc)
    if check:
        _check_run(ctx, initiator=as_user)
    view = LiveView(console=err)
    _interrupt_on_signals()
    try:
        handle, code = execute_new(
            ctx,
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
    _exit_for(code, handle.run_id)


def _check_run(ctx: Any, *, initiator: str | None) -> NoReturn:
    """``run --check``: the server dry-run plus Ansible check mode; no journal, no Prefect."""
    import tempfile

    from golive.engine.dryrun import ansible_check, server_dry_run, unchecked_steps
    from golive.engine.runner import current_user

    who = initiator or current_user()
    report = server_dry_run(ctx, initiator=who)
    with tempfile.TemporaryDirectory(prefix="golive-check-") as work:
        checked = ansible_check(ctx, work_dir=Path(work), initiator=who)
    report.problems += checked.problems
    report.ansible = checked.ansible
    _render_dry_run(report, summary=out)
    skipped = unchecked_steps(ctx)
    if skipped:
        out.print(f"ssh steps not tried (no check mode): {', '.join(skipped)}", markup=False)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_BAD_INPUT)


RunArg = Annotated[str | None, typer.Argument(help="run id (or a unique prefix); default: the newest run")]
ByOpt = Annotated[str | None, typer.Option("--as", help="your name (default: OS user)")]
RootOpt = Annotated[Path, typer.Option("--root", help="project root holding runs/")]


def _project(root: Path | None) -> Path:
    from golive.inventory import find_project_root

    return find_project_root(root or Path.cwd())


def _find_run(run_id: str | None, root: Path | None) -> RunHandle:
    from golive.engine.execute import Refused, find_run

    try:
        return find_run(_project(root), run_id)
    except Refused as exc:
        err.print(str(exc), style="red")
        raise typer.Exit(EXIT_BAD_INPUT) from None


@app.command()
def status(
    run_id: RunArg = None, root: RootOpt = Path("."), as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Where a run is: steps, batches, failures, rollback, who approved (exit 2: its journal is not as written)."""
    import json

    from golive.engine.execute import is_live
    from golive.engine.state import fold
    from golive.report.live import render_integrity, render_status

    handle = _find_run(run_id, root)
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


@app.command()
def runs(root: RootOpt = Path("."), limit: Annotated[int, typer.Option("--limit")] = 20) -> None:
    """List recent runs, newest first."""
    from golive.engine.journal import Journal, runs_dir
    from golive.report.live import render_runs

    base = runs_dir(_project(root))
    journals = (
        sorted(base.glob("*/journal.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
        if base.is_dir()
        else []
    )
    render_runs([Journal(p) for p in journals], console=out)


@app.command()
def resume(
    run_id: RunArg = None, root: RootOpt = Path("."), as_user: ByOpt = None, no_prefect: NoPrefect = False
) -> None:
    """Continue a paused run, or restart a killed one from its journal (same runbook digest only)."""
    from golive.engine.execute import Refused, execute_resume
    from golive.report.live import LiveView

    r = _project(root)
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
        )
    except Refused as exc:
        err.print(f"refused: {exc}", style="bold red")
        raise typer.Exit(EXIT_REFUSED) from None
    except RunbookError as exc:
        _fail_input(exc)
    finally:
        view.close()
    if how == "signalled":
        out.print(f"run {handle.run_id}: asked the running process to resume")
        return
    _exit_for(code, handle.run_id)


@app.command()
def abort(
    run_id: RunArg = None,
    root: RootOpt = Path("."),
    as_user: ByOpt = None,
    reason: Annotated[str, typer.Option("--reason")] = "",
) -> None:
    """Roll a run back now (the live runner does it; a dead run is rolled back from its journal)."""
    from golive.engine.execute import Refused, execute_abort

    try:
        handle, code, how = execute_abort(_project(root), run_id, by=as_user, reason=reason)
    except Refused as exc:
        err.print(f"refused: {exc}", style="bold red")
        raise typer.Exit(EXIT_REFUSED) from None
    if how == "signalled":
        out.print(f"run {handle.run_id}: abort requested; the runner rolls back now")
        return
    _exit_for(code, handle.run_id)


def _control(action: str, run_id: str | None, root: Path, by: str | None, **fields: object) -> None:
    from golive.engine.execute import send_control
    from golive.engine.state import fold

    handle = _find_run(run_id, root)
    state = fold(handle.journal, skip_damaged=True)  # the live runner reads past damage too
    if state.finished:
        err.print(f"refused: run {handle.run_id} already finished ({state.status})", style="bold red")
        raise typer.Exit(EXIT_REFUSED)
    send_control(handle, action, by=by, **fields)
    out.print(f"run {handle.run_id}: {action} sent")


@app.command()
def pause(run_id: RunArg = None, root: RootOpt = Path("."), as_user: ByOpt = None) -> None:
    """Hold a running cutover at its next safe point until `golive resume`."""
    _control("pause", run_id, root, as_user)


@app.command()
def promote(run_id: RunArg = None, root: RootOpt = Path("."), as_user: ByOpt = None) -> None:
    """End the current bake now and go on (journaled with who)."""
    _control("promote", run_id, root, as_user)


@app.command()
def approve(
    run_id: RunArg = None,
    root: RootOpt = Path("."),
    as_user: ByOpt = None,
    comment: Annotated[str | None, typer.Option("--comment")] = None,
    digest: Annotated[str | None, typer.Option("--digest", help="the plan digest you reviewed")] = None,
) -> None:
    """Approve the approval step a run waits at (bound to the plan digest)."""
    from golive.engine.approvals import approval_state, refusal
    from golive.engine.execute import send_control
    from golive.engine.runner import current_user

    handle = _find_run(run_id, root)
    entries = handle.journal.read()
    req = approval_state(entries)
    request = req["request"]
    if request is None:
        err.print(f"refused: run {handle.run_id} is not waiting for an approval", style="bold red")
        raise typer.Exit(EXIT_REFUSED)
    by = as_user or current_user()
    from golive.inventory import load_inventory

    allowed = None
    meta = entries[0]
    if meta.get("env"):
        try:
            ctx_root = _project(root)
            allowed = load_inventory(root=ctx_root, env=meta["env"]).approvers
        except RunbookError:
            allowed = None
    why = refusal(
        by=by,
        digest=digest or request["digest"],
        plan_digest=request["digest"],
        initiator=request.get("initiator", ""),
        exclude_initiator=bool(request.get("exclude_initiator")),
        allowed=allowed,
        already=req["accepted"],
    )
    if why:
        handle.journal.append("approval_refused", run_id=handle.run_id, step=request["step"], by=by, reason=why)
        err.print(f"refused: {why}", style="bold red")
        raise typer.Exit(EXIT_REFUSED)
    send_control(handle, "approve", by=by, comment=comment, digest=digest or request["digest"], step=request["step"])
    n = len(req["accepted"]) + 1
    out.print(
        f"run {handle.run_id}: approval by {by} sent ({n}/{request['approvers']}) for plan {request['digest'][:12]}"
    )


@app.command()
def reject(
    run_id: RunArg = None,
    root: RootOpt = Path("."),
    as_user: ByOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="why (journaled)")] = "",
) -> None:
    """Reject the approval a run waits at: the run rolls back."""
    if not reason:
        err.print("a rejection needs --reason TEXT", style="red")
        raise typer.Exit(EXIT_BAD_INPUT)
    _control("reject", run_id, root, as_user, reason=reason)


PLUGIN_GROUP = "golive.cli"
_ROOT_FLAGS, _ROOT_VALUED = {"--log-json"}, {"--log-level"}


def _command_word(args: list[str]) -> str | None:
    """The command the arguments name (past the root options), "--help" when help is asked, else None."""
    it = iter(args)
    for arg in it:
        if arg in ("--help", "-h"):
            return "--help"
        if arg in _ROOT_VALUED:
            next(it, None)
        elif arg not in _ROOT_FLAGS and not arg.startswith("--log-level="):
            return arg
    return None


def _mount_plugins(word: str | None) -> None:
    """Mount the typer apps other distributions register under entry-point group ``golive.cli``.

    Only when the command is not one of golive's own, or help is asked: a plugin may be slow to
    import (the lab takes ~0.5 s) and ``golive run`` should not pay for it.
    """
    own = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    own |= {g.name or "" for g in app.registered_groups}
    if word in own:
        return
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        if word not in (None, "--help", ep.name) or ep.name in own:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not take golive's own commands down
            err.print(f"plugin {ep.name} ({ep.value}) failed to load: {exc}", style="yellow", markup=False)
            continue
        app.add_typer(plugin, name=ep.name)


def main() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # golive prints every step's outcome itself; Prefect's per-task lines and tracebacks only repeat it.
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "CRITICAL")
    _mount_plugins(_command_word(sys.argv[1:]))
    try:
        app()
    except JournalCorrupt as exc:  # a journal golive did not write as it is: say where, change nothing
        err.print(
            f"journal damaged: {exc}. golive acts only on a journal as it wrote it; `golive status` shows where",
            style="bold red",
            markup=False,
        )
        sys.exit(EXIT_BAD_INPUT)
    finally:
        # Exit stays orderly (atexit, Prefect's event flush, open files), but the collector no
        # longer walks every object of the imported modules on the way out: ~0.4 s with Prefect.
        gc.freeze()


if __name__ == "__main__":
    main()
