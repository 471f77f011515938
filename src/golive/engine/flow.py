"""The Prefect side of a run: one flow run per golive run, one task run per step.

``golive run`` calls ``run_as_flow`` in-process with the engine's own body; the flow
that deployments (schedules, the UI) run is ``golive.engine.deployment.cutover``, kept
apart because building it costs ~0.1 s that ``golive run`` need not pay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from prefect import flow
from prefect.context import SettingsContext, get_settings_context
from prefect.states import Completed, Crashed, Failed, State

from golive.errors import JournalUnwritable

__all__ = ["crash_orphaned_flow_runs", "run_as_flow"]

log = structlog.get_logger(__name__)


def run_as_flow(*, run_id: str, body: Callable[[], int], flow_name: str, seal: Callable[[], str]) -> int:
    """``body`` as the task runs of one flow run; its final state message carries ``seal()``.

    The seal (the journal's length and head hash) is the copy of the journal's last hash that
    the Prefect server keeps: an edit of the journal's last entries, which the hash chain
    cannot show, shows as a head that differs from the one in the flow run's state.
    """
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:  # inside a deployment's flow: steps become its tasks
        _name_flow_run(ctx.flow_run.id, run_id)
        return body()
    result: dict[str, int] = {}
    unwritable: list[JournalUnwritable] = []

    @flow(
        name=flow_name if ":" in flow_name else f"golive:{flow_name}",
        flow_run_name=run_id,
        persist_result=False,
        log_prints=False,
        validate_parameters=False,
    )
    def golive_run() -> State[Any]:
        try:
            code = body()
        except JournalUnwritable as exc:  # not a failed run: one that must stop, said by the CLI
            unwritable.append(exc)
            return Crashed(message=f"golive stopped: the run's files cannot be written: {exc}")
        result["code"] = code
        if code == 0:
            return Completed(message=f"cutover succeeded; {seal()}")
        return Failed(message=f"golive exit code {code}; {seal()}")

    with _without_heartbeat():
        golive_run(return_state=True)
    if unwritable:
        raise unwritable[0]
    return result.get("code", 3)


def _without_heartbeat() -> SettingsContext:
    """The current settings with the flow heartbeat off: its thread costs ~1 s at the end of a sync flow.

    A copy of the settings already in force (0.2 ms); ``temporary_settings`` validates the
    whole settings model again (~50 ms on the path to the first step).
    """
    current = get_settings_context()
    flows = current.settings.flows.model_copy(update={"heartbeat_frequency": None})
    return SettingsContext(profile=current.profile, settings=current.settings.model_copy(update={"flows": flows}))


def _name_flow_run(flow_run_id: Any, run_id: str) -> None:
    """Give a deployment's flow run the golive run id as its name, so UI and journal match."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run_id, name=run_id)
    except Exception as exc:  # cosmetic: never fail a run over its display name
        log.warning("flow_run_rename_failed", error=str(exc))


def crash_orphaned_flow_runs(run_id: str, *, why: str) -> int:
    """Mark Crashed the unfinished flow runs of a golive run whose process is gone.

    A killed golive sends no final state (and runs without Prefect's heartbeat), so the
    UI would show its flow run Running for ever beside the one ``resume`` starts.
    Returns how many were marked; never fails the resume over it.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    unfinished = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    name=FlowRunFilterName(any_=[run_id]),
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=unfinished)),
                ),
                limit=20,
            )
            for orphan in runs:
                client.set_flow_run_state(orphan.id, Crashed(message=why), force=True)
            return len(runs)
    except Exception as exc:
        log.warning("orphaned_flow_runs_not_marked", run_id=run_id, error=str(exc))
        return 0
