"""The typer app, its shared options and the helpers every command uses."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from golive.errors import RunbookError
from golive.exits import ExitCode

if TYPE_CHECKING:
    from golive.engine.execute import RunHandle

__all__ = ["app", "err", "fail_input", "find_run_handle", "out", "parse_params", "project_root"]

EXIT_OK, EXIT_BAD_INPUT, EXIT_REFUSED = ExitCode.OK, ExitCode.BAD_INPUT, ExitCode.REFUSED

app = typer.Typer(
    help="golive: go-live runbooks as Prefect flows, gated, released in grey stages, rolled back automatically.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Piped into a file or a CI log (no terminal, no COLUMNS), tables are drawn 160 wide rather than
# Rich's 80, where a plan or drill table folds every cell into a column of fragments.
_PIPED_WIDTH = None if os.environ.get("COLUMNS") else 160
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else _PIPED_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else _PIPED_WIDTH)

EnvOpt = Annotated[str | None, typer.Option("-e", "--env", help="environment: inventory/<env>/")]
ParamOpt = Annotated[list[str] | None, typer.Option("-p", "--param", help="runbook param, key=value (repeatable)")]
InvOpt = Annotated[Path | None, typer.Option("-i", "--inventory", help="inventory path instead of inventory/<env>")]


def fail_input(exc: RunbookError) -> NoReturn:
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


RunArg = Annotated[str | None, typer.Argument(help="run id (or a unique prefix); default: the newest run")]
ByOpt = Annotated[str | None, typer.Option("--as", help="your name (default: OS user)")]
RootOpt = Annotated[
    Path | None,
    typer.Option("--root", help="project root holding runs/ [default: the project around the current directory]"),
]


def project_root(root: Path | None) -> Path:
    """The project root; a --root typed on the command line also names where runs are kept."""
    from golive.history import RUNS_DIR_VAR
    from golive.inventory import find_project_root

    if root is None:
        return find_project_root(Path.cwd())
    typed = root.resolve()
    # The nearest project at or above the root typed; never the cwd's when there is none.
    found = next((d for d in (typed, *typed.parents) if (d / "inventory").is_dir()), typed)
    if os.environ.get(RUNS_DIR_VAR):
        # The flag was typed for this command; the variable was set for the shell. The flag wins.
        err.print(f"--root {root}: runs under {found / 'runs'}, not ${RUNS_DIR_VAR}", style="yellow", markup=False)
        os.environ.pop(RUNS_DIR_VAR)
    return found


def find_run_handle(run_id: str | None, root: Path | None) -> RunHandle:
    from golive.engine.execute import Refused, find_run

    try:
        return find_run(project_root(root), run_id)
    except Refused as exc:
        err.print(str(exc), style="red")
        raise typer.Exit(EXIT_BAD_INPUT) from None
