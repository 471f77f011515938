"""The Prefect side of a run: one flow run per golive run, one task run per step.

``flows/cutover.py`` exposes ``cutover`` for Prefect deployments (schedules, the UI);
``golive run`` calls ``run_as_flow`` in-process with the engine's own body.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.states import Completed, Failed, State

__all__ = ["cutover", "run_as_flow"]


def run_as_flow(*, run_id: str, body: Callable[[], int], flow_name: str) -> int:
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:  # inside a deployment's flow: steps become its tasks
        _name_flow_run(ctx.flow_run.id, run_id)
        return body()
    result: dict[str, int] = {}

    @flow(
        name=f"golive:{flow_name}",
        flow_run_name=run_id,
        persist_result=False,
        log_prints=False,
        validate_parameters=False,
    )
    def golive_run() -> State[Any]:
        code = body()
        result["code"] = code
        if code == 0:
            return Completed(message="cutover succeeded")
        return Failed(message=f"golive exit code {code}")

    # The heartbeat thread costs about a second at the end of every sync flow.
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        golive_run(return_state=True)
    return result.get("code", 3)


def _name_flow_run(flow_run_id: Any, run_id: str) -> None:
    """Give a deployment's flow run the golive run id as its name, so UI and journal match."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run_id, name=run_id)
    except Exception as exc:  # cosmetic: never fail a run over its display name
        import structlog

        structlog.get_logger(__name__).warning("flow_run_rename_failed", error=str(exc))


@flow(name="golive-cutover", persist_result=False, validate_parameters=True)
def cutover(
    runbook: str, env: str | None = None, params: dict[str, Any] | None = None, initiator: str | None = None
) -> int:
    """Run a runbook unattended (a Prefect deployment, a schedule); approvals come from the CLI."""
    from golive.context import prepare
    from golive.engine.execute import execute_new, previous_from_history
    from golive.inventory import find_project_root

    path = Path(runbook)
    root = find_project_root(path.parent)
    ctx = prepare(path, env=env, params=params or {})
    ctx.previous = previous_from_history(root, runbook=ctx.loaded.runbook.name, env=env)
    handle, code = execute_new(ctx, use_prefect=True, initiator=initiator or "prefect-schedule")
    if code != 0:
        raise RuntimeError(f"golive run {handle.run_id} ended with exit code {code}")
    return code
