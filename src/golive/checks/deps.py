"""What probes need from outside, handed to them by the engine: checks import no driver.

The engine builds a ``ProbeDeps`` once per run from its drivers (a command runner over SSH,
the Kubernetes API clients per context) and the environment (the Prometheus URL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from kubernetes.client import AppsV1Api, CoreV1Api

__all__ = ["CommandResult", "KubeApis", "ProbeDeps", "RunCommand"]

T = TypeVar("T")


class CommandResult(Protocol):
    """What one command did on one host (the SSH driver's ``CommandOutput`` is one)."""

    @property
    def rc(self) -> int | None: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...
    @property
    def timed_out(self) -> bool: ...
    @property
    def error(self) -> str:
        """Why the command never ran (host unreachable, key refused); empty when it ran."""
        ...


class RunCommand(Protocol):
    """Run one command on an inventory host; connection problems come back as ``error``, not raised."""

    def __call__(self, *, host: str, command: str, timeout: float, max_output: int, attempts: int) -> CommandResult: ...


class KubeApis(Protocol):
    """The official client's APIs for one kube context (None: the environment's default cluster).

    Raises ``golive.errors.DriverError`` when no such cluster is configured. The Kubernetes
    driver is one.
    """

    def clients(self, context: str | None) -> tuple[AppsV1Api, CoreV1Api]: ...

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` retried while the fault is transient; a refusal raises
        ``golive.errors.DriverError`` (``NotFoundError`` for a 404)."""
        ...


@dataclass(frozen=True)
class ProbeDeps:
    # None: no inventory, so no host to run a command on.
    run_command: RunCommand | None = None
    # The environment's Prometheus; a check's own ``url:`` wins.
    prometheus_url: str | None = None
    # None: no Kubernetes cluster configured for this run.
    kube: KubeApis | None = None
