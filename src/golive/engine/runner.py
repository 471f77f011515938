"""The step machine: carry out a Plan step by step, and undo what was done when it fails.

The runner knows nothing of Prefect, Ansible or SSH: it is handed ``Services`` (the
drivers, the gate runner, a clock and a sleep, and a ``task`` wrapper that turns a
callable into a Prefect task run) so that unit tests drive it with fakes on fake time.
Every decision is journaled before it takes effect.
"""

from __future__ import annotations

import functools
import getpass
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import structlog
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from golive.checks.base import Outcome, Verdict
from golive.drivers.base import ActionResult, HostResult
from golive.engine.gates import GateRunner, is_analysis
from golive.engine.journal import Cursor, Journal, JournalCorrupt
from golive.engine.state import RunState, Unit
from golive.errors import DriverError, TransientError
from golive.plan import Plan, PlannedStep
from golive.runbook.models import (
    AnsibleAction,
    AnsibleStep,
    ApprovalStep,
    CheckStep,
    K8sStep,
    NoRollback,
    NotifyStep,
    PauseStep,
    RollbackAction,
    Runbook,
    SshAction,
    SshStep,
    StepBase,
)
from golive.runbook.render import HostRef, render, render_shell, render_tree

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_ROLLBACK_FAILED",
    "Runner",
    "Services",
]

log = structlog.get_logger(__name__)
T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_ROLLBACK_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 3, 4, 130
CONTROL_POLL_S = 0.2
COMPENSATION_ATTEMPTS = 3
INCONCLUSIVE_WAIT_S = 3600.0


class StepFailed(Exception):
    def __init__(self, step: str, reason: str, batch: int | None = None) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason
        self.batch = batch


class Aborted(Exception):
    def __init__(self, reason: str, *, rollback: bool = True, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rollback = rollback
        self.exit_code = exit_code


@dataclass
class Services:
    """Everything the runner reaches outside itself; real ones in engine/services.py."""

    ansible: Callable[..., ActionResult]
    ssh: Callable[..., ActionResult]
    gates: Callable[[Callable[[], str | None], Callable[[Verdict], None]], GateRunner]
    host_of: Callable[[str], HostRef]
    match: Callable[[str], list[str]]
    k8s: Any = None
    clock: Callable[[], float] = field(default=lambda: __import__("time").monotonic())
    sleep: Callable[[float], None] = field(default=lambda s: __import__("time").sleep(s))
    task: Callable[[str, Callable[[], Any]], Any] = field(default=lambda name, fn: fn())
    ask_rollback: Callable[[], bool] = field(default=lambda: True)
    approvers: Callable[[], list[str] | None] = field(default=lambda: None)
    # What an operator's Ctrl-C or a supervisor's SIGTERM arrives as (Prefect adds its own).
    interrupts: tuple[type[BaseException], ...] = (KeyboardInterrupt,)
    # Shows an approval in the Prefect UI (engine/prefect_pause.py); None where there is no UI.
    approval_ui: Callable[[float, Callable[[], float]], Any] = field(default=lambda timeout, clock: None)
    # One Ansible process for all of a step's batches (drivers/ansible.py RollingPlaybook), or
    # (None, why not); None here means a process per batch always.
    ansible_rolling: Callable[..., tuple[Any, str]] | None = None


def current_user() -> str:
    return os.environ.get("GOLIVE_USER") or getpass.getuser()


class Runner:
    def __init__(
        self,
        *,
        plan: Plan,
        runbook: Runbook,
        journal: Journal,
        services: Services,
        root: Path,
        run_id: str,
        initiator: str | None = None,
        listener: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.plan = plan
        self.runbook = runbook
        self.journal = journal
        self.svc = services
        self.root = root
        self.run_id = run_id
        self.initiator = initiator or current_user()
        self.listener = listener or (lambda e: None)
        self.units: list[Unit] = []
        self.failed_hosts: dict[str, set[str]] = {}
        self._control_seq = -1
        self._controls_read = Cursor()
        self._damaged_lines: set[int] = set()
        self._pending: list[dict[str, Any]] = []
        self._promote = False
        self._abort: str | None = None
        self._skip_batches: dict[str, int] = {}
        self._prewarmed: dict[str, Any] = {}
        self._ending: list[Any] = []  # plays past their last batch, still ending (Ansible's stats, exit)

    # ------------------------------------------------------------ journal and controls

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        entry = self.journal.append(event, run_id=self.run_id, **fields)
        log.info(event, **{k: v for k, v in fields.items() if k not in ("steps",)})
        self.listener(entry)
        return entry

    def _poll_controls(self) -> None:
        """Read control requests other processes appended to the journal since last time."""
        for e in self.journal.follow(self._controls_read, on_damage=self._journal_damaged):
            if e["seq"] <= self._control_seq:
                continue  # read before (a resumed run starts past what its first process saw)
            self._control_seq = e["seq"]
            if e["event"] != "control":
                continue
            action = e.get("action")
            if action == "abort" and self._abort is None:
                self._abort = f"aborted by {e.get('by')}" + (f": {e['reason']}" if e.get("reason") else "")
            elif action == "promote":
                self._promote = True
            self._pending.append(e)

    def _journal_damaged(self, exc: JournalCorrupt) -> None:
        """A line in the journal that golive did not write: said once, and the run goes on."""
        if exc.line not in self._damaged_lines:
            self._damaged_lines.add(exc.line)
            log.error("journal_damaged", journal=str(exc.path), line=exc.line, reason=exc.reason)
            self.record("journal_damaged", line=exc.line, reason=exc.reason)

    def _take_controls(self, *actions: str) -> list[dict[str, Any]]:
        taken = [e for e in self._pending if e.get("action") in actions]
        self._pending = [e for e in self._pending if e.get("action") not in actions]
        return taken

    def _check_abort(self) -> None:
        self._poll_controls()
        if self._abort:
            raise Aborted(self._abort)
        if self._take_controls("pause"):
            self._wait_paused("paused by request")

    def _stop_reason(self) -> str | None:
        self._poll_controls()
        return self._abort

    def wait(self, seconds: float, *, promotable: bool = False) -> str:
        """Wait while honouring controls; returns 'elapsed' or 'promoted'. Raises Aborted."""
        end = self.svc.clock() + seconds
        while True:
            self._check_abort()
            if promotable and self._promote:
                self._promote = False
                return "promoted"
            left = end - self.svc.clock()
            if left <= 0:
                return "elapsed"
            self.svc.sleep(min(CONTROL_POLL_S, left))

    def _wait_paused(self, reason: str, *, step: str | None = None, limit: float = INCONCLUSIVE_WAIT_S) -> None:
        self.record(
            "paused", step=step, reason=reason, howto=f"golive resume {self.run_id} | golive abort {self.run_id}"
        )
        end = self.svc.clock() + limit
        while self.svc.clock() < end:
            self._poll_controls()
            if self._abort:
                raise Aborted(self._abort)
            resumed = self._take_controls("resume")
            if resumed:
                self.record("unpaused", step=step, by=resumed[0].get("by"))
                return
            self.svc.sleep(CONTROL_POLL_S)
        raise Aborted(f"nobody answered within {limit:g}s while paused: {reason}")

    # ------------------------------------------------------------ the run

    def start(self, *, meta: dict[str, Any] | None = None) -> int:
        self.record(
            "run_started",
            **(meta or {}),
            runbook=self.plan.runbook,
            file=self.plan.file,
            env=self.plan.env,
            params=self.plan.params,
            previous=self.plan.previous,
            digest=self.plan.digest,
            initiator=self.initiator,
            pid=os.getpid(),
            machine=socket.gethostname(),
            steps=[{"id": s.id, "kind": s.kind} for s in self.plan.steps],
        )
        return self._run(0)

    def resume(self, state: RunState, *, by: str) -> int:
        self.units = list(state.pending_units())
        order = [s.id for s in self.plan.steps]
        start = next(
            (i for i, sid in enumerate(order) if state.steps.get(sid) and state.steps[sid].status != "done"), len(order)
        )
        self._control_seq = state.last_seq
        self.record("run_resumed", by=by, pid=os.getpid(), from_step=order[start] if start < len(order) else None)
        if start < len(order):
            st = state.steps[order[start]]
            self._skip_batches[order[start]] = max(st.batches_done, default=0)
            self.failed_hosts[order[start]] = set(st.failed_hosts)
        last_done = start - 1
        try:
            if last_done >= 0:
                self.svc.task(f"reverify:{order[last_done]}", lambda: self._reverify(self.plan.steps[last_done]))
        except (StepFailed, Aborted) as exc:
            return self._fail(exc)
        return self._run(start)

    def prewarm(self) -> None:
        """Start the first Ansible step's play now, held before its first batch.

        Ansible takes about a second to start; begun before Prefect's start, the two overlap.
        Only when nothing but checks and notices comes first: a held play must not wait long.
        Nothing runs on a host until the step releases the play; an unused one is stopped.
        """
        for planned in self.plan.steps:
            step = self.runbook.step(planned.id)
            if isinstance(step, AnsibleStep):
                rolling = self._rolling(step, planned, list(planned.batches))
                if rolling is not None:
                    rolling.prestart()
                    self._prewarmed[planned.id] = rolling
                return
            if not isinstance(step, CheckStep | NotifyStep):
                return

    def settle(self) -> None:
        """Stop plays started early and never used; wait for plays ending by themselves."""
        while self._prewarmed:
            self._prewarmed.popitem()[1].close()
        while self._ending:
            self._ending.pop().close()

    def _run(self, start: int) -> int:
        try:
            for planned in self.plan.steps[start:]:
                self._check_abort()
                self._run_step(planned)
        except (StepFailed, Aborted) as exc:
            return self._fail(exc)
        except BaseException as exc:
            if isinstance(exc, self.svc.interrupts):
                return self._interrupted()
            raise
        self.record("run_finished", status="succeeded", exit_code=EXIT_OK)
        return EXIT_OK

    def _fail(self, exc: StepFailed | Aborted) -> int:
        if isinstance(exc, StepFailed):
            self.record("step_failed", step=exc.step, batch=exc.batch, reason=exc.reason)
            reason = f"{exc.step}: {exc.reason}"
        else:
            reason = exc.reason
            if not exc.rollback:
                self.record(
                    "run_finished",
                    status="refused" if exc.exit_code == EXIT_REFUSED else "aborted",
                    exit_code=exc.exit_code,
                    reason=reason,
                )
                return exc.exit_code
        ok = self.rollback(reason)
        code = exc.exit_code if isinstance(exc, Aborted) else EXIT_FAILED
        if not ok:
            code = EXIT_ROLLBACK_FAILED
        self.record("run_finished", status="rolled_back" if ok else "rollback_failed", exit_code=code, reason=reason)
        return code

    def _interrupted(self) -> int:
        try:
            do_rollback = self.svc.ask_rollback()
        except (KeyboardInterrupt, EOFError):
            do_rollback = False
        if do_rollback:
            ok = self.rollback("interrupted (Ctrl-C or SIGTERM)")
            self.record(
                "run_finished",
                status="rolled_back" if ok else "rollback_failed",
                exit_code=EXIT_INTERRUPTED,
                reason="interrupted",
            )
        else:
            self.record(
                "run_finished",
                status="interrupted",
                exit_code=EXIT_INTERRUPTED,
                reason=f"interrupted; `golive resume {self.run_id}` continues",
            )
        return EXIT_INTERRUPTED

    # ------------------------------------------------------------ steps

    def _context(self, planned: PlannedStep, **extra: Any) -> dict[str, Any]:
        return {
            "params": self.plan.params,
            "previous": self.plan.previous,
            "env": self.plan.env,
            "run": {"id": self.run_id, "initiator": self.initiator},
            "step": {"id": planned.id},
            "hosts": [self.svc.host_of(h) for h in planned.hosts],
            **extra,
        }

    def _run_step(self, planned: PlannedStep) -> None:
        step = self.runbook.step(planned.id)
        self.record("step_started", step=planned.id, index=planned.index, kind=planned.kind)
        handlers: dict[type, Callable[[StepBase, PlannedStep], None]] = {
            CheckStep: self._check_step,
            AnsibleStep: self._batched_step,
            SshStep: self._batched_step,
            ApprovalStep: self._approval_step,
            PauseStep: self._pause_step,
            NotifyStep: self._notify_step,
            K8sStep: self._k8s_step,
        }
        handler = handlers[type(step)]
        self.svc.task(planned.id, lambda: handler(step, planned))
        self.record("step_done", step=planned.id)

    def _gate(
        self, checks: list[Any], *, planned: PlannedStep, hosts: list[str], batch: int | None, context: dict[str, Any]
    ) -> None:
        if not checks:
            return

        def on_verdict(v: Verdict) -> None:
            self.record("check_result", step=planned.id, batch=batch, **v.as_dict())

        runner = self.svc.gates(self._stop_reason, on_verdict)
        outcome = runner.evaluate(
            checks,
            hosts=[self.svc.host_of(h) for h in hosts],
            host_of=self.svc.host_of,
            context=context,
            host_patterns=self.svc.match,
        )
        if outcome.outcome is Outcome.PASS:
            self.record(
                "gate_passed", step=planned.id, batch=batch, checks=len(checks), measurements=len(outcome.verdicts)
            )
            return
        if self._abort:
            raise Aborted(self._abort)
        self.record("gate_failed", step=planned.id, batch=batch, outcome=outcome.outcome.value, reason=outcome.reason)
        if outcome.outcome is Outcome.FAIL:
            raise StepFailed(planned.id, f"gate failed: {outcome.reason}", batch)
        self._wait_paused(f"gate inconclusive: {outcome.reason}", step=planned.id)

    def _check_step(self, step: StepBase, planned: PlannedStep) -> None:
        assert isinstance(step, CheckStep)
        self._gate(list(step.check), planned=planned, hosts=[], batch=None, context=self._context(planned))

    def _bake(
        self, step: StepBase, planned: PlannedStep, *, hosts: list[str], batch: int | None, context: dict[str, Any]
    ) -> None:
        if step.bake <= 0:
            return
        self.record("bake_started", step=planned.id, batch=batch, seconds=step.bake)
        analysis = [c for c in step.verify if is_analysis(c)]
        end = self.svc.clock() + step.bake
        how = "elapsed"
        while True:
            left = end - self.svc.clock()
            if left <= 0:
                break
            if analysis:
                self._gate(analysis, planned=planned, hosts=hosts, batch=batch, context=context)
                left = end - self.svc.clock()
            how = self.wait(min(left, 1.0) if analysis else left, promotable=True)
            if how == "promoted":
                promoted = self._take_controls("promote")
                self.record(
                    "bake_promoted", step=planned.id, batch=batch, by=promoted[-1].get("by") if promoted else None
                )
                break
        self.record("bake_done", step=planned.id, batch=batch, how=how)

    def _batched_step(self, step: StepBase, planned: PlannedStep) -> None:
        assert isinstance(step, AnsibleStep | SshStep)
        failed = self.failed_hosts.setdefault(planned.id, set())
        skip = self._skip_batches.pop(planned.id, 0)
        single = len(planned.batches) == 1
        todo = [b for b in planned.batches if b.index > skip]
        rolling = self._prewarmed.pop(planned.id, None) or self._rolling(step, planned, todo)
        try:
            for batch in todo:
                self._check_abort()
                run_batch = functools.partial(
                    self._run_batch, step, planned, batch.index, list(batch.hosts), failed, rolling
                )
                if single:
                    run_batch()  # the step's own task run is the batch
                else:
                    self.svc.task(f"{planned.id}[batch {batch.index}]", run_batch)
        finally:
            if rolling is not None:
                if rolling.ending():
                    self._ending.append(rolling)  # no task left: the run goes on while Ansible ends
                else:
                    rolling.close()  # a failed batch stops the play at its gate, before rollback starts

    def _rolling(self, step: StepBase, planned: PlannedStep, todo: list[Any]) -> Any:
        """One Ansible process for the step's batches, when the action is the same for every batch."""
        if not isinstance(step, AnsibleStep) or self.svc.ansible_rolling is None or len(todo) < 2:
            return None
        action = step.ansible
        renders = [
            (render(action.playbook, ctx), render_tree(action.vars, ctx))
            for ctx in (self._context(planned, batch={"index": b.index, "hosts": list(b.hosts)}) for b in todo[:2])
        ]
        if renders[0] != renders[1]:
            why = "its playbook or vars differ per batch"
            session = None
        else:
            session, why = self.svc.ansible_rolling(
                playbook=self.root / renders[0][0],
                batches=[(b.index, list(b.hosts)) for b in todo],
                extravars=renders[0][1],
                forks=action.forks,
                tags=action.tags,
            )
        log.info("ansible_batches", step=planned.id, one_process=session is not None, why_not=why or None)
        return session

    def _run_batch(
        self,
        step: AnsibleStep | SshStep,
        planned: PlannedStep,
        index: int,
        hosts: list[str],
        failed: set[str],
        rolling: Any = None,
    ) -> None:
        unit_batch = index if len(planned.batches) > 1 else None
        self.record("batch_started", step=planned.id, batch=index, hosts=hosts, unit_batch=unit_batch)
        unit = Unit(planned.id, unit_batch, tuple(hosts))
        self.units.append(unit)
        context = self._context(planned, batch={"index": index, "hosts": hosts})
        try:
            result = self._apply(step, index=index, hosts=hosts, context=context, rolling=rolling)
        except TransientError as exc:
            # Nobody answered, so nothing changed: count it like per-host unreachable results.
            result = ActionResult(
                results={h: HostResult(h, ok=False, unreachable=True, message=str(exc)) for h in hosts}
            )
        except DriverError as exc:
            raise StepFailed(planned.id, f"{type(exc).__name__}: {exc}", index) from exc
        self.record(
            "action_result",
            step=planned.id,
            batch=index,
            ok=result.ok,
            unit=unit.name,
            **({"artifacts": result.detail["artifact_dir"]} if result.detail.get("artifact_dir") else {}),
            hosts={
                h: {"ok": r.ok, "changed": r.changed, "unreachable": r.unreachable, "message": r.message}
                for h, r in result.results.items()
            },
        )
        # A host we never reached was not changed, so there is nothing on it to undo.
        unreached = {h for h, r in result.results.items() if r.unreachable}
        if unreached:
            self.units[-1] = Unit(unit.step, unit.batch, tuple(h for h in hosts if h not in unreached))
        failed |= set(result.failed_hosts)
        if len(failed) > planned.max_fail:
            raise StepFailed(
                planned.id, f"{len(failed)} host(s) failed, max_fail {planned.max_fail}: {result.summary()}", index
            )
        if result.failed_hosts:
            self.record(
                "hosts_tolerated",
                step=planned.id,
                batch=index,
                hosts=sorted(result.failed_hosts),
                max_fail=planned.max_fail,
            )
        healthy = [h for h in hosts if h not in failed]
        self._gate(list(step.verify), planned=planned, hosts=healthy, batch=index, context=context)
        self._bake(step, planned, hosts=healthy, batch=index, context=context)
        self.record("batch_done", step=planned.id, batch=index, hosts=hosts, failed_hosts=sorted(failed & set(hosts)))

    def _apply(
        self, step: AnsibleStep | SshStep, *, index: int, hosts: list[str], context: dict[str, Any], rolling: Any
    ) -> ActionResult:
        """The batch's action, retried on transient faults: in the step's one play, or on its own."""
        action: AnsibleAction | SshAction = step.ansible if isinstance(step, AnsibleStep) else step.ssh

        def attempt() -> ActionResult:
            if rolling is not None:
                result: ActionResult = rolling.run_batch(index, timeout=step.timeout)
                return result
            return self._do_action(action, hosts=hosts, context=context, timeout=step.timeout)

        return self._retrying(attempt, attempts=step.retries + 1)

    def _do_action(
        self, action: AnsibleAction | SshAction, *, hosts: list[str], context: dict[str, Any], timeout: float | None
    ) -> ActionResult:
        if isinstance(action, AnsibleAction):
            return self.svc.ansible(
                playbook=self.root / render(action.playbook, context),
                hosts=hosts,
                extravars=render_tree(action.vars, context),
                forks=action.forks,
                tags=action.tags,
                timeout=timeout,
            )
        per_host = {
            h: [render_shell(c, {**context, "host": self.svc.host_of(h)}) for c in action.commands] for h in hosts
        }
        return self.svc.ssh(commands=per_host, timeout=action.timeout, max_output=action.max_output)

    def _retrying(self, fn: Callable[[], T], *, attempts: int) -> T:
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.5, max=10),
            sleep=self.svc.sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except RetryError as exc:  # pragma: no cover - reraise=True hands back the last error
            raise exc.last_attempt.exception() or exc from None

    def _pause_step(self, step: StepBase, planned: PlannedStep) -> None:
        assert isinstance(step, PauseStep)
        if step.pause.duration is None:
            self._wait_paused(step.pause.reason or "pause step: waiting for `golive resume`", step=planned.id)
        else:
            self.wait(step.pause.duration, promotable=True)

    def _notify_step(self, step: StepBase, planned: PlannedStep) -> None:
        assert isinstance(step, NotifyStep)
        self.record("notified", step=planned.id, message=render(step.notify.message, self._context(planned)))

    def _k8s_step(self, step: StepBase, planned: PlannedStep) -> None:
        assert isinstance(step, K8sStep)
        if self.svc.k8s is None:
            raise StepFailed(planned.id, "no Kubernetes driver configured for this run")
        self.svc.k8s.apply(runner=self, step=step, planned=planned, context=self._context(planned))

    def _approval_step(self, step: StepBase, planned: PlannedStep) -> None:
        from golive.engine.approvals import await_approval

        assert isinstance(step, ApprovalStep)
        await_approval(self, step=step, planned=planned)

    def _reverify(self, planned: PlannedStep) -> None:
        step = self.runbook.step(planned.id)
        checks = list(step.check) if isinstance(step, CheckStep) else list(step.verify)
        hosts = [h for h in planned.hosts if h not in self.failed_hosts.get(planned.id, set())]
        self.record("reverify_started", step=planned.id, checks=len(checks))
        self._gate(checks, planned=planned, hosts=hosts, batch=None, context=self._context(planned))

    # ------------------------------------------------------------ rollback

    def rollback(self, reason: str) -> bool:
        """Undo every applied unit, newest first. False when something could not be restored."""
        units = list(reversed(self.units))
        self.record("rollback_started", reason=reason, units=[u.name for u in units])
        restored: list[str] = []
        for i, unit in enumerate(units):
            step = self.runbook.step(unit.step)
            if isinstance(step.rollback, NoRollback):
                self.record("compensation_skipped", unit=unit.name, why=step.rollback.none)
                continue
            if not unit.hosts and isinstance(step, AnsibleStep | SshStep):
                # Every host of the batch was unreachable: nothing on them changed, nothing to undo.
                self.record("compensation_skipped", unit=unit.name, why="no host of this unit was reached")
                continue
            if step.rollback is None and not isinstance(step, K8sStep):
                rest = [u.name for u in units[i:]]
                self.record("compensation_missing", unit=unit.name, step=unit.step)
                self.record(
                    "rollback_failed",
                    restored=restored,
                    not_restored=rest,
                    reason=f"step {unit.step} changed state and has no rollback",
                )
                return False
            self.record(
                "compensation_started", unit=unit.name, step=unit.step, batch=unit.batch, hosts=list(unit.hosts)
            )
            try:
                self.svc.task(unit.name, functools.partial(self._compensate, unit, step))
            except Exception as exc:
                rest = [u.name for u in units[i:]]
                self.record("rollback_failed", restored=restored, not_restored=rest, reason=f"{unit.name}: {exc}")
                return False
            restored.append(unit.name)
            self.record("compensation_done", unit=unit.name)
        self.units = []
        self.record("rollback_done", restored=restored)
        return True

    def _compensate(self, unit: Unit, step: StepBase) -> None:
        last: Exception | None = None
        for attempt in range(1, COMPENSATION_ATTEMPTS + 1):
            try:
                self._undo(unit, step)
                return
            except Exception as exc:
                last = exc
                self.record("compensation_failed", unit=unit.name, attempt=attempt, error=str(exc))
                if attempt < COMPENSATION_ATTEMPTS:
                    self.svc.sleep(min(2.0 ** (attempt - 1), 5.0))
        raise DriverError(f"{unit.name} failed {COMPENSATION_ATTEMPTS} times: {last}")

    def _undo(self, unit: Unit, step: StepBase) -> None:
        planned = self.plan.step(unit.step)
        context = self._context(planned, batch={"index": unit.batch, "hosts": list(unit.hosts)})
        rb = step.rollback
        if isinstance(step, K8sStep) and (rb is None or (isinstance(rb, RollbackAction) and rb.k8s)):
            self.svc.k8s.undo(runner=self, step=step, planned=planned, unit=unit)
            return
        assert isinstance(rb, RollbackAction)
        action = rb.ansible or rb.ssh
        assert action is not None
        pattern_hosts = self.svc.match(render(action.hosts, context))
        hosts = [h for h in pattern_hosts if h in unit.hosts] or pattern_hosts
        result = self._retrying(
            lambda: self._do_action(action, hosts=hosts, context=context, timeout=step.timeout), attempts=2
        )
        self.record(
            "action_result",
            step=unit.step,
            batch=unit.batch,
            rollback=True,
            ok=result.ok,
            hosts={h: {"ok": r.ok, "message": r.message} for h, r in result.results.items()},
        )
        if not result.ok:
            raise DriverError(result.summary())
