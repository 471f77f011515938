"""What a step kind is: one class per kind says what the plan, validation, the runner and undo need.

A kind never imports the engine. While a step runs, the engine hands the kind a
``StepRun`` (its side of the contract): journaling, undo records, templates, and
``stages`` — the one engine code path that applies grey stages (host batches, canary
stages, blue-green switches) and gates, bakes, pauses, promotes and aborts between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from golive.drivers.base import ActionResult, UndoRecord
from golive.errors import Issue
from golive.runbook.models import CommandCheck, NoRollback, RollbackAction, StepBase

if TYPE_CHECKING:
    from golive.inventory import Inventory
    from golive.plan import PlannedStep
    from golive.runbook.load import LoadedRunbook

__all__ = ["Kind", "RollbackInfo", "Stage", "StepRun", "StepUnit"]


@dataclass(frozen=True)
class RollbackInfo:
    kind: str  # ansible | ssh | k8s-restore | none | missing | nothing-to-undo
    detail: str = ""


@dataclass(frozen=True)
class StepUnit:
    """A piece of applied work that rollback may have to undo (a batch, or a whole step)."""

    step: str
    batch: int | None
    hosts: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"rollback:{self.step}" + (f"[batch {self.batch}]" if self.batch is not None else "")


@dataclass
class Stage:
    """One grey stage of a step: the engine applies it, then gates and bakes it.

    ``apply`` changes the world and returns per-host results (None when it has none, as for
    cluster objects). ``batch`` is the stage's number when the step's stages are host
    batches (a unit of undo each); ``label`` is how the journal and the board name it.
    """

    index: int
    label: str
    apply: Callable[[], ActionResult | None]
    hosts: list[str] = field(default_factory=list)
    batch: int | None = None
    gate: bool = True
    bake: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


class StepRun(Protocol):
    """The engine's side while one step runs (implemented in golive.engine)."""

    @property
    def root(self) -> Path: ...

    @property
    def step_id(self) -> str: ...

    @property
    def planned(self) -> PlannedStep:
        """The step as planned: hosts, batches, gates, approval."""
        ...

    def context(self, **extra: Any) -> dict[str, Any]:
        """The template context of this step (params, previous, env, run, step, hosts, ...)."""
        ...

    def record(self, event: str, **fields: Any) -> None:
        """Journal an event of this step."""
        ...

    def save(self, record: UndoRecord) -> None:
        """Journal what undo will need, before the change it describes is made."""
        ...

    def saved(self) -> list[UndoRecord]:
        """Every undo record this step journaled, oldest first (also those of a dead process)."""
        ...

    def stages(self, stages: Iterable[Stage]) -> None:
        """Apply each stage in turn and gate, bake and honour controls between them."""
        ...

    def gate(self, checks: list[Any], *, hosts: list[str], batch: int | None) -> None:
        """Measure ``checks`` now; raises to fail the step or pauses when inconclusive."""
        ...

    def wait(self, seconds: float, *, promotable: bool = False) -> str:
        """Wait, honouring controls; 'elapsed' or 'promoted'."""
        ...

    def pause(self, reason: str) -> None:
        """Wait for a human's resume (or abort)."""
        ...

    def driver(self, name: str) -> Any:
        """The driver by name: ansible, ssh, k8s."""
        ...

    def match(self, pattern: str) -> list[str]:
        """The inventory's hosts matching ``pattern``."""
        ...

    def host(self, name: str) -> Any:
        """A host as templates see it (name, address)."""
        ...

    def await_approval(self, message: str | None) -> None:
        """Wait for the approvals the plan asks of this step; raises when rejected or timed out."""
        ...

    def batches_done(self) -> int:
        """The last host batch a dead process finished (a resumed step goes on after it), else 0."""
        ...

    @property
    def resources(self) -> dict[str, Any]:
        """What a kind keeps beyond one call (a play started early); closed when the run ends."""
        ...

    def ending(self, resource: Any) -> None:
        """A resource that ends by itself (a play past its last batch): waited for before exit."""
        ...

    def fail(self, reason: str) -> Exception:
        """The exception that fails this step with ``reason`` (raise it)."""
        ...


class Kind:
    """Defaults for a kind; each kind module subclasses it and says only what differs."""

    name: ClassVar[str]
    model: ClassVar[type[StepBase]]
    # True when undo needs no rollback: in the runbook (the kind saves what it changes).
    undoes_itself: ClassVar[bool] = False
    # True when a step of this kind runs once per host batch.
    batched: ClassVar[bool] = False
    # True when the step's work goes through engine stages, which honour the step's verify
    # (gate), bake, retries and timeout; validate refuses those keys on any other kind.
    staged: ClassVar[bool] = False

    # -------------------------------------------------------------- plan

    def hosts_pattern(self, step: StepBase) -> str | None:
        """The inventory pattern of the hosts the step changes."""
        return None

    def action(self, step: StepBase) -> dict[str, Any]:
        """What the plan shows as the step's action."""
        return {}

    def files(self, step: StepBase) -> list[tuple[tuple[str | int, ...], str]]:
        """Files the step reads, as (path in the step, file relative to the project root)."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        if isinstance(step.rollback, RollbackAction) and step.rollback.ansible:
            out.append((("rollback", "ansible", "playbook"), step.rollback.ansible.playbook))
        return out

    def commands(self, step: StepBase) -> list[str]:
        """Shell commands the step runs, as written: project files they name are inputs of the plan."""
        out = [c.command for c in step.verify if isinstance(c, CommandCheck)]
        if isinstance(step.rollback, RollbackAction) and step.rollback.ssh:
            out += step.rollback.ssh.commands
        return out

    def rollback_info(self, step: StepBase) -> RollbackInfo:
        rb = step.rollback
        if isinstance(rb, NoRollback):
            return RollbackInfo(kind="none", detail=rb.none)
        if isinstance(rb, RollbackAction):
            if rb.ansible:
                return RollbackInfo(kind="ansible", detail=f"{rb.ansible.playbook} on {rb.ansible.hosts}")
            if rb.ssh:
                return RollbackInfo(kind="ssh", detail=f"{'; '.join(rb.ssh.commands)} on {rb.ssh.hosts}")
            return RollbackInfo(kind="k8s-restore", detail="restore the saved spec")
        if self.undoes_itself:
            return RollbackInfo(kind="k8s-restore", detail="restore the spec saved before the step")
        if step.changes_state:
            return RollbackInfo(kind="missing", detail="no rollback defined")
        return RollbackInfo(kind="nothing-to-undo")

    def missing_rollback(self, step: StepBase) -> bool:
        """True when the step changes state and nothing says how to undo it."""
        return step.changes_state and step.rollback is None and not self.undoes_itself

    def estimate(self, step: StepBase, *, batch_hosts: list[int], verify_s: float, history_s: float | None) -> float:
        return verify_s

    def stage_count(self, step: StepBase) -> int:
        """How many grey stages the step goes through (for the plan)."""
        return 1

    # -------------------------------------------------------------- validation

    def validate_env(self, loaded: LoadedRunbook, index: int, step: StepBase, inv: Inventory) -> list[Issue]:
        """Problems of this step in this environment (beyond host patterns and files)."""
        return []

    # -------------------------------------------------------------- run and undo

    def prewarm(self, step: StepBase, run: StepRun) -> None:
        """Start, held, what is slow to start, so it overlaps the flow's own start (optional)."""
        return None

    def run(self, step: StepBase, run: StepRun) -> None:
        raise NotImplementedError

    def undo(self, step: StepBase, unit: StepUnit, run: StepRun) -> ActionResult | None:
        """Undo one unit of this step; None when there was nothing to run."""
        raise NotImplementedError
