"""golive report: a run's report (HTML, Markdown or JSON) from its journal alone."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from golive.cli.app import EXIT_BAD_INPUT, RootOpt, RunArg, app, err, find_run_handle, out
from golive.errors import JournalCorrupt

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="html, md or json")]
OutOpt = Annotated[Path | None, typer.Option("-o", "--output", help="write here instead of stdout")]


@app.command()
def report(run_id: RunArg = None, root: RootOpt = None, fmt: FormatOpt = "html", output: OutOpt = None) -> None:
    """A run's report from its journal: header, Gantt timeline, steps, gates, approvals, rollback.

    Works for finished, failed, rolled-back, aborted and still-running runs. A journal whose
    hash chain is broken still gets a report (saying where it breaks); exit 2 then.
    """
    from golive.engine.state import fold
    from golive.report.render import FORMATS, render
    from golive.report.run_report import build_report

    if fmt not in FORMATS:
        err.print(f"unknown --format {fmt!r}; use one of: {', '.join(FORMATS)}", style="red")
        raise typer.Exit(EXIT_BAD_INPUT)
    handle = find_run_handle(run_id, root)
    found = handle.journal.integrity()
    try:
        state = fold(handle.journal)
    except JournalCorrupt as exc:
        err.print(f"{handle.journal.path}:{exc.line}: no report: {exc.reason}", style="red", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    text = render(build_report(state, integrity=found), fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.touch(mode=0o600)  # a report tells who did what to which hosts: its owner's to share
        output.chmod(0o600)
        output.write_text(text, encoding="utf-8")
        out.print(f"report of run {handle.run_id}: {output}", markup=False)
    if not found.intact:
        err.print(f"journal not as written: {found.broken}", style="bold red", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT)
