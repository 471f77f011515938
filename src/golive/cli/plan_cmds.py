"""golive validate and golive plan: what a runbook would do, before anything runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from golive.cli.app import (
    EXIT_BAD_INPUT,
    EnvOpt,
    InvOpt,
    ParamOpt,
    app,
    err,
    fail_input,
    out,
    parse_params,
    project_root,
)
from golive.errors import RunbookError


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
        fail_input(exc)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        fail_input(RunbookError(issues))
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
    save: Annotated[
        bool, typer.Option("--save", help="propose this plan as a change to approve (golive run --change ID)")
    ] = False,
    as_user: Annotated[str | None, typer.Option("--as", help="with --save: who proposes (default: OS user)")] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="with --save: why, for the approvers")] = None,
) -> None:
    """Show what a run would do: steps, host batches, gates, rollback paths, duration, digest."""
    from golive.context import prepare

    if save:  # the plan saved must see the environment `golive run --change` will see
        from golive.settings import apply_settings

        apply_settings(Path.cwd() if inventory else project_root(runbook.parent), prefect=False)
    try:
        ctx = prepare(runbook, env=env, params=parse_params(param), inventory_path=inventory, with_history=True)
        the_plan = ctx.plan()
    except RunbookError as exc:
        fail_input(exc)
    if as_json:
        sys.stdout.write(the_plan.to_json() + "\n")
    else:
        from golive.report.plan_view import render_plan

        render_plan(the_plan, console=out)
    if server_dry_run:
        from golive.engine.dryrun import server_dry_run as dry_run

        report = dry_run(ctx)
        render_dry_run(report, summary=err if as_json else out)
        if not report.ok:
            raise typer.Exit(EXIT_BAD_INPUT)
    if save:
        from golive.changes import change_store, propose
        from golive.cli.change_cmds import change_errors

        with change_errors():
            change = propose(ctx, the_plan, store=change_store(ctx.root), proposer=as_user, comment=comment)
        (err if as_json else out).print(
            f"change {change.id} proposed by {change.proposer} (plan {change.digest[:12]}); "
            f"approve it with `golive change approve {change.id} --as NAME`",
            markup=False,
        )


def render_dry_run(report: Any, *, summary: Console) -> None:
    for problem in report.problems:
        err.print(problem.render(), style="red", markup=False)
    for check in report.ansible:
        changed = ", ".join(check.changed) or "none"
        summary.print(f"ansible step {check.step}: check mode would change {changed}", markup=False)
    if report.problems:
        err.print(f"dry run: {len(report.problems)} problem(s); nothing was changed.", style="bold red")
    else:
        summary.print(f"server dry-run: {report.accepted} change(s) accepted")


@app.command()
def doc(
    runbook: Annotated[Path, typer.Argument(help="runbook YAML file")],
    env: EnvOpt = None,
    param: ParamOpt = None,
    inventory: InvOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="html (one self-contained file) or md")] = "html",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write here instead of to stdout")] = None,
) -> None:
    """Write the go-live document: purpose, window, hosts, contacts, risks, timeline, steps, rollback paths, digest."""
    from golive.context import prepare
    from golive.report.document import render_document

    if fmt not in ("html", "md"):
        fail_input(RunbookError.single("--format", None, f"unknown format {fmt!r}", "use --format html or --format md"))
    try:
        ctx = prepare(runbook, env=env, params=parse_params(param), inventory_path=inventory)
        text = render_document(ctx, fmt="html" if fmt == "html" else "md")
    except RunbookError as exc:
        fail_input(exc)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail_input(RunbookError.single(output, None, f"cannot write the document: {exc.strerror}", "check the path"))
    err.print(f"{output}: go-live document of {ctx.loaded.runbook.name} ({fmt})", markup=False)
