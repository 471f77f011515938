"""Check models: one per check kind (http, tcp, command, prometheus, k8s), tagged by the key it carries."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from golive.runbook.limits import DEFAULT_TCP_TIMEOUT, command_limit, http_limit, k8s_limit, prometheus_limit, tcp_limit
from golive.runbook.modelbase import Model, kind_of
from golive.runbook.types import Duration

DEFAULT_MAX_LATENCY = 2.0
CHECK_KINDS = ("http", "tcp", "command", "prometheus", "k8s")


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

    @field_validator("http")
    @classmethod
    def _a_url(cls, value: str) -> str:
        # A template may produce the whole URL; a literal start must already be http(s)://.
        if not value.lstrip().startswith(("http://", "https://", "{{", "{%")):
            example = "http://{{ host }}:8080/health"
            raise ValueError(f"{value!r} is not an http:// or https:// URL; write e.g. {example}")
        return value

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


def _check_kind(value: Any) -> str | None:
    return kind_of(value, CHECK_KINDS)


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
