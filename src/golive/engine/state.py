"""What a run's journal says: where it is, what was done and what must be undone.

The journal is the only state of a run, so ``status``, ``resume``, ``approve`` and the
runner itself all read it through this one fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from golive.engine.journal import Journal, JournalCorrupt

__all__ = ["RunState", "Unit", "fold"]

TERMINAL = {"succeeded", "rolled_back", "rollback_failed", "aborted", "refused", "failed"}


@dataclass(frozen=True)
class Unit:
    """A piece of work already applied that rollback may have to undo."""

    step: str
    batch: int | None
    hosts: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"rollback:{self.step}" + (f"[batch {self.batch}]" if self.batch is not None else "")


@dataclass
class StepState:
    status: str = "pending"  # pending | running | done | failed | inconclusive | waiting
    batches_done: list[int] = field(default_factory=list)
    failed_hosts: list[str] = field(default_factory=list)
    started: str | None = None
    finished: str | None = None


@dataclass
class RunState:
    run_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    status: str = "unknown"
    exit_code: int | None = None
    steps: dict[str, StepState] = field(default_factory=dict)
    units: list[Unit] = field(default_factory=list)
    compensated: list[str] = field(default_factory=list)
    not_restored: list[str] = field(default_factory=list)
    current: str | None = None
    approvals: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    controls: list[dict[str, Any]] = field(default_factory=list)
    last_seq: int = -1
    pid: int | None = None
    failure: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def step_order(self) -> list[str]:
        return [s["id"] for s in self.meta.get("steps", [])]

    def pending_units(self) -> list[Unit]:
        return [u for u in self.units if u.name not in self.compensated]


def fold(journal: Journal, *, skip_damaged: bool = False) -> RunState:
    """The run's state from its journal; lines that are no entry raise, or are skipped if asked."""
    st = RunState()
    for e in journal.entries(on_damage=_skip if skip_damaged else None):
        st.last_seq = e["seq"]
        ev = e["event"]
        step = str(e.get("step"))
        if ev == "run_started":
            st.meta = {k: v for k, v in e.items() if k not in ("seq", "prev", "event")}
            st.run_id = e["run_id"]
            st.status = "running"
            st.pid = e.get("pid")
            st.steps = {s["id"]: StepState() for s in e.get("steps", [])}
        elif ev == "run_resumed":
            st.status = "running"
            st.pid = e.get("pid")
            st.exit_code = None
        elif ev == "step_started" and step in st.steps:
            st.steps[step].status = "running"
            st.steps[step].started = e["ts"]
            st.current = step
        elif ev == "batch_started":
            unit = Unit(step, e.get("unit_batch", e["batch"]), tuple(e.get("hosts", [])))
            if unit.name not in [u.name for u in st.units]:
                st.units.append(unit)
        elif ev == "action_result" and not e.get("rollback") and e.get("unit"):
            unreached = {h for h, r in e.get("hosts", {}).items() if r.get("unreachable")}
            st.units = [
                Unit(u.step, u.batch, tuple(h for h in u.hosts if h not in unreached)) if u.name == e["unit"] else u
                for u in st.units
            ]
        elif ev == "unit_applied":
            unit = Unit(step, None, tuple(e.get("hosts", [])))
            if unit not in st.units:
                st.units.append(unit)
        elif ev == "batch_done" and step in st.steps:
            st.steps[step].batches_done.append(e["batch"])
            st.steps[step].failed_hosts = sorted(set(st.steps[step].failed_hosts) | set(e.get("failed_hosts", [])))
        elif ev == "step_done" and step in st.steps:
            st.steps[step].status = "done"
            st.steps[step].finished = e["ts"]
        elif ev == "step_failed" and step in st.steps:
            st.steps[step].status = "failed"
            st.failure = e.get("reason")
        elif ev == "paused":
            st.status = "paused"
            if step in st.steps:
                st.steps[step].status = "waiting"
        elif ev == "unpaused":
            st.status = "running"
        elif ev == "approval_requested":
            st.status = "awaiting_approval"
            st.approvals.setdefault(step, [])
        elif ev == "approval_accepted":
            st.approvals.setdefault(step, []).append(e)
        elif ev == "approval_granted":
            st.status = "running"
        elif ev == "control":
            st.controls.append(e)
        elif ev == "rollback_started":
            st.status = "rolling_back"
        elif ev == "compensation_done":
            st.compensated.append(e["unit"])
        elif ev == "rollback_failed":
            st.not_restored = list(e.get("not_restored", []))
        elif ev == "run_finished":
            st.status = e["status"]
            st.exit_code = e.get("exit_code")
            st.current = None
    return st


def _skip(_: JournalCorrupt) -> None:
    return None
