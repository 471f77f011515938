"""Scheduled runs: Prefect deployments of the cutover flow on a process work pool.

``golive schedule`` makes (or updates) a deployment of ``golive.engine.deployment.cutover``
with the runbook, env and params as its parameters and the project as its working
directory; a worker of the pool (``prefect worker start --pool golive``; the lab runs one)
starts each run as an ordinary golive run: journal, env lock, change windows, approvals
that wait for a person and notify. ``--at`` is one run at one time: a deployment without a
schedule and one flow run scheduled then.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

__all__ = [
    "DEFAULT_POOL",
    "FLOW_NAME",
    "ScheduleError",
    "ScheduleSpec",
    "Scheduled",
    "create",
    "list_scheduled",
    "remove",
]

DEFAULT_POOL = "golive"
FLOW_NAME = "golive-cutover"
TAG = "golive"


class ScheduleError(Exception):
    """The server refused, or there is no such schedule; the message says what to do."""


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    runbook: Path  # absolute
    env: str | None
    params: dict[str, Any]
    root: Path
    pool: str = DEFAULT_POOL
    inventory: Path | None = None
    cron: str | None = None
    interval_s: float | None = None
    at: datetime | None = None  # aware
    tz: str = "UTC"


@dataclass(frozen=True)
class Scheduled:
    name: str
    runbook: str
    env: str | None
    schedule: str
    pool: str | None
    next_run: datetime | None
    last: str | None  # the newest ended flow run: its state and when


def _schedules(spec: ScheduleSpec) -> list[Any]:
    from prefect.schedules import Cron, Interval

    if spec.cron:
        return [Cron(spec.cron, timezone=spec.tz)]
    if spec.interval_s:
        return [Interval(timedelta(seconds=spec.interval_s), timezone=spec.tz)]
    return []


def create(spec: ScheduleSpec) -> tuple[str, datetime | None]:
    """Create or update the deployment (and the work pool); (its id, the first run's time for --at)."""
    from prefect.deployments.runner import EntrypointType
    from prefect.states import Scheduled as ScheduledState

    from golive.engine.deployment import cutover

    asyncio.run(_ensure_pool(spec.pool))
    parameters = {
        "runbook": str(spec.runbook),
        "env": spec.env,
        "params": spec.params,
        "initiator": f"schedule:{spec.name}",
        "inventory": str(spec.inventory) if spec.inventory else None,
    }
    deployment: Any = cutover.to_deployment(  # sync here (Prefect's async_dispatch)
        name=spec.name,
        entrypoint_type=EntrypointType.MODULE_PATH,
        parameters=parameters,
        schedules=_schedules(spec),
        job_variables={"working_dir": str(spec.root)},
        tags=[TAG, f"env:{spec.env or '-'}"],
        description=f"golive run {spec.runbook.name}" + (f" -e {spec.env}" if spec.env else ""),
    )
    deployment_id: UUID = deployment.apply(work_pool_name=spec.pool)
    if spec.at is None:
        asyncio.run(_schedule_now(deployment_id))
        return str(deployment_id), None

    async def one_run() -> None:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            await client.create_flow_run_from_deployment(
                deployment_id, state=ScheduledState(scheduled_time=spec.at), tags=[TAG]
            )

    asyncio.run(one_run())
    return str(deployment_id), spec.at


async def _schedule_now(deployment_id: UUID) -> None:
    """The next runs now, not at the server scheduler's next round: ``golive schedules`` and the
    Prefect UI show the next run as soon as the schedule exists."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    async with get_client() as client:
        # refused: the server's scheduler service makes them on its next round anyway
        with contextlib.suppress(PrefectHTTPStatusError):
            await client.request(
                "POST",
                "/deployments/{id}/schedule",
                path_params={"id": deployment_id},
                json={"min_runs": 1, "max_runs": 3},
            )


async def _ensure_pool(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    async with get_client() as client:
        try:
            pool = await client.read_work_pool(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):  # made meanwhile by a worker or another golive
                await client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return
        if pool.type != "process":
            raise ScheduleError(
                f"work pool {name!r} is of type {pool.type!r}; golive runs need a process pool: "
                "give another with --pool NAME (created if missing)"
            )


def list_scheduled() -> list[Scheduled]:
    return asyncio.run(_list())


async def _list() -> list[Scheduled]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    out = []
    async with get_client() as client:
        found = await client.read_deployments(flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])))
        for d in sorted(found, key=lambda d: d.name):
            mine = DeploymentFilter(id=DeploymentFilterId(any_=[d.id]))
            upcoming = await client.read_flow_runs(
                deployment_filter=mine,
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=1,
            )
            ended = await client.read_flow_runs(
                deployment_filter=mine,
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(
                            any_=[StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
                        )
                    )
                ),
                sort=FlowRunSort.END_TIME_DESC,
                limit=1,
            )
            params = d.parameters or {}
            last = None
            if ended:
                r = ended[0]
                when = r.end_time.isoformat(timespec="seconds") if r.end_time else "?"
                last = f"{r.state.name if r.state else '?'} {when}"
            out.append(
                Scheduled(
                    name=d.name,
                    runbook=str(params.get("runbook", "?")),
                    env=params.get("env"),
                    schedule=_describe(d.schedules),
                    pool=d.work_pool_name,
                    next_run=upcoming[0].expected_start_time if upcoming else None,
                    last=last,
                )
            )
    return out


def _describe(schedules: list[Any]) -> str:
    texts = []
    for s in schedules or []:
        inner = getattr(s, "schedule", s)
        tz = getattr(inner, "timezone", None) or "UTC"
        if getattr(inner, "cron", None):
            texts.append(f"cron {inner.cron} ({tz})")
        elif getattr(inner, "interval", None):
            texts.append(f"every {_span(inner.interval.total_seconds())}")
        else:
            texts.append(str(inner))
    return ", ".join(texts) or "once (--at)"


def _span(seconds: float) -> str:
    """An interval as --interval takes it: 6h, 30m, 90s."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def remove(name: str) -> None:
    asyncio.run(_remove(name))


async def _remove(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            d = await client.read_deployment_by_name(f"{FLOW_NAME}/{name}")
        except ObjectNotFound:
            known = [s.name for s in await _list_names(client)]
            raise ScheduleError(
                f"no schedule named {name!r}; schedules: {', '.join(known) or 'none'} (golive schedules)"
            ) from None
        await client.delete_deployment(d.id)


async def _list_names(client: Any) -> list[Any]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    return list(await client.read_deployments(flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME]))))
