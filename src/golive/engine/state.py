"""One run state: a single reducer over journal entries, used by everyone who asks where a run is.

The runner applies each entry as it is recorded (its own, and controls other processes
append), so it keeps nothing twice; ``resume`` and ``abort`` rebuild a runner from the
same state; ``status``, ``approve``, the live board and reports read it too.

The phase is explicit. A run whose journal says ``rolling_back`` can only go on rolling
back: resume after a crash during a rollback never goes forward into the failed release.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from golive.drivers.base import UndoRecord
from golive.engine.journal import Journal, JournalCorrupt
from golive.exits import ExitCode
from golive.kinds.base import StepUnit

__all__ = ["WATCH_STEP", "Compensation", "Phase", "RunState", "Span", "StepState", "Unit", "fold"]

Unit = StepUnit

# What check_result and step_failed name during the watch after go-live: no step id can be this ('@').
WATCH_STEP = "@watch"

TERMINAL = {"succeeded", "rolled_back", "rollback_failed", "aborted", "refused", "failed"}


class Phase(StrEnum):
    STARTING = "starting"
    APPLYING = "applying"
    GATING = "gating"
    BAKING = "baking"
    AWAITING_APPROVAL = "awaiting_approval"
    PAUSED = "paused"
    ROLLING_BACK = "rolling_back"
    WATCHING = "watching"
    FINISHED = "finished"


@dataclass
class Span:
    """A stretch of a step's time as the journal shows it: a batch, a stage, a bake, an approval or pause wait.

    ``end`` is None while it lasts (a live run, or a run whose process died in it).
    """

    kind: str  # batch | stage | bake | approval | pause
    label: str
    start: str
    end: str | None = None
    batch: int | None = None
    hosts: list[str] = field(default_factory=list)
    outcome: str = ""  # batch/stage: ok | failed; bake: elapsed | promoted; approval: granted | rejected | timed_out


@dataclass
class Compensation:
    """One unit's undo as it ran during a rollback."""

    unit: str
    step: str
    start: str
    end: str | None = None
    batch: int | None = None
    hosts: list[str] = field(default_factory=list)
    status: str = "running"  # running | done | failed | skipped | missing
    errors: list[str] = field(default_factory=list)
    why: str = ""


@dataclass
class StepState:
    status: str = "pending"  # pending | running | done | failed | waiting
    kind: str = ""
    batches_done: list[int] = field(default_factory=list)
    failed_hosts: list[str] = field(default_factory=list)
    gate_failed_hosts: list[str] = field(default_factory=list)  # shown to people; the engine counts failed_hosts
    batch: int | None = None
    hosts_ok: int = 0
    last_gate: str = ""
    started: str | None = None
    finished: str | None = None
    # What reports show of a step: its stretches of time, what each action did per host,
    # every gate measurement, and when and why it failed.
    spans: list[Span] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    failed_at: str | None = None
    failure: str | None = None

    def open_span(self, kind: str) -> Span | None:
        return next((s for s in reversed(self.spans) if s.kind == kind and s.end is None), None)

    def close_span(self, kind: str, ts: str, outcome: str = "") -> None:
        span = self.open_span(kind)
        if span is not None:
            span.end, span.outcome = ts, outcome or span.outcome


@dataclass
class Approval:
    """The approval a run waits at, and who approved it so far."""

    step: str
    request: dict[str, Any]
    accepted: list[str] = field(default_factory=list)


@dataclass
class RunState:
    run_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    status: str = "unknown"
    phase: Phase = Phase.STARTING
    exit_code: int | None = None
    steps: dict[str, StepState] = field(default_factory=dict)
    units: list[StepUnit] = field(default_factory=list)
    undo_records: dict[str, list[UndoRecord]] = field(default_factory=dict)
    compensated: list[str] = field(default_factory=list)
    not_restored: list[str] = field(default_factory=list)
    rollback_reason: str | None = None
    current: str | None = None
    approval: Approval | None = None
    approvals: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    controls: list[dict[str, Any]] = field(default_factory=list)
    last_seq: int = -1
    pid: int | None = None
    failure: str | None = None
    damaged_lines: list[int] = field(default_factory=list)
    started_at: str | None = None
    ended_at: str | None = None
    last_ts: str | None = None
    resumes: list[dict[str, Any]] = field(default_factory=list)
    compensations: list[Compensation] = field(default_factory=list)
    rollback_started_at: str | None = None
    # The watch after go-live (watch:): when it started and ends (wall clock), how it ended, its alerts.
    watch_started_at: str | None = None
    watch_until: str | None = None
    watch_ended: str | None = None  # elapsed | promoted
    watch_ended_at: str | None = None
    watch_alerts: list[dict[str, Any]] = field(default_factory=list)
    watch_seconds: float | None = None
    watch_checks: list[dict[str, Any]] = field(default_factory=list)  # check_result of WATCH_STEP
    # golive rehearse: the faults of a rehearsal run (None: a real run).
    rehearsal: list[str] | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def promotable(self) -> str | None:
        """What a promote would end now: a bake in progress or a timed pause step, else None."""
        if self.phase is Phase.WATCHING and not self.finished:
            return "the watch after go-live"
        step = self.steps.get(self.current or "")
        if self.finished or step is None or step.status != "running" or self.phase is Phase.ROLLING_BACK:
            return None
        if step.open_span("bake") is not None:
            return f"the bake of step {self.current}"
        if step.kind == "pause" and self.phase is not Phase.PAUSED:
            return f"the wait of step {self.current}"
        return None

    def step_order(self) -> list[str]:
        return [s["id"] for s in self.meta.get("steps", [])]

    def pending_units(self) -> list[StepUnit]:
        return [u for u in self.units if u.name not in self.compensated]

    def first_unfinished_step(self) -> int:
        order = self.step_order()
        return next((i for i, sid in enumerate(order) if self.steps[sid].status != "done"), len(order))

    def failed_hosts(self, step: str) -> set[str]:
        st = self.steps.get(step)
        return set(st.failed_hosts) if st else set()

    # -------------------------------------------------------------- the reducer

    def apply(self, e: dict[str, Any]) -> None:
        """Fold one journal entry into the state."""
        self.last_seq = max(self.last_seq, int(e.get("seq", self.last_seq)))
        self.last_ts = e.get("ts", self.last_ts)
        handler = _HANDLERS.get(e["event"])
        if handler is not None:
            handler(self, e)

    def _step(self, e: dict[str, Any]) -> StepState | None:
        return self.steps.get(str(e.get("step")))

    def _add_unit(self, unit: StepUnit) -> None:
        if unit.name not in {u.name for u in self.units}:
            self.units.append(unit)

    def compensation(self, unit: str) -> Compensation | None:
        return next((c for c in reversed(self.compensations) if c.unit == unit), None)


def _run_started(st: RunState, e: dict[str, Any]) -> None:
    st.meta = {k: v for k, v in e.items() if k not in ("seq", "prev", "event")}
    st.run_id = e["run_id"]
    st.status, st.phase = "running", Phase.APPLYING
    st.pid = e.get("pid")
    st.steps = {s["id"]: StepState() for s in e.get("steps", [])}
    st.started_at = e.get("ts")


def _run_resumed(st: RunState, e: dict[str, Any]) -> None:
    st.pid = e.get("pid")
    st.resumes.append(e)
    st.exit_code = None
    if st.phase is not Phase.ROLLING_BACK:
        watching = st.watch_started_at is not None and st.watch_ended is None
        st.status, st.phase = "running", Phase.WATCHING if watching else Phase.APPLYING


def _step_started(st: RunState, e: dict[str, Any]) -> None:
    step = st._step(e)
    if step is not None:
        step.status, step.started = "running", e["ts"]
        step.kind = str(e.get("kind") or "")
        st.current = str(e["step"])
        st.phase = Phase.APPLYING


def _batch_started(st: RunState, e: dict[str, Any]) -> None:
    st._add_unit(StepUnit(str(e.get("step")), e.get("unit_batch", e["batch"]), tuple(e.get("hosts", []))))
    step = st._step(e)
    if step is not None:
        step.batch = e["batch"]
        label = f"batch {e['batch']}"
        step.spans.append(Span("batch", label, e["ts"], batch=e["batch"], hosts=list(e.get("hosts", []))))
    st.phase = Phase.APPLYING


def _stage_started(st: RunState, e: dict[str, Any]) -> None:
    step = st._step(e)
    if step is not None:
        step.spans.append(Span("stage", str(e.get("label") or f"stage {e['stage']}"), e["ts"], batch=e["stage"]))
    st.phase = Phase.APPLYING


def _stage_done(st: RunState, e: dict[str, Any]) -> None:
    step = st._step(e)
    if step is not None:
        step.close_span("stage", e["ts"], "ok")


def _action_result(st: RunState, e: dict[str, Any]) -> None:
    step = st._step(e)
    if step is not None and not e.get("rollback"):
        step.results.append(e)
    if e.get("rollback") or not e.get("unit"):
        return
    # A host never reached was not changed: nothing on it to undo.
    unreached = {h for h, r in e.get("hosts", {}).items() if r.get("unreachable")}
    st.units = [
        StepUnit(u.step, u.batch, tuple(h for h in u.hosts if h not in unreached)) if u.name == e["unit"] else u
        for u in st.units
    ]
    step = st._step(e)
    if step is not None:
        bad = {h for h, r in e.get("hosts", {}).items() if not r.get("ok")}
        step.failed_hosts = sorted(set(step.failed_hosts) | bad)


def _unit_applied(st: RunState, e: dict[str, Any]) -> None:
    st._add_unit(StepUnit(str(e.get("step")), None, tuple(e.get("hosts", []))))


def _undo_saved(st: RunState, e: dict[str, Any]) -> None:
    step = str(e.get("step"))
    st.undo_records.setdefault(step, []).append(UndoRecord.from_dict(e["record"]))
    st._add_unit(StepUnit(step, None, ()))


def _batch_done(st: RunState, e: dict[str, Any]) -> None:
    step = st._step(e)
    if step is not None:
        step.batches_done.append(e["batch"])
        step.failed_hosts = sorted(set(step.failed_hosts) | set(e.get("failed_hosts", [])))
        step.hosts_ok += len(e.get("hosts", [])) - len(e.get("failed_hosts", []))
        step.close_span("batch", e["ts"], "ok")


def _check_result(st: RunState, e: dict[str, Any]) -> None:
    if e.get("step") == WATCH_STEP:
        st.watch_checks.append(e)
        return
    step = st._step(e)
    if step is not None:
        step.last_gate = f"{e['check']} {e['outcome']}: {e['observed']} (limit {e['limit']})"
        step.checks.append(e)
        if e.get("outcome") == "fail" and e.get("host") and e["host"] not in step.gate_failed_hosts:
            step.gate_failed_hosts.append(str(e["host"]))


def _gate_skipped(st: RunState, e: dict[str, Any]) -> None:
    step = st._step(e)
    if step is not None:
        step.last_gate = f"skipped by {e.get('by') or 'someone'} at {e['ts']} (gate inconclusive)"
        pause = next((s for s in reversed(step.spans) if s.kind == "pause"), None)
        if pause is not None:  # the report's waits table says how the pause ended: the gate was let through
            pause.outcome = f"gate {step.last_gate}"


def _bake_started(st: RunState, e: dict[str, Any]) -> None:
    step = st._step(e)
    if step is not None:
        step.spans.append(Span("bake", f"bake {e.get('seconds', 0):g}s", e["ts"], batch=e.get("batch")))
    _phase(Phase.BAKING)(st, e)


def _bake_done(st: RunState, e: dict[str, Any]) -> None:
    step = st._step(e)
    if step is not None:
        step.close_span("bake", e["ts"], str(e.get("how", "")))
    _phase(Phase.APPLYING)(st, e)


def _step_done(st: RunState, e: dict[str, Any]) -> None:
    step = st._step(e)
    if step is not None:
        step.status, step.finished, step.batch = "done", e["ts"], None


def _step_failed(st: RunState, e: dict[str, Any]) -> None:
    step = st._step(e)
    if step is not None:
        step.status = "failed"
        step.failed_at, step.failure = e["ts"], e.get("reason")
        for kind in ("batch", "stage", "bake", "approval", "pause"):
            step.close_span(kind, e["ts"], "failed")
    st.failure = f"{e.get('step')}: {e.get('reason')}"


def _phase(phase: Phase, status: str | None = None) -> Any:
    def handler(st: RunState, e: dict[str, Any]) -> None:
        if st.phase is Phase.ROLLING_BACK or st.finished:
            return
        st.phase = phase
        if status is not None:
            st.status = status

    return handler


def _paused(st: RunState, e: dict[str, Any]) -> None:
    if st.phase is Phase.ROLLING_BACK:
        return
    st.status, st.phase = "paused", Phase.PAUSED
    step = st._step(e)
    if step is not None:
        step.status = "waiting"
        step.spans.append(Span("pause", str(e.get("reason", "paused")), e["ts"]))


def _unpaused(st: RunState, e: dict[str, Any]) -> None:
    watching = st.watch_started_at is not None and st.watch_ended is None
    st.status, st.phase = "running", Phase.WATCHING if watching else Phase.APPLYING
    step = st._step(e)
    if step is not None:
        step.close_span("pause", e["ts"], f"resumed by {e.get('by')}")
    if step is not None and step.status == "waiting":
        step.status = "running"


def _approval_requested(st: RunState, e: dict[str, Any]) -> None:
    st.status, st.phase = "awaiting_approval", Phase.AWAITING_APPROVAL
    st.approvals.setdefault(str(e["step"]), [])
    st.approval = Approval(step=str(e["step"]), request=e)
    step = st._step(e)
    if step is not None:
        step.status = "waiting"
        step.spans.append(Span("approval", f"approval ({e.get('approvers')} needed)", e["ts"]))


def _approval_accepted(st: RunState, e: dict[str, Any]) -> None:
    st.approvals.setdefault(str(e["step"]), []).append(e)
    if st.approval is not None:
        st.approval.accepted.append(e["by"])


def _approval_closed(st: RunState, e: dict[str, Any]) -> None:
    st.approval = None
    step = st._step(e)
    if step is not None:
        step.close_span("approval", e["ts"], str(e["event"]).removeprefix("approval_"))
    if e["event"] == "approval_granted":
        st.status, st.phase = "running", Phase.APPLYING
        step = st._step(e)
        if step is not None:
            step.status = "running"


def _control(st: RunState, e: dict[str, Any]) -> None:
    st.controls.append(e)


def _stop_steps(st: RunState, e: dict[str, Any], *, status: str, why: str | None) -> None:
    """Steps still running or waiting when the run turned back or ended were stopped there, not left running."""
    for step in st.steps.values():
        if step.status in ("running", "waiting"):
            step.status = status
            step.failed_at = step.failed_at or e["ts"]
            step.failure = step.failure or why
            for kind in ("batch", "stage", "bake", "approval", "pause"):
                step.close_span(kind, e["ts"], status)


def _rollback_started(st: RunState, e: dict[str, Any]) -> None:
    st.status, st.phase = "rolling_back", Phase.ROLLING_BACK
    st.rollback_reason = e.get("reason")
    st.rollback_started_at = st.rollback_started_at or e.get("ts")
    _stop_steps(st, e, status="stopped", why=e.get("reason"))


def _compensation_started(st: RunState, e: dict[str, Any]) -> None:
    st.compensations.append(
        Compensation(e["unit"], str(e.get("step")), e["ts"], batch=e.get("batch"), hosts=list(e.get("hosts", [])))
    )


def _compensation_ended(st: RunState, e: dict[str, Any]) -> None:
    """A failed attempt is noted (more may follow); a skipped or missing undo is a compensation with no time."""
    ev = str(e["event"]).removeprefix("compensation_")
    comp = st.compensation(e["unit"])
    if ev in ("skipped", "missing") or comp is None:
        step = e.get("step") or str(e["unit"]).removeprefix("rollback:").split("[")[0]
        comp = Compensation(e["unit"], str(step), e["ts"], end=e["ts"])
        st.compensations.append(comp)
    if ev == "failed":
        comp.errors.append(f"attempt {e.get('attempt')}: {e.get('error')}")
        if e.get("permanent"):
            comp.status, comp.end = "failed", e["ts"]
        return
    comp.status, comp.end, comp.why = ev, e["ts"], str(e.get("why") or "")


def _compensation_done(st: RunState, e: dict[str, Any]) -> None:
    st.compensated.append(e["unit"])
    _compensation_ended(st, e)


def _rollback_failed(st: RunState, e: dict[str, Any]) -> None:
    st.not_restored = list(e.get("not_restored", []))
    for comp in st.compensations:
        if comp.status == "running" or (comp.unit in st.not_restored and comp.status != "failed"):
            comp.status, comp.end = "failed", comp.end or e["ts"]


def _rollback_done(st: RunState, e: dict[str, Any]) -> None:
    st.units = []


def _run_finished(st: RunState, e: dict[str, Any]) -> None:
    st.status, st.phase = e["status"], Phase.FINISHED
    st.exit_code = e.get("exit_code")
    st.ended_at = e.get("ts")
    st.current = None
    st.approval = None
    if e.get("reason") and st.failure is None and e["status"] not in ("succeeded",):
        st.failure = e["reason"]
    _stop_steps(st, e, status="stopped" if st.finished else str(e["status"]), why=e.get("reason"))


def _run_refused(st: RunState, e: dict[str, Any]) -> None:
    """A run that never started (Prefect did not answer, say): listed as refused, not as an unknown run."""
    if st.meta:
        return
    st.run_id = e["run_id"]
    st.status, st.phase, st.exit_code = "refused", Phase.FINISHED, int(ExitCode.REFUSED)
    st.failure = e["reason"]


def _watch_started(st: RunState, e: dict[str, Any]) -> None:
    st.phase, st.current = Phase.WATCHING, None
    st.watch_started_at, st.watch_until, st.watch_seconds = e["ts"], e["until"], e.get("seconds")


def _watch_alert(st: RunState, e: dict[str, Any]) -> None:
    st.watch_alerts.append(e)


def _watch_ended(st: RunState, e: dict[str, Any]) -> None:
    st.watch_ended, st.watch_ended_at = e["how"], e["ts"]


def _rehearsal_started(st: RunState, e: dict[str, Any]) -> None:
    st.rehearsal = list(e.get("faults") or [])


def _journal_damaged(st: RunState, e: dict[str, Any]) -> None:
    st.damaged_lines.append(e["line"])


_HANDLERS = {
    "run_started": _run_started,
    "run_resumed": _run_resumed,
    "step_started": _step_started,
    "batch_started": _batch_started,
    "stage_started": _stage_started,
    "stage_done": _stage_done,
    "action_result": _action_result,
    "unit_applied": _unit_applied,
    "undo_saved": _undo_saved,
    "batch_done": _batch_done,
    "check_result": _check_result,
    "step_done": _step_done,
    "step_failed": _step_failed,
    "gate_started": _phase(Phase.GATING),
    "gate_skipped": _gate_skipped,
    "bake_started": _bake_started,
    "bake_done": _bake_done,
    "paused": _paused,
    "unpaused": _unpaused,
    "approval_requested": _approval_requested,
    "approval_accepted": _approval_accepted,
    "approval_granted": _approval_closed,
    "approval_rejected": _approval_closed,
    "approval_timed_out": _approval_closed,
    "control": _control,
    "rollback_started": _rollback_started,
    "compensation_started": _compensation_started,
    "compensation_failed": _compensation_ended,
    "compensation_skipped": _compensation_ended,
    "compensation_missing": _compensation_ended,
    "compensation_done": _compensation_done,
    "rollback_failed": _rollback_failed,
    "rollback_done": _rollback_done,
    "run_finished": _run_finished,
    "run_refused": _run_refused,
    "journal_damaged": _journal_damaged,
    "rehearsal_started": _rehearsal_started,
    "watch_started": _watch_started,
    "watch_alert": _watch_alert,
    "watch_ended": _watch_ended,
}


def fold_entries(entries: Iterable[dict[str, Any]]) -> RunState:
    st = RunState()
    for e in entries:
        st.apply(e)
    return st


def fold(journal: Journal, *, skip_damaged: bool = False) -> RunState:
    """The run's state from its journal; lines that are no entry raise, or are skipped if asked."""
    return fold_entries(journal.entries(on_damage=_skip if skip_damaged else None))


def _skip(_: JournalCorrupt) -> None:
    return None
