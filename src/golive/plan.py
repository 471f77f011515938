"""The Plan: what a run will do, computed before anything executes.

Pure and printable: ordered steps with owners, host batches by name, every gate and
approval, the rollback path taken at each failure point, an estimated duration and a
sha256 digest that binds approvals and resumes to exactly this plan.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from golive.errors import RunbookError
from golive.inputs import PlanInput, collect_inputs, diff_inputs, digest_of
from golive.inventory import Inventory
from golive.kinds import kind_of
from golive.runbook.load import LoadedRunbook
from golive.runbook.models import (
    ApprovalStep,
    Batched,
    CheckStep,
    CommandCheck,
    HttpCheck,
    K8sCheck,
    PrometheusCheck,
    Runbook,
    TcpCheck,
)
from golive.runbook.types import batch_sizes, format_duration
from golive.runbook.validate import validate
from golive.schedule import schedule_of
from golive.windows import Schedule

__all__ = [
    "PLAN_SCHEMA_VERSION",
    "Batch",
    "FailurePoint",
    "Gate",
    "Plan",
    "PlanInput",
    "PlannedStep",
    "ScheduleInfo",
    "action_summary",
    "build_plan",
    "diff_inputs",
    "schedule_info",
]

PLAN_SCHEMA_VERSION = 1
CHECK_S = 0.2  # one measurement, when nothing better is known (seconds)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Gate(_Out):
    kind: str
    target: str
    hosts: list[str] = []
    limit: str
    interval_s: float
    count: int
    failure_limit: int
    consecutive_errors: int = 2
    timeout_s: float | None = None
    # where the measurement is taken when not on the hosts: a Prometheus URL, a cluster
    source: str | None = None
    estimate_s: float


class Batch(_Out):
    index: int
    hosts: list[str]


class FailurePoint(_Out):
    """If the step fails here, these compensations run, in this order."""

    at: str
    compensations: list[str]
    not_undone: list[str] = []


class Approval(_Out):
    approvers: int
    allowed: list[str] | None = None  # the env's golive_approvers: only they may approve
    signed: bool = False  # only approvals signed by a key of the env's allowed_signers count
    exclude_initiator: bool
    timeout_s: float
    on_timeout: str
    message: str | None = None


class RollbackInfo(_Out):
    kind: str  # ansible | ssh | k8s-restore | none | missing | nothing-to-undo
    detail: str = ""


class WindowInfo(_Out):
    source: str  # runbook | env <name>
    allow: list[str]
    tz: str


class FreezeInfo(_Out):
    start: datetime
    end: datetime
    reason: str


class ScheduleInfo(_Out):
    """When a run may start, as of ``now`` (when the plan was made); outside the digest.

    Every window listed must be open and no freeze in force. ``tz`` is the zone the view
    shows times in (the runbook window's, else the env's first); instants are UTC.
    """

    now: datetime
    open: bool
    reason: str = ""
    closes_at: datetime | None = None
    next_open: datetime | None = None
    tz: str
    windows: list[WindowInfo] = []
    freeze_now: FreezeInfo | None = None
    freezes_upcoming: list[FreezeInfo] = []


def schedule_info(schedule: Schedule, now: datetime) -> ScheduleInfo:
    status = schedule.status(now)
    freeze = status.freeze
    return ScheduleInfo(
        now=status.now,
        open=status.open,
        reason=status.reason,
        closes_at=status.closes_at,
        next_open=status.next_open,
        tz=schedule.windows[0].tz.key if schedule.windows else "UTC",
        windows=[WindowInfo(source=w.source, allow=[s.text for s in w.specs], tz=w.tz.key) for w in schedule.windows],
        freeze_now=FreezeInfo(start=freeze.start, end=freeze.end, reason=freeze.reason) if freeze else None,
        freezes_upcoming=[
            FreezeInfo(start=f.start, end=f.end, reason=f.reason) for f in schedule.upcoming_freezes(status.now)
        ],
    )


class PlannedStep(_Out):
    index: int
    id: str
    kind: str
    owner: str | None
    description: str | None = None
    action: dict[str, Any]
    hosts: list[str] = []
    batches: list[Batch] = []
    max_fail: int = 0
    gates: list[Gate] = []
    bake_s: float = 0.0
    timeout_s: float | None = None
    retries: int = 0
    approval: Approval | None = None
    rollback: RollbackInfo
    on_failure: list[FailurePoint] = []
    estimate_s: float


class PlannedWatch(_Out):
    """After the last step the run watches: its checks keep measuring for ``seconds``."""

    seconds: float
    gates: list[Gate]
    on_fail: str
    # What a failing check rolls back, newest first (every step's units).
    compensations: list[str] = []


class Plan(_Out):
    schema_version: int = PLAN_SCHEMA_VERSION
    runbook: str
    description: str | None = None
    file: str
    env: str | None
    params: dict[str, Any]
    previous: dict[str, Any]
    steps: list[PlannedStep]
    estimate_s: float
    warnings: list[str] = []
    # Everything the digest covers, each with its own hash: a change approved on one set
    # of inputs is refused, naming the input, when any of them hashes differently.
    inputs: list[PlanInput] = []
    digest: str = ""
    # Change windows and freezes as of planning time; None when neither runbook nor env has any.
    schedule: ScheduleInfo | None = None
    # The watch after go-live (runbook watch:), part of the estimate; None without one.
    watch: PlannedWatch | None = None

    def step(self, step_id: str) -> PlannedStep:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def _gate(check: Any, hosts: list[str]) -> Gate:
    if isinstance(check, K8sCheck):
        target = f"deployment/{check.k8s.deployment} in {check.k8s.namespace}"
    elif isinstance(check, HttpCheck):
        target = check.http if check.method == "GET" else f"{check.method} {check.http}"
    elif isinstance(check, PrometheusCheck) and check.baseline is not None:
        target = f"{check.prometheus} vs baseline {check.baseline.query}"
    elif isinstance(check, TcpCheck | CommandCheck | PrometheusCheck):
        target = getattr(check, check.kind)
    else:  # pragma: no cover - the union is closed
        raise TypeError(type(check))
    estimate = check.initial_delay + (check.count - 1) * check.interval + CHECK_S
    return Gate(
        kind=check.kind,
        target=target,
        hosts=hosts if getattr(check, "hosts", None) is not None or hosts else [],
        limit=check.limit_text(),
        interval_s=check.interval,
        count=check.count,
        failure_limit=check.failure_limit,
        consecutive_errors=check.consecutive_errors,
        timeout_s=check.timeout,
        source=_source(check),
        estimate_s=estimate,
    )


def _source(check: Any) -> str | None:
    if isinstance(check, PrometheusCheck):
        return check.url  # None: the env's golive_prometheus_url
    if isinstance(check, K8sCheck):
        return check.k8s.context
    return None


def _gates(checks: list[Any], *, inventory: Inventory | None, default_hosts: list[str]) -> list[Gate]:
    out = []
    for c in checks:
        pattern = getattr(c, "hosts", None)
        hosts = (
            inventory.match(pattern) if (pattern and inventory is not None and "{" not in pattern) else default_hosts
        )
        gate = _gate(c, hosts)
        if gate.kind == "prometheus" and gate.source is None and inventory is not None:
            gate = gate.model_copy(update={"source": inventory.prometheus_url})
        out.append(gate)
    return out


def _max_fail(value: int | str, total: int) -> int:
    if isinstance(value, str):
        return math.floor(total * float(value[:-1]) / 100)
    return value


def _path(units: list[str]) -> tuple[list[str], list[str]]:
    """Split a newest-first undo list where the engine must stop: at a step with no rollback.

    The runner does not undo older steps on top of a state it could not restore, so that
    step and everything older are left for a human (exit 3).
    """
    for i, unit in enumerate(units):
        if unit.endswith(" (no rollback)"):
            return units[:i], units[i:]
    return units, []


def _compensation_units(step: PlannedStep) -> list[str]:
    """Compensation task names that undo this whole step, newest first."""
    if step.rollback.kind in ("none", "nothing-to-undo", "missing"):
        return []
    if len(step.batches) > 1:
        return [f"rollback:{step.id}[batch {b.index}]" for b in reversed(step.batches)]
    return [f"rollback:{step.id}"]


def build_plan(
    loaded: LoadedRunbook,
    *,
    root: Path,
    inventory: Inventory | None,
    params: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
    history: dict[str, float] | None = None,
    now: datetime | None = None,
) -> Plan:
    """Validate and plan; raises RunbookError carrying every error found."""
    issues = validate(loaded, root=root, inventory=inventory, params=params)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise RunbookError(issues)
    rb = loaded.runbook
    history = history or {}
    planned: list[PlannedStep] = []
    done_units: list[tuple[str, list[str]]] = []  # (step id, its compensations newest first)
    for index, step in enumerate(rb.steps):
        kind = kind_of(step)
        pattern = kind.hosts_pattern(step)
        hosts = inventory.match(pattern) if pattern is not None and inventory is not None else []
        batches: list[Batch] = []
        max_fail = 0
        if isinstance(step, Batched) and hosts:
            sizes = batch_sizes(step.batches or ["100%"], len(hosts))
            pos = 0
            for n, size in enumerate(sizes, start=1):
                batches.append(Batch(index=n, hosts=hosts[pos : pos + size]))
                pos += size
            max_fail = _max_fail(step.max_fail, len(hosts))
        checks = list(step.check) if isinstance(step, CheckStep) else []
        gates = _gates(checks + list(step.verify), inventory=inventory, default_hosts=hosts)
        approval = None
        if isinstance(step, ApprovalStep):
            a = step.approval
            protected = inventory.protected if inventory is not None else False
            approval = Approval(
                approvers=a.approvers,
                allowed=inventory.approvers if inventory is not None else None,
                signed=inventory.require_signed_approvals if inventory is not None else False,
                exclude_initiator=a.exclude_initiator if a.exclude_initiator is not None else protected,
                timeout_s=a.timeout,
                on_timeout=a.on_timeout,
                message=a.message,
            )
        info = kind.rollback_info(step)
        rollback = RollbackInfo(kind=info.kind, detail=info.detail)
        base = PlannedStep(
            index=index,
            id=step.id,
            kind=step.kind,
            owner=step.owner or rb.owner,
            description=step.description,
            action=kind.action(step),
            hosts=hosts,
            batches=batches,
            max_fail=max_fail,
            gates=gates,
            bake_s=step.bake,
            timeout_s=step.timeout,
            retries=step.retries,
            approval=approval,
            rollback=rollback,
            estimate_s=kind.estimate(
                step,
                batch_hosts=[len(b.hosts) for b in batches],
                verify_s=max((g.estimate_s for g in gates), default=0.0),
                history_s=history.get(step.id),
            ),
        )
        own = _compensation_units(base) if step.changes_state else []
        failure_points = []
        for at, count in [(f"batch {b.index}", b.index) for b in batches] if batches else [("step", 1)]:
            mine = own[len(own) - count :] if len(own) > 1 else own
            if rollback.kind == "missing":
                mine = [f"{step.id} (no rollback)"]
            compensations, not_undone = _path(mine + [u for _, units in reversed(done_units) for u in units])
            failure_points.append(FailurePoint(at=at, compensations=compensations, not_undone=not_undone))
        planned.append(base.model_copy(update={"on_failure": failure_points}))
        done_units.append((step.id, [f"{step.id} (no rollback)"] if rollback.kind == "missing" else own))
    merged_params = {**rb.params, **(params or {})}
    merged_previous = {**rb.previous, **(previous or {})}
    inputs = collect_inputs(
        loaded,
        root=root,
        inventory=inventory,
        params=merged_params,
        previous=merged_previous,
        placement={s.id: _placement(s) for s in planned},
        touched=sorted({h for s in planned for h in s.hosts} | {h for s in planned for g in s.gates for h in g.hosts}),
    )
    return Plan(
        runbook=rb.name,
        description=rb.description,
        file=str(loaded.path),
        env=inventory.env if inventory else None,
        params=merged_params,
        previous=merged_previous,
        steps=planned,
        estimate_s=sum(s.estimate_s for s in planned) + (rb.watch.duration if rb.watch else 0.0),
        watch=_watch(rb, inventory, done_units),
        warnings=[i.render() for i in issues if i.severity == "warning"],
        inputs=inputs,
        digest=digest_of(inputs),
        schedule=_schedule(loaded, inventory, now or datetime.now(UTC)),
    )


def _watch(rb: Runbook, inventory: Inventory | None, done: list[tuple[str, list[str]]]) -> PlannedWatch | None:
    if rb.watch is None:
        return None
    gates = _gates(list(rb.watch.checks), inventory=inventory, default_hosts=[])
    compensations, _ = _path([u for _, units in reversed(done) for u in units])
    return PlannedWatch(seconds=rb.watch.duration, gates=gates, on_fail=rb.watch.on_fail, compensations=compensations)


def _placement(step: PlannedStep) -> dict[str, Any]:
    """Where a step acts, as the digest covers it: its hosts, batches and the hosts its gates measure."""
    return {
        "hosts": step.hosts,
        "batches": [b.hosts for b in step.batches],
        "gates": [g.hosts for g in step.gates],
        "max_fail": step.max_fail,
    }


def _schedule(loaded: LoadedRunbook, inventory: Inventory | None, now: datetime) -> ScheduleInfo | None:
    schedule = schedule_of(loaded, inventory)
    return schedule_info(schedule, now) if schedule else None


def action_summary(step: PlannedStep) -> str:
    """The step's action in one line, as the plan table and reports show it."""
    a = step.action
    if step.kind == "ansible":
        return f"playbook {a.get('playbook')} on {a.get('hosts')}"
    if step.kind == "ssh":
        return f"{len(a.get('commands', []))} command(s) on {a.get('hosts')}"
    if step.kind == "k8s":
        strategy = a.get("strategy")
        name = a.get("deployment") or a.get("service") or a.get("manifest")
        shape = strategy if isinstance(strategy, str) else ", ".join(f"{k} {v}" for k, v in (strategy or {}).items())
        return f"{name} in {a.get('namespace')} ({shape})"
    if step.kind == "approval" and step.approval:
        ap = step.approval
        excl = ", not the initiator" if ap.exclude_initiator else ""
        excl += ", signed (golive approve --sign KEY)" if ap.signed else ""
        return f"{ap.approvers} approver(s){excl}; timeout {format_duration(ap.timeout_s)} -> {ap.on_timeout}"
    if step.kind == "pause":
        return f"pause {format_duration(a['duration'])}" if a.get("duration") else "pause until resumed"
    if step.kind == "notify":
        return str(a.get("message", ""))
    return f"{a.get('checks', 0)} check(s)"
