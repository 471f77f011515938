"""golive rehearse: run the cutover for real with injected faults and prove the rollback restores the env."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from golive.cli.app import (
    ByOpt,
    EnvOpt,
    InvOpt,
    ParamOpt,
    app,
    err,
    fail_input,
    out,
    parse_params,
)
from golive.errors import RunbookError


@app.command()
def rehearse(
    runbook: Annotated[Path, typer.Argument(help="runbook YAML file")],
    env: EnvOpt = None,
    param: ParamOpt = None,
    inventory: InvOpt = None,
    inject: Annotated[
        list[str] | None,
        typer.Option("--inject", help="POINT:FAULT[:ARG], e.g. roll-app@2:gate-fail (repeatable)"),
    ] = None,
    matrix: Annotated[
        bool, typer.Option("--matrix", help="a drill at every failure point of the plan in turn")
    ] = False,
    faults: Annotated[
        str, typer.Option("--faults", help="with --matrix: the faults to drill at each point, comma-separated")
    ] = "gate-fail",
    as_user: ByOpt = None,
    approve_as: Annotated[
        list[str] | None,
        typer.Option("--approve-as", help="who answers approval steps (default: simulated approvers)"),
    ] = None,
    answer_after: Annotated[
        str, typer.Option("--answer-after", help="an inconclusive pause is answered with abort after this long")
    ] = "3s",
    no_prefect: Annotated[bool, typer.Option("--no-prefect", help="run without a Prefect flow run")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="the drill report as JSON")] = False,
) -> None:
    """Rehearse a cutover: run it for real with faults injected, let golive roll back, prove the env restored."""
    from golive.cli.run_cmds import _prefect_setup
    from golive.context import prepare
    from golive.engine.execute import Refused
    from golive.engine.rehearsal import Drill, matrix_points, parse_fault, run_drill
    from golive.kinds import kind_of
    from golive.runbook.types import parse_duration

    if not env:
        fail_input(RunbookError.single("-e", None, "a rehearsal runs in an environment", "give -e ENV (staging, lab)"))
    if not inject and not matrix:
        fail_input(RunbookError.single("--inject", None, "nothing to inject", "give --inject POINT:FAULT or --matrix"))
    try:
        wait = parse_duration(answer_after)
        ctx = prepare(runbook, env=env, params=parse_params(param), inventory_path=inventory, with_history=True)
        plan = ctx.plan()
        stages = {
            s.id: max(len(s.batches), kind_of(ctx.loaded.runbook.step(s.id)).stage_count(ctx.loaded.runbook.step(s.id)))
            for s in plan.steps
        }
        real = ctx.inventory.settings.get("golive_faults") or {} if ctx.inventory else {}
        drills: list[Drill] = []
        if matrix:
            kinds = [k.strip() for k in faults.split(",") if k.strip()]
            for step, index, gated in matrix_points(plan, stages):
                at = f"{step}@{index}" if index else step
                for k in kinds:
                    k = k if gated or k != "gate-fail" else "apply-fail"  # no gate there to fail
                    drills.append(Drill([parse_fault(f"{at}:{k}", plan, real=real, stages=stages)]))
        else:
            drills.append(Drill([parse_fault(t, plan, real=real, stages=stages) for t in inject or []]))
    except ValueError as exc:
        fail_input(RunbookError.single("--answer-after", None, str(exc), "e.g. --answer-after 5s"))
    except RunbookError as exc:
        fail_input(exc)
    if drills and all(f.kind == "rollback-fail" for f in drills[0].faults) and not matrix:
        points = [(step, index) for step, index, has_gate in matrix_points(plan, stages) if has_gate]
        if not points:
            fail_input(
                RunbookError.single(
                    "--inject", None, "rollback-fail needs a rollback, and no step has a gate to fail", "add a fault"
                )
            )
        step, index = points[-1]
        at = f"{step}@{index}" if index else step
        err.print(f"rollback-fail needs a rollback: the drill also fails the gate of {at}", style="yellow")
        drills[0] = Drill([*drills[0].faults, parse_fault(f"{at}:gate-fail", plan, real=real, stages=stages)])
    _prefect_setup(ctx.root, not no_prefect)
    results = []
    for n, drill in enumerate(drills, 1):
        if not as_json:
            out.print(f"== drill {n}/{len(drills)}: {', '.join(f.label for f in drill.faults)}", markup=False)
        try:
            result = run_drill(
                ctx,
                drill,
                use_prefect=not no_prefect,
                initiator=as_user,
                approvers=approve_as or [],
                answer_after=wait,
            )
        except Refused as exc:
            err.print(f"refused: {exc}", style="bold red", markup=False)
            raise typer.Exit(4) from None
        results.append(result)
        if not result.expected:
            if matrix and n < len(drills):
                err.print(
                    f"the matrix stops here: {result.why}; the env may not be where it started "
                    f"(journal {result.journal})",
                    style="bold red",
                    markup=False,
                )
            break
    ok = bool(results) and all(r.expected for r in results) and len(results) == len(drills)
    if as_json:
        sys.stdout.write(json.dumps({"ok": ok, "drills": [r.as_dict() for r in results]}, indent=2) + "\n")
    else:
        _table(results, drills=len(drills))
    raise typer.Exit(0 if ok else 1)


def _table(results: list[Any], *, drills: int) -> None:
    from rich.table import Table

    table = Table(title=f"rollback drills ({len(results)} of {drills} run)", show_lines=True)
    for col in ("fault", "outcome", "detect", "restore", "compensations", "exit", "run"):
        table.add_column(col, overflow="fold")
    for r in results:
        mark = "[green]restored[/]" if r.expected else "[bold red]NOT AS EXPECTED[/]"
        table.add_row(
            "\n".join(r.faults),
            f"{mark}\n{r.why}",
            f"{r.detect_s:.1f}s" if r.detect_s is not None else "-",
            f"{r.restore_s:.1f}s" if r.restore_s is not None else "-",
            " → ".join(r.compensations) or "-",
            str(r.exit_code),
            r.run_id,
        )
    out.print(table)
    for r in results:
        for line in r.snapshot_diff:
            out.print(f"  {line}", style="red", markup=False)
    if results:
        out.print(f"journals: {', '.join(r.journal for r in results)}", markup=False)
