"""The runbook as pydantic models: a tagged union of step kinds and of check kinds.

The kind of a step is the one kind key it carries (``ansible:``, ``check:``, ...); the
kind of a check is likewise its one kind key (``http:``, ``prometheus:``, ...).  Every
model forbids unknown keys so a typo is an error with a did-you-mean, not a silent no-op.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from golive.runbook.limits import DEFAULT_TCP_TIMEOUT, command_limit, http_limit, k8s_limit, prometheus_limit, tcp_limit
from golive.runbook.types import BatchSpec, Duration

__all__ = [
    "STEP_KINDS",
    "AnsibleAction",
    "ApprovalSpec",
    "Check",
    "K8sAction",
    "Runbook",
    "Step",
]

DEFAULT_MAX_LATENCY = 2.0
STEP_KINDS = ("check", "ansible", "ssh", "k8s", "approval", "pause", "notify")
CHECK_KINDS = ("http", "tcp", "command", "prometheus", "k8s")
STATEFUL_KINDS = ("ansible", "ssh", "k8s")
_STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


class Model(BaseModel):
    # Deferred: only the models a command validates against get a validator built (Runbook, which
    # holds every other one); building one per class cost ~45 ms of every ``golive`` start.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


# ---------------------------------------------------------------- checks


class Repeat(Model):
    """How often a check measures and how many failures it tolerates."""

    interval: Duration = 1.0
    # Wait before the first measurement, e.g. until a new canary pod has been scraped.
    initial_delay: Duration = 0.0
    count: int = Field(1, ge=1, le=100_000)
    failure_limit: int = Field(0, ge=0)
    consecutive_errors: int = Field(2, ge=0)
    timeout: Duration | None = None

    def limit_text(self) -> str:
        """What a measurement must show to pass, in the words of the plan and of every verdict."""
        raise NotImplementedError


class HttpExpect(Model):
    status: int | list[int] = 200
    body: str | None = None
    max_latency: Duration = DEFAULT_MAX_LATENCY


class HttpCheck(Repeat):
    kind: ClassVar[str] = "http"
    http: str
    hosts: str | None = None
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect: HttpExpect = HttpExpect()

    def limit_text(self) -> str:
        e = self.expect
        return http_limit(status=e.status, body=e.body, max_latency=e.max_latency)


class TcpCheck(Repeat):
    kind: ClassVar[str] = "tcp"
    tcp: str
    hosts: str | None = None

    def limit_text(self) -> str:
        return tcp_limit(timeout=self.timeout or DEFAULT_TCP_TIMEOUT)


class CommandExpect(Model):
    rc: int = 0
    stdout: str | None = None


class CommandCheck(Repeat):
    kind: ClassVar[str] = "command"
    command: str
    hosts: str | None = None
    expect: CommandExpect = CommandExpect()

    def limit_text(self) -> str:
        return command_limit(rc=self.expect.rc, stdout=self.expect.stdout)


class Baseline(Model):
    """Compare the canary's value with the stable side's: fail when worse by a factor or margin."""

    query: str
    max_ratio: float | None = Field(None, gt=0)
    max_delta: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_rule(self) -> Baseline:
        if self.max_ratio is None and self.max_delta is None:
            raise ValueError("baseline has no rule; set max_ratio, max_delta or both")
        return self


class PrometheusCheck(Repeat):
    kind: ClassVar[str] = "prometheus"
    prometheus: str
    url: str | None = None
    max: float | None = None
    min: float | None = None
    baseline: Baseline | None = None

    @model_validator(mode="after")
    def _has_limit(self) -> PrometheusCheck:
        if self.max is None and self.min is None and self.baseline is None:
            raise ValueError("prometheus gate has no limit; set max, min or baseline")
        return self

    def limit_text(self) -> str:
        b = self.baseline
        return prometheus_limit(
            max=self.max, min=self.min, max_ratio=b.max_ratio if b else None, max_delta=b.max_delta if b else None
        )


class K8sCheckSpec(Model):
    deployment: str
    namespace: str = "default"
    context: str | None = None
    available: bool = True
    max_restarts: int | None = Field(None, ge=0)


class K8sCheck(Repeat):
    kind: ClassVar[str] = "k8s"
    k8s: K8sCheckSpec

    def limit_text(self) -> str:
        return k8s_limit(available=self.k8s.available, max_restarts=self.k8s.max_restarts)


def _kind_of(value: Any, kinds: tuple[str, ...]) -> str | None:
    if isinstance(value, dict):
        found = [k for k in kinds if k in value]
        return found[0] if len(found) == 1 else None
    kind = getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None


def _check_kind(value: Any) -> str | None:
    return _kind_of(value, CHECK_KINDS)


Check = Annotated[
    Annotated[HttpCheck, Tag("http")]
    | Annotated[TcpCheck, Tag("tcp")]
    | Annotated[CommandCheck, Tag("command")]
    | Annotated[PrometheusCheck, Tag("prometheus")]
    | Annotated[K8sCheck, Tag("k8s")],
    Discriminator(
        _check_kind,
        custom_error_type="check_kind",
        custom_error_message="a check needs exactly one of: http, tcp, command, prometheus, k8s",
    ),
]

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
    return _kind_of(value, ("canary", "blue_green"))


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
    return _kind_of(value, STEP_KINDS)


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
    steps: list[Step] = Field(min_length=1)

    def step(self, step_id: str) -> StepBase:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)
