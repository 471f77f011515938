"""The runbook as pydantic models: a tagged union of step kinds and of check kinds.

The kind of a step is the one kind key it carries (``ansible:``, ``check:``, ...); the
kind of a check is likewise its one kind key (``http:``, ``prometheus:``, ...).  Every
model forbids unknown keys so a typo is an error with a did-you-mean, not a silent no-op.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from golive.runbook.checkmodels import (
    CHECK_KINDS,
    DEFAULT_MAX_LATENCY,
    Baseline,
    Check,
    CommandCheck,
    CommandExpect,
    HttpCheck,
    HttpExpect,
    K8sCheck,
    K8sCheckSpec,
    PrometheusCheck,
    Repeat,
    TcpCheck,
)
from golive.runbook.modelbase import Model, kind_of
from golive.runbook.types import BatchSpec, Duration

__all__ = [
    "CHECK_KINDS",
    "DEFAULT_MAX_LATENCY",
    "STEP_KINDS",
    "AnsibleAction",
    "ApprovalSpec",
    "Baseline",
    "Check",
    "CommandCheck",
    "CommandExpect",
    "Contact",
    "HttpCheck",
    "HttpExpect",
    "K8sAction",
    "K8sCheck",
    "K8sCheckSpec",
    "Model",
    "PrometheusCheck",
    "Repeat",
    "Risk",
    "Runbook",
    "Step",
    "TcpCheck",
]

STEP_KINDS = ("check", "ansible", "ssh", "k8s", "approval", "pause", "notify")
STATEFUL_KINDS = ("ansible", "ssh", "k8s")
_STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


# ---------------------------------------------------------------- actions


class AnsibleAction(Model):
    playbook: str
    hosts: str
    vars: dict[str, Any] = {}
    forks: int = Field(10, ge=1, le=500)
    tags: list[str] = []


class SshAction(Model):
    hosts: str
    command: str | list[str]
    timeout: Duration = 60.0
    max_output: int = Field(65536, ge=1024)
    # A read-only probe `golive run --check` runs on each host instead of the command.
    check_command: str | None = None

    @property
    def commands(self) -> list[str]:
        return [self.command] if isinstance(self.command, str) else list(self.command)


class Canary(Model):
    canary: list[int] = Field(min_length=1)

    @field_validator("canary")
    @classmethod
    def _percentages(cls, v: list[int]) -> list[int]:
        if any(p < 1 or p > 100 for p in v) or v != sorted(v) or len(set(v)) != len(v):
            raise ValueError(f"bad canary stages {v}; use rising percentages between 1 and 100, e.g. [10, 50, 100]")
        if v[-1] != 100:
            raise ValueError(f"canary stages {v} end below 100; end with 100 so the release completes")
        return v


class BlueGreenSpec(Model):
    service: str
    bake: Duration = 0.0


class BlueGreen(Model):
    blue_green: BlueGreenSpec


def _strategy_kind(value: Any) -> str | None:
    if value == "rolling":
        return "rolling"
    if isinstance(value, Canary | BlueGreen):
        return "canary" if isinstance(value, Canary) else "blue_green"
    return kind_of(value, ("canary", "blue_green"))


Strategy = Annotated[
    Annotated[Literal["rolling"], Tag("rolling")]
    | Annotated[Canary, Tag("canary")]
    | Annotated[BlueGreen, Tag("blue_green")],
    Discriminator(
        _strategy_kind,
        custom_error_type="strategy_kind",
        custom_error_message="strategy is rolling, {canary: [10, 50, 100]} or {blue_green: {service: NAME}}",
    ),
]


class K8sAction(Model):
    deployment: str | None = None
    namespace: str = "default"
    context: str | None = None
    image: str | dict[str, str] | None = None
    manifest: str | None = None
    replicas: int | None = Field(None, ge=0)
    service: str | None = None
    selector: dict[str, str] | None = None
    strategy: Strategy = "rolling"
    timeout: Duration = 300.0

    @model_validator(mode="after")
    def _one_operation(self) -> K8sAction:
        if self.manifest is None and self.deployment is None and self.service is None:
            raise ValueError("k8s step has nothing to act on; name a deployment, a manifest, or a service to switch")
        if self.deployment and self.image is None and self.replicas is None and self.manifest is None:
            raise ValueError("k8s step on a deployment changes nothing; set image or replicas")
        if self.selector is not None and not self.service:
            raise ValueError("selector without a service; name the service to switch with service:")
        return self


class ApprovalSpec(Model):
    approvers: int = Field(1, ge=1, le=10)
    exclude_initiator: bool | None = None
    timeout: Duration = 3600.0
    on_timeout: Literal["reject", "abort"] = "reject"
    message: str | None = None


class PauseSpec(Model):
    duration: Duration | None = None
    reason: str | None = None


class NotifySpec(Model):
    message: str
    channel: Literal["log", "journal"] = "log"
    # Channels of the env's golive_notify the message is sent to, beside the journal.
    to: list[str] = []


class NoRollback(Model):
    none: str = Field(min_length=3, description="why this step needs no undo")


class RollbackAction(Model):
    ansible: AnsibleAction | None = None
    ssh: SshAction | None = None
    k8s: Literal["restore"] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> RollbackAction:
        given = [k for k in ("ansible", "ssh", "k8s") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "rollback must be one action; use exactly one of ansible:, ssh:, k8s: restore, or none: <reason>"
            )
        return self


def _rollback_kind(value: Any) -> str:
    if isinstance(value, dict) and "none" in value:
        return "none"
    if isinstance(value, NoRollback):
        return "none"
    return "action"


Rollback = Annotated[
    Annotated[NoRollback, Tag("none")] | Annotated[RollbackAction, Tag("action")],
    Discriminator(_rollback_kind),
]


# ---------------------------------------------------------------- steps


class StepBase(Model):
    id: str
    owner: str | None = None
    timeout: Duration | None = None
    retries: int = Field(0, ge=0, le=10)
    verify: list[Check] = []
    bake: Duration = 0.0
    rollback: Rollback | None = None
    description: str | None = None

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("timeout must be longer than 0s (leave it out for the kind's own limit)")
        return v

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not _STEP_ID.match(v):
            raise ValueError(
                f"bad step id {v!r}; use lowercase letters, digits, '-', '_' or '.', starting with a "
                "letter or digit, at most 63 characters"
            )
        return v

    @property
    def kind(self) -> str:
        raise NotImplementedError

    @property
    def changes_state(self) -> bool:
        return self.kind in STATEFUL_KINDS


class Batched(StepBase):
    batches: BatchSpec | None = None
    max_fail: int | str = 0

    @field_validator("max_fail")
    @classmethod
    def _max_fail(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v >= 0:
            return v
        if isinstance(v, str) and v.endswith("%"):
            try:
                if 0 <= float(v[:-1]) <= 100:
                    return v
            except ValueError:
                pass
        raise ValueError(f"bad max_fail {v!r}; use a host count >= 0 or a share like 10%")


class CheckStep(StepBase):
    check: list[Check] = Field(min_length=1)

    @property
    def kind(self) -> str:
        return "check"


class AnsibleStep(Batched):
    ansible: AnsibleAction

    @property
    def kind(self) -> str:
        return "ansible"


class SshStep(Batched):
    ssh: SshAction

    @property
    def kind(self) -> str:
        return "ssh"


class K8sStep(StepBase):
    k8s: K8sAction

    @property
    def kind(self) -> str:
        return "k8s"


class ApprovalStep(StepBase):
    approval: ApprovalSpec

    @property
    def kind(self) -> str:
        return "approval"


class PauseStep(StepBase):
    pause: PauseSpec

    @field_validator("pause", mode="before")
    @classmethod
    def _short_form(cls, v: Any) -> Any:
        return {"duration": v} if isinstance(v, str | int | float) and not isinstance(v, bool) else v

    @property
    def kind(self) -> str:
        return "pause"


class NotifyStep(StepBase):
    notify: NotifySpec

    @field_validator("notify", mode="before")
    @classmethod
    def _short_form(cls, v: Any) -> Any:
        return {"message": v} if isinstance(v, str) else v

    @property
    def kind(self) -> str:
        return "notify"


def _step_kind(value: Any) -> str | None:
    if isinstance(value, StepBase):
        return value.kind
    return kind_of(value, STEP_KINDS)


Step = Annotated[
    Annotated[CheckStep, Tag("check")]
    | Annotated[AnsibleStep, Tag("ansible")]
    | Annotated[SshStep, Tag("ssh")]
    | Annotated[K8sStep, Tag("k8s")]
    | Annotated[ApprovalStep, Tag("approval")]
    | Annotated[PauseStep, Tag("pause")]
    | Annotated[NotifyStep, Tag("notify")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs exactly one of: check, ansible, ssh, k8s, approval, pause, notify",
    ),
]


class Window(Model):
    allow: list[str] = Field(min_length=1)
    tz: str = "UTC"


class SecretRef(Model):
    """Where a secret's value is read from when a run starts; its value is never written anywhere."""

    env: str | None = None  # an environment variable of golive's process
    file: str | None = None  # a file (relative to the project), its text without the final newline
    prefect_block: str | None = None  # a Prefect Secret block on the configured server

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        given = [k for k in ("env", "file", "prefect_block") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a secret is read from exactly one of env, file and prefect_block")
        return self


class SnapshotProbe(Model):
    """What a rehearsal captures on hosts before a drill and after its rollback, to prove the restore."""

    name: str | None = None
    command: str | None = None  # its stdout, per host (read-only!)
    http: str | None = None  # the body of a GET, per host ("{{ host }}" is the host's address)
    file: str | None = None  # the sha256 of a file, per host
    hosts: str

    @model_validator(mode="after")
    def _one_source(self) -> SnapshotProbe:
        given = [k for k in ("command", "http", "file") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a snapshot probe reads exactly one of command, http and file")
        return self

    @property
    def source(self) -> str:
        return "command" if self.command else "http" if self.http else "file"

    @property
    def label(self) -> str:
        return self.name or str(self.command or self.http or self.file)


class Watch(Model):
    """After the last step, keep measuring: a failing check rolls the whole run back (or pauses it)."""

    duration: Duration = Field(alias="for")
    checks: list[Check] = Field(min_length=1)
    on_fail: Literal["rollback", "pause"] = "rollback"

    @field_validator("duration")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("a watch lasts longer than 0s, e.g. for: 30m")
        return v


class Contact(Model):
    """Who to call when the go-live goes wrong: the escalation list of the go-live document."""

    role: str = Field(min_length=1)
    name: str = Field(min_length=1)
    phone: str | None = None
    chat: str | None = None
    email: str | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not (self.phone or self.chat or self.email):
            raise ValueError(f"contact {self.name!r} cannot be reached; give at least one of phone:, chat:, email:")
        return self


Level = Literal["low", "medium", "high"]


class Risk(Model):
    """One line of the risk register: what may go wrong, how likely, how bad, what is done about it."""

    risk: str = Field(min_length=1)
    likelihood: Level
    impact: Level
    mitigation: str = Field(min_length=1)
    owner: str = Field(min_length=1)


class Runbook(Model):
    name: str = Field(min_length=1)
    description: str | None = None
    owner: str | None = None
    params: dict[str, Any] = {}
    # What was live before this release, for rollbacks: ``{{ previous.version }}``.
    # The journal of the last successful run in the env overrides these defaults.
    previous: dict[str, Any] = {}
    window: Window | None = None
    envs: list[str] | None = None
    # For the go-live document (golive doc): escalation, risk register, what must be true first.
    contacts: list[Contact] = []
    risks: list[Risk] = []
    prerequisites: list[str] = []
    steps: list[Step] = Field(min_length=1)
    # After go-live: checks that keep measuring; the run succeeds only when the watch ends well.
    watch: Watch | None = None
    # What golive rehearse captures on hosts before a drill and after its rollback (Kubernetes
    # objects the k8s steps name are captured without being listed here).
    snapshot: list[SnapshotProbe] = []
    # Values templates read as {{ secrets.NAME }}, redacted as *** in everything golive writes.
    secrets: dict[str, SecretRef] = {}

    def step(self, step_id: str) -> StepBase:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)
