"""The flow Prefect deployments run (``flows/cutover.py:cutover``): schedules, the UI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

__all__ = ["cutover"]


@flow(name="golive-cutover", persist_result=False, validate_parameters=True)
def cutover(
    runbook: str,
    env: str | None = None,
    params: dict[str, Any] | None = None,
    initiator: str | None = None,
    inventory: str | None = None,
) -> int:
    """Run a runbook unattended (a Prefect deployment, a schedule); approvals come from the CLI."""
    from golive.changes import refuse_without_change
    from golive.context import prepare
    from golive.engine.execute import execute_new

    ctx = prepare(
        Path(runbook),
        env=env,
        params=params or {},
        with_history=True,
        inventory_path=Path(inventory) if inventory else None,
    )
    refuse_without_change(ctx)  # an env that runs only approved changes runs no schedule of a bare runbook
    handle, code = execute_new(ctx, use_prefect=True, initiator=initiator or "prefect-schedule")
    seal = handle.journal.seal()  # kept by the Prefect server, beside the journal's own copy
    if code != 0:
        raise RuntimeError(f"golive run {handle.run_id} ended with exit code {code}; {seal}")
    get_run_logger().info("golive run %s succeeded; %s", handle.run_id, seal)
    return code
