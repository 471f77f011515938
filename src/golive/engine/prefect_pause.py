"""An approval shown in the Prefect UI: the flow run is Paused with an input form.

``prefect.flow_runs.pause_flow_run`` blocks until resumed, but the runner must keep
reading the journal (a ``golive approve`` or ``golive abort`` from a terminal) while it
waits, so we use the same pieces without the blocking loop: propose a Paused state with
a run-input keyset, save the form's schema, and poll the flow run's state. A resume from
the UI carries an ``ApprovalInput``; an answer from the terminal puts the run back to
Running ourselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import structlog
from prefect.input import RunInput

__all__ = ["ApprovalInput", "PrefectApprovalPause", "prefect_pause_factory"]

log = structlog.get_logger(__name__)


class ApprovalInput(RunInput):
    """The form the Prefect UI shows on a paused golive run."""

    decision: Literal["approve", "reject"] = "approve"
    name: str
    comment: str = ""


class PrefectApprovalPause:
    def __init__(self, *, flow_run_id: Any, timeout_s: float, clock: Callable[[], float]) -> None:
        self.flow_run_id = flow_run_id
        self.timeout_s = timeout_s
        self.clock = clock
        self._keyset: Any = None
        self._form: Any = None
        self._rounds = 0
        self._next_poll = 0.0

    def open(self) -> None:
        """Pause the flow run with a fresh input form (one per vote)."""
        from prefect.client.orchestration import get_client
        from prefect.input import keyset_from_paused_state
        from prefect.input.run_input import run_input_subclass_from_type
        from prefect.states import Paused
        from prefect.utilities.engine import propose_state_sync

        self._rounds += 1
        proposed: Any = Paused(
            timeout_seconds=int(self.timeout_s), reschedule=False, pause_key=f"golive-approval-{self._rounds}"
        )
        self._form = run_input_subclass_from_type(ApprovalInput)
        self._keyset = keyset_from_paused_state(proposed)
        proposed.state_details.run_input_keyset = self._keyset
        with get_client(sync_client=True) as client:
            state = propose_state_sync(client=client, state=proposed, flow_run_id=self.flow_run_id)
        if state.is_paused():
            self._form.save(self._keyset)
        log.info("prefect_paused_for_approval", flow_run_id=str(self.flow_run_id), round=self._rounds)

    def poll(self) -> dict[str, Any] | None:
        """An answer given in the UI since ``open``, as a control entry; at most once a second."""
        if self._keyset is None or self.clock() < self._next_poll:
            return None
        self._next_poll = self.clock() + 1.0
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            run = client.read_flow_run(self.flow_run_id)
        if not (run.state and run.state.is_running()):
            return None
        answer = self._form.load(self._keyset)
        self._keyset = None
        return {
            "action": answer.decision,
            "by": answer.name,
            "comment": answer.comment or None,
            "reason": answer.comment or None,
            "source": "prefect-ui",
        }

    def close(self) -> None:
        """Put the flow run back to Running if it is still paused (answered from a terminal)."""
        from prefect.client.orchestration import get_client
        from prefect.states import Running

        self._keyset = None
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(self.flow_run_id)
            if run.state and run.state.is_paused():
                client.set_flow_run_state(self.flow_run_id, Running(), force=True)


def prefect_pause_factory(timeout_s: float, clock: Callable[[], float]) -> PrefectApprovalPause | None:
    """A UI pause for the current flow run, or None outside a flow run."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return None
    return PrefectApprovalPause(flow_run_id=ctx.flow_run.id, timeout_s=timeout_s, clock=clock)
