"""The ``golive`` command. Commands parse, call into the package and render; no logic here.

Heavy imports (Prefect, Ansible, the Kubernetes client) happen inside commands so
that ``golive validate`` and ``golive plan`` start fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from golive.errors import RunbookError

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
        return
    from golive.report.plan_view import render_plan

    render_plan(the_plan, console=out)


def _mount_lab() -> None:
    try:
        from golive.lab.cli import app as lab_app
    except ImportError:  # pragma: no cover - the lab ships with the package
        return
    app.add_typer(lab_app, name="lab", help="the local lab: sshd hosts, Prometheus, a Kubernetes API emulator")


_mount_lab()


def main() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    app()


if __name__ == "__main__":
    main()
