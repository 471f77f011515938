"""Rehearsals: a cutover run for real with a fault injected, to prove its rollback restores the env.

Faults are injected at the engine's boundaries only, never by editing the runbook: a wrapper
around the drivers (the driver contract: ``apply``, ``undo``, Ansible's gated play) and around
the gate runner (the probes' verdicts). They fire at a failure point as ``golive plan`` lists
them: ``STEP`` (its first batch or stage), ``STEP@N`` (batch or stage N) or ``STEP@rollback``
(while its compensation runs). ``golive run`` has no way to inject anything.

Each drill captures a snapshot of what the runbook touches before it starts and after it
ends (golive.engine.snapshots), and reports the fault, time to detect (the fault firing to
the step failing), time to restore (rollback start to end), the compensations in the order
they ran, the snapshot's differences and the exit code. A drill ended as expected when the
env is back where it started (or, for ``rollback-fail``, when the run ended with exit 3
naming what it did not restore).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from golive.checks.base import Outcome
from golive.drivers.base import ActionResult, HostResult
from golive.engine.gates import GateOutcome
from golive.errors import Issue, PermanentError, RunbookError
from golive.runbook.types import parse_duration

if TYPE_CHECKING:
    from golive.engine.runner import Runner
    from golive.plan import Plan

__all__ = [
    "BUILTIN",
    "Drill",
    "DrillResult",
    "Fault",
    "Injector",
    "matrix_points",
    "parse_fault",
]

BUILTIN = ("gate-fail", "apply-fail", "inconclusive", "slow", "rollback-fail")
REAL_FAULT_TIMEOUT_S = 60.0
_POINT = re.compile(r"^(?P<step>[a-z0-9][a-z0-9._-]*)(?:@(?P<at>\d+|rollback))?$")


@dataclass(frozen=True)
class Fault:
    step: str
    index: int | None  # batch or stage; None: the first the step reaches
    rollback: bool
    kind: str  # one of BUILTIN, or a golive_faults name
    arg: str | None = None  # apply-fail's host, slow's duration, a real fault's host

    @property
    def point(self) -> str:
        return self.step + ("@rollback" if self.rollback else f"@{self.index}" if self.index else "")

    @property
    def label(self) -> str:
        return f"{self.point}:{self.kind}" + (f":{self.arg}" if self.arg else "")

    @property
    def seconds(self) -> float:
        return parse_duration(self.arg or "0s")


def parse_fault(text: str, plan: Plan, *, real: dict[str, Any], stages: dict[str, int]) -> Fault:
    """``POINT:FAULT[:ARG]``, checked against the plan; RunbookError (exit 2) naming the valid points."""
    points = ", ".join(f"{s}, {s}@1..{n}, {s}@rollback" if n > 1 else f"{s}, {s}@rollback" for s, n in stages.items())

    def bad(message: str, fix: str) -> RunbookError:
        return RunbookError([Issue("--inject", None, message, fix)])

    point, sep, rest = text.partition(":")
    if not sep or not rest:
        raise bad(f"--inject {text!r}: write POINT:FAULT", "e.g. --inject roll-app@2:gate-fail")
    m = _POINT.match(point)
    if m is None or m.group("step") not in stages:
        raise bad(f"--inject {text!r}: no failure point {point!r} in the plan", f"points: {points}")
    step, at = m.group("step"), m.group("at")
    index = int(at) if at and at != "rollback" else None
    if index is not None and not 1 <= index <= stages[step]:
        raise bad(f"--inject {text!r}: step {step} has {stages[step]} batch(es) or stage(s)", f"points: {points}")
    kind, _, arg = rest.partition(":")
    if kind not in BUILTIN and kind not in real:
        known = ", ".join([*BUILTIN, *real]) or "-"
        raise bad(f"--inject {text!r}: unknown fault {kind!r}", f"faults: {known} (golive_faults adds real ones)")
    if kind == "slow":
        try:
            if parse_duration(arg) <= 0:
                raise ValueError("not longer than 0s")
        except ValueError:
            raise bad(f"--inject {text!r}: slow needs a duration", "e.g. roll-app@1:slow:3s") from None
    if kind == "rollback-fail" and at != "rollback":
        raise bad(f"--inject {text!r}: a compensation fails during a rollback", f"write {step}@rollback:rollback-fail")
    if at == "rollback" and kind != "rollback-fail":
        raise bad(f"--inject {text!r}: only rollback-fail strikes during a rollback", "e.g. STEP@2:gate-fail")
    return Fault(step=step, index=index, rollback=at == "rollback", kind=kind, arg=arg or None)


def matrix_points(plan: Plan, stages: dict[str, int] | None = None) -> list[tuple[str, int | None, bool]]:
    """Every failure point a drill can strike: each batch or stage of each step that changes something,
    with whether a gate judges it there (a point without one is struck with apply-fail instead)."""
    out: list[tuple[str, int | None, bool]] = []
    for s in plan.steps:
        if s.kind in ("check", "notify", "pause", "approval"):
            continue
        count = max(len(s.batches), (stages or {}).get(s.id, 1))
        gated = bool(s.gates)
        if count > 1:
            out += [(s.id, i, gated) for i in range(1, count + 1)]
        else:
            out.append((s.id, None, gated))
    return out


# ------------------------------------------------------------------ injection


@dataclass
class Fired:
    fault: Fault
    at: datetime
    host: str = ""  # where a real fault struck


class Injector:
    """Wraps a runner's drivers and gates; each fault fires once, at its point."""

    def __init__(self, faults: list[Fault], *, real: dict[str, Any], env: dict[str, str] | None = None) -> None:
        self.faults = faults
        self.real = real
        self.env = env
        self.fired: list[Fired] = []
        self.runner: Runner | None = None
        self._lock = threading.Lock()

    def install(self, runner: Runner) -> None:
        self.runner = runner
        svc = runner.svc
        original = svc.drivers
        svc.drivers = _InjectedDrivers(original, self)
        make_gates = svc.gates

        def gates(stop: Any, on_verdict: Any) -> Any:
            return _InjectedGates(make_gates(stop, on_verdict), self)

        svc.gates = gates

    # where the run is
    def _where(self) -> tuple[str | None, int | None]:
        assert self.runner is not None
        state = self.runner.state
        step = state.steps.get(state.current or "")
        if step is None:
            return None, None
        span = next((s for s in reversed(step.spans) if s.kind in ("batch", "stage")), None)
        return state.current, span.batch if span is not None else None

    def take(
        self, kinds: tuple[str, ...], *, index: int | None = None, rollback_step: str | None = None
    ) -> Fault | None:
        """The unfired fault of these kinds whose point is where the run is now; marked fired."""
        step, at = (rollback_step, None) if rollback_step else self._where()
        if index is not None:
            at = index
        with self._lock:
            done = {f.fault for f in self.fired}
            for f in self.faults:
                if f in done or f.kind not in kinds or f.step != step or f.rollback != bool(rollback_step):
                    continue
                if f.index is not None and f.index != at:
                    continue
                self.fired.append(Fired(f, datetime.now(UTC)))
                self._journal(f)
                return f
        return None

    def _journal(self, f: Fault) -> None:
        assert self.runner is not None
        self.runner.journal.append("fault_injected", run_id=self.runner.run_id, step=f.step, fault=f.label)

    def real_fault(self, f: Fault, hosts: list[str]) -> None:
        """Run the env's command for a real fault (``golive_faults``), ``{host}`` filled in."""
        spec = self.real[f.kind]
        command = spec["inject"] if isinstance(spec, dict) else str(spec)
        host = f.arg or (hosts[0] if hosts else "")
        for fired in self.fired:
            if fired.fault == f:
                fired.host = host
        subprocess.run(
            command.replace("{host}", host),
            shell=True,
            check=False,
            timeout=REAL_FAULT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=self.env,
        )

    def heal(self) -> None:
        """Undo the real faults that fired (their ``heal`` command), whatever the drill's end."""
        for fired in self.fired:
            spec = self.real.get(fired.fault.kind)
            if isinstance(spec, dict) and spec.get("heal"):
                subprocess.run(
                    str(spec["heal"]).replace("{host}", fired.host),
                    shell=True,
                    check=False,
                    timeout=REAL_FAULT_TIMEOUT_S,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    env=self.env,
                )


class _InjectedDrivers(dict[str, Any]):
    def __init__(self, original: dict[str, Any], inj: Injector) -> None:
        super().__init__()
        self._original = original
        self._inj = inj

    def __missing__(self, name: str) -> Any:
        driver = self[name] = _Driver(self._original[name], self._inj)
        return driver


class _Driver:
    """A driver whose apply, undo and gated Ansible play carry the rehearsal's faults."""

    def __init__(self, driver: Any, inj: Injector) -> None:
        self._driver = driver
        self._inj = inj

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._driver, name)
        if name != "rolling" or attr is None:
            return attr

        def rolling(*args: Any, **kwargs: Any) -> Any:
            session, why = attr(*args, **kwargs)
            return (_Session(session, self._inj) if session is not None else None), why

        return rolling

    def apply(self, change: Any, *args: Any, **kwargs: Any) -> ActionResult:
        return _faulty(self._inj, lambda: self._driver.apply(change, *args, **kwargs), index=None)

    def undo(self, records: Any, *args: Any, **kwargs: Any) -> Any:
        _undo_fault(self._inj)
        return self._driver.undo(records, *args, **kwargs)


class _Session:
    """Ansible's gated play: each batch it runs carries the faults of that batch."""

    def __init__(self, session: Any, inj: Injector) -> None:
        self._session = session
        self._inj = inj

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def run_batch(self, index: int, **kwargs: Any) -> ActionResult:
        return _faulty(self._inj, lambda: self._session.run_batch(index, **kwargs), index=index)


def _faulty(inj: Injector, apply: Callable[[], ActionResult], *, index: int | None) -> ActionResult:
    if inj.runner is not None and inj.runner.state.phase.value == "rolling_back":
        _undo_fault(inj)  # a compensation may be a forward change (rollback: {ansible: ...})
        return apply()
    slow = inj.take(("slow",), index=index)
    if slow is not None:
        time.sleep(slow.seconds)
    result = apply()
    failing = inj.take(("apply-fail",), index=index)
    if failing is not None:
        hosts = sorted(result.results)
        host = failing.arg if failing.arg in result.results else (hosts[0] if hosts else None)
        if host is not None:
            result.results[host] = HostResult(host=host, ok=False, message=f"injected apply-fail ({failing.label})")
    return result


def _undo_fault(inj: Injector) -> None:
    if inj.runner is None:
        return
    running = next((c for c in reversed(inj.runner.state.compensations) if c.status == "running"), None)
    if running is None:
        return
    fault = inj.take(("rollback-fail",), rollback_step=running.step)
    if fault is not None:
        raise PermanentError(f"injected rollback-fail ({fault.label}): the compensation of {running.step} failed")


class _InjectedGates:
    def __init__(self, gates: Any, inj: Injector) -> None:
        self._gates = gates
        self._inj = inj

    def evaluate(self, checks: Any, **kwargs: Any) -> GateOutcome:
        real = tuple(self._inj.real)
        fault = self._inj.take(real) if real else None
        if fault is not None:
            hosts = [h.name for h in kwargs.get("hosts", [])]
            self._inj.real_fault(fault, hosts)
        outcome: GateOutcome = self._gates.evaluate(checks, **kwargs)
        forced = self._inj.take(("gate-fail", "inconclusive"))
        if forced is None:
            return outcome
        n = len(outcome.verdicts)
        if forced.kind == "gate-fail":
            why = f"injected gate-fail ({forced.label}) after {n} real measurement(s)"
            return GateOutcome(Outcome.FAIL, outcome.verdicts, why)
        return GateOutcome(Outcome.INCONCLUSIVE, outcome.verdicts, f"injected inconclusive ({forced.label}): no data")


# ------------------------------------------------------------------ drills


@dataclass
class DrillResult:
    faults: list[str]
    exit_code: int
    status: str
    expected: bool
    why: str
    run_id: str
    journal: str
    detect_s: float | None = None
    restore_s: float | None = None
    compensations: list[str] = field(default_factory=list)
    not_restored: list[str] = field(default_factory=list)
    snapshot_diff: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Drill:
    """One rehearsal: ``faults`` at their points; judged by ``judge`` from the journal and snapshots."""

    faults: list[Fault]

    @property
    def expects_rollback_failure(self) -> bool:
        return any(f.kind == "rollback-fail" for f in self.faults)


def judge(
    drill: Drill, entries: list[dict[str, Any]], *, code: int, diffs: list[str], fired: list[Fired], journal: str
) -> DrillResult:
    """How the drill ended against what it should have: restored (or, for rollback-fail, exit 3 naming it)."""
    finished = [e for e in entries if e["event"] == "run_finished"]
    status = str(finished[-1]["status"]) if finished else "unknown"
    run_id = str(entries[0].get("run_id")) if entries else "?"
    failed = next((e for e in entries if e["event"] == "step_failed"), None)
    started = next((e for e in entries if e["event"] == "rollback_started"), None)
    ended = next((e for e in entries if e["event"] in ("rollback_done", "rollback_failed")), None)
    first_fire = min((f.at for f in fired), default=None)
    detect = _seconds(first_fire.isoformat() if first_fire else None, failed["ts"] if failed else None)
    restore = _seconds(started["ts"] if started else None, ended["ts"] if ended else None)
    comps = [e["unit"] for e in entries if e["event"] == "compensation_done"]
    not_restored = list(ended.get("not_restored", [])) if ended and ended["event"] == "rollback_failed" else []
    if not fired:
        expected, why = False, "no fault fired: the run never reached its point (or the point has no gate)"
    elif drill.expects_rollback_failure:
        expected = code == 3 and bool(not_restored)
        why = (
            f"exit 3, not restored: {', '.join(not_restored)} (expected)"
            if expected
            else f"expected exit 3 naming what is not restored, got exit {code}"
        )
    else:
        expected = status == "rolled_back" and not diffs
        why = (
            "detected, rolled back, every snapshot value restored"
            if expected
            else f"status {status}, exit {code}" + (f"; not restored: {'; '.join(diffs)}" if diffs else "")
        )
    return DrillResult(
        faults=[f.label for f in drill.faults],
        exit_code=code,
        status=status,
        expected=expected,
        why=why,
        run_id=run_id,
        journal=journal,
        detect_s=detect,
        restore_s=restore,
        compensations=comps,
        not_restored=not_restored,
        snapshot_diff=diffs,
        fired=[f.fault.label for f in fired],
    )


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
    if a.tzinfo is None:
        a = a.replace(tzinfo=UTC)
    if b.tzinfo is None:
        b = b.replace(tzinfo=UTC)
    return round(max(0.0, (b - a).total_seconds()), 2)


class Answerer:
    """Answers what a person would during a drill: approvals (simulated or by --approve-as), and an
    inconclusive pause with abort after ``answer_after`` seconds. Bounded: it stops with the run."""

    def __init__(self, journal: Any, *, run_id: str, approvers: list[str], answer_after: float) -> None:
        self.journal = journal
        self.run_id = run_id
        self.approvers = approvers
        self.answer_after = answer_after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="golive-rehearsal", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        answered: set[int] = set()
        while not self._stop.wait(0.3):
            try:
                entries = self.journal.read()
            except Exception:
                continue
            for e in entries:
                seq = int(e["seq"])
                if seq in answered:
                    continue
                if e["event"] == "approval_requested":
                    answered.add(seq)
                    for i in range(int(e.get("approvers", 1))):
                        who = self.approvers[i] if i < len(self.approvers) else f"rehearsal-approver-{i + 1}"
                        self.journal.append(
                            "control",
                            run_id=self.run_id,
                            action="approve",
                            by=who,
                            digest=e.get("digest"),
                            step=e.get("step"),
                            source="rehearsal",
                            comment="answered by the rehearsal",
                        )
                elif e["event"] == "paused":
                    answered.add(seq)
                    if self._stop.wait(self.answer_after):
                        return
                    self.journal.append(
                        "control",
                        run_id=self.run_id,
                        action="abort",
                        by="rehearsal",
                        reason=f"the rehearsal answers a pause with abort after {self.answer_after:g}s",
                    )


def run_drill(
    ctx: Any,
    drill: Drill,
    *,
    use_prefect: bool,
    initiator: str | None,
    approvers: list[str],
    answer_after: float,
    env: dict[str, str] | None = None,
) -> DrillResult:
    """One drill on the real env: snapshot, run with the faults, snapshot again, judge."""
    from golive.engine.execute import Refused, execute_new
    from golive.engine.snapshots import capture, diff

    real = _real_faults(ctx)
    before = capture(ctx)
    inj = Injector(drill.faults, real=real, env=env)
    answerers: list[Answerer] = []

    def on_runner(runner: Runner) -> None:
        inj.install(runner)
        answerer = Answerer(runner.journal, run_id=runner.run_id, approvers=approvers, answer_after=answer_after)
        answerers.append(answerer)
        shown = runner.steer.listener

        def listener(entry: dict[str, Any]) -> None:
            shown(entry)
            if entry["event"] == "run_started":
                runner.journal.append("rehearsal_started", run_id=runner.run_id, faults=[f.label for f in drill.faults])
                answerer.start()

        runner.steer.listener = listener

    try:
        handle, code = execute_new(
            ctx,
            use_prefect=use_prefect,
            initiator=initiator,
            on_runner=on_runner,
            flow_name=f"rehearsal:{ctx.loaded.runbook.name}",
        )
    except Refused:
        raise
    finally:
        for a in answerers:
            a.stop()
        inj.heal()
    after = capture(ctx)
    diffs = [str(d) for d in diff(before, after)]
    result = judge(
        drill, handle.journal.read(), code=code, diffs=diffs, fired=inj.fired, journal=str(handle.journal.path)
    )
    entry = handle.journal.append(
        "rehearsal_finished",
        run_id=handle.run_id,
        expected=result.expected,
        outcome=result.why,
        detect_s=result.detect_s,
        restore_s=result.restore_s,
        not_restored=result.snapshot_diff + result.not_restored,
    )
    _tell(ctx, handle, entry)
    return result


def _tell(ctx: Any, handle: Any, entry: dict[str, Any]) -> None:
    """rehearsal_finished to the env's channels (the run's own notifier has closed)."""
    from golive.notify import notifier_for

    run = {"run_id": handle.run_id, "runbook": ctx.loaded.runbook.name, "env": ctx.env}
    notifier = notifier_for(ctx.inventory, journal=handle.journal.append, run=run)
    if notifier is not None:
        notifier.on_entry(entry)
        notifier.close()


def _real_faults(ctx: Any) -> dict[str, Any]:
    inv = ctx.inventory
    raw = inv.settings.get("golive_faults") if inv is not None else None
    return dict(raw) if isinstance(raw, dict) else {}
