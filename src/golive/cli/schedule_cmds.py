"""golive schedule / schedules / unschedule: runs on a schedule, as Prefect deployments on a work pool."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from golive.cli.app import (
    EXIT_BAD_INPUT,
    EXIT_REFUSED,
    EnvOpt,
    InvOpt,
    ParamOpt,
    RootOpt,
    app,
    err,
    fail_input,
    out,
    parse_params,
)
from golive.cli.app import project_root as find_root
from golive.errors import RunbookError

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def _bad(flag: str, message: str, fix: str) -> NoReturn:
    fail_input(RunbookError.single(flag, None, message, fix))


def _server(root: Path) -> str:
    """PREFECT_API_URL of a server that answers; exit 2 saying how to get one otherwise."""
    from golive.settings import ENV_FILE_VAR, apply_settings, prefect_answers

    settings = apply_settings(root, prefect=True)
    url = os.environ.get("PREFECT_API_URL")
    if url and prefect_answers(url, timeout=2.0):
        return url
    where = url or settings.prefect_unanswered
    why = f"the Prefect server at {where} does not answer" if where else "no Prefect server is configured"
    err.print(
        f"golive schedule needs a Prefect server: {why}. Start one with `golive lab up` (the lab's server and "
        f"worker) or `prefect server start`, set PREFECT_API_URL (in the environment, ${ENV_FILE_VAR} or "
        "golive's .golive/env), and run a worker: `prefect worker start --pool golive`",
        style="red",
        markup=False,
    )
    raise typer.Exit(EXIT_BAD_INPUT)


def _with_server(url: str) -> Any:
    """Prefect's settings with this API URL, whatever Prefect read from the environment when it was imported."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings(updates={PREFECT_API_URL: url})


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        _bad("--tz", f"unknown time zone {tz!r}", "use an IANA zone such as UTC, Europe/Berlin, Asia/Shanghai")


def _at(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """``--at``: an ISO date-time (its zone, else --tz) or HH:MM today (tomorrow once past) in --tz."""
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}", text.strip()):
            hh, mm = (int(x) for x in text.strip().split(":"))
            local = datetime.combine(now.astimezone(tz).date(), time(hh, mm), tzinfo=tz)
            return local if local > now else local + timedelta(days=1)
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        _bad("--at", f"not a time: {text!r}", "write 2026-12-05T02:00, 2026-12-05T02:00+08:00 or 02:00")
    when = when if when.tzinfo else when.replace(tzinfo=tz)
    if when <= now:
        _bad("--at", f"{when.isoformat()} is in the past", "give a time to come")
    return when


@app.command()
def schedule(
    runbook: Annotated[Path, typer.Argument(help="the runbook to run on a schedule")],
    env: EnvOpt = None,
    param: ParamOpt = None,
    inventory: InvOpt = None,
    cron: Annotated[str | None, typer.Option("--cron", help="cron expression, e.g. '0 2 * * 6' (in --tz)")] = None,
    interval: Annotated[str | None, typer.Option("--interval", help="every DURATION, e.g. 30m, 6h")] = None,
    at: Annotated[str | None, typer.Option("--at", help="once, at TIME: 2026-12-05T02:00 or 02:00 (in --tz)")] = None,
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone of --cron and --at")] = "UTC",
    pool: Annotated[str, typer.Option("--pool", help="Prefect process work pool (created if missing)")] = "golive",
    name: Annotated[str | None, typer.Option("--name", help="schedule name [default: <runbook>-<env>]")] = None,
    root: RootOpt = None,
) -> None:
    """Run a runbook on a schedule: a Prefect deployment a worker of the pool runs (created or updated)."""
    from golive.context import prepare
    from golive.engine.schedules import ScheduleError, ScheduleSpec, create
    from golive.runbook.types import parse_duration

    given = [flag for flag, v in (("--cron", cron), ("--interval", interval), ("--at", at)) if v]
    if len(given) != 1:
        _bad("schedule", "give exactly one of --cron, --interval and --at", "e.g. --cron '0 2 * * 6' --tz UTC")
    zone = _zone(tz)
    interval_s = None
    if cron is not None:
        from prefect.schedules import validate_cron_string

        try:
            validate_cron_string(cron)
        except ValueError as exc:
            _bad("--cron", f"not a cron expression: {cron!r} ({exc})", "five fields: minute hour day month weekday")
    if interval is not None:
        try:
            interval_s = parse_duration(interval)
        except ValueError as exc:
            _bad("--interval", str(exc), "e.g. --interval 30m")
        if interval_s < 10:
            _bad("--interval", f"every {interval} is too often for a cutover", "use 10s or more")
    when = _at(at, zone, datetime.now(UTC)) if at is not None else None
    r = find_root(root)
    try:
        params = parse_params(param)
        ctx = prepare(runbook, env=env, params=params, inventory_path=inventory)
        ctx.plan()  # validates the runbook in that env: a schedule of a broken runbook is refused now
    except RunbookError as exc:
        fail_input(exc)
    label = name or f"{ctx.loaded.runbook.name}-{env or 'noenv'}"
    if not _NAME.match(label):
        _bad("--name", f"bad schedule name {label!r}", "lowercase letters, digits, '.', '_' or '-' (at most 63)")
    url = _server(r)
    spec = ScheduleSpec(
        name=label,
        runbook=runbook.resolve(),
        env=env,
        params=params,
        root=r.resolve(),
        pool=pool,
        inventory=inventory.resolve() if inventory else None,
        cron=cron,
        interval_s=interval_s,
        at=when,
        tz=tz,
    )
    try:
        with _with_server(url):
            deployment_id, first = create(spec)
    except ScheduleError as exc:
        err.print(f"refused: {exc}", style="bold red", markup=False)
        raise typer.Exit(EXIT_REFUSED) from None
    what = f"cron {cron} ({tz})" if cron else f"every {interval}" if interval else f"once at {first}"
    where = f" -e {env}" if env else ""
    out.print(f"schedule {label}: {ctx.loaded.runbook.name}{where} {what}, pool {pool}", markup=False)
    out.print(
        f"deployment golive-cutover/{label} ({deployment_id}); a worker runs it: prefect worker start --pool {pool}",
        markup=False,
    )


@app.command("schedules")
def list_schedules(root: RootOpt = None) -> None:
    """Scheduled runs: name, runbook, env, schedule, next run, last outcome."""
    from rich.table import Table

    from golive.engine.schedules import list_scheduled

    with _with_server(_server(find_root(root))):
        found = list_scheduled()
    if not found:
        out.print("no schedules (golive schedule RUNBOOK -e ENV --cron ... creates one)")
        return
    table = Table(box=None, pad_edge=False)
    for col in ("name", "runbook", "env", "schedule", "pool", "next run", "last"):
        table.add_column(col)
    for s in found:
        table.add_row(
            s.name,
            Path(s.runbook).name,
            s.env or "-",
            s.schedule,
            s.pool or "-",
            s.next_run.isoformat(timespec="seconds") if s.next_run else "-",
            s.last or "-",
        )
    out.print(table)


@app.command()
def unschedule(
    name: Annotated[str, typer.Argument(help="the schedule's name (golive schedules lists them)")],
    root: RootOpt = None,
) -> None:
    """Remove a schedule (its Prefect deployment and the runs it had scheduled)."""
    from golive.engine.schedules import ScheduleError, remove

    url = _server(find_root(root))
    try:
        with _with_server(url):
            remove(name)
    except ScheduleError as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    out.print(f"schedule {name} removed", markup=False)
