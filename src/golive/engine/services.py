"""The real Services: Ansible, SSH, health probes and Kubernetes, bound to one inventory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import structlog

from golive.checks.base import Verdict
from golive.checks.deps import CommandResult, KubeApis, ProbeDeps, RunCommand
from golive.engine.gates import GateRunner, Probe
from golive.engine.runner import Services
from golive.inventory import Connection, Inventory
from golive.runbook.render import HostRef

__all__ = ["attach_prefect", "build_services", "command_runner", "probe_for"]

log = structlog.get_logger(__name__)


def command_runner(connection_of: Callable[[str], Connection]) -> RunCommand:
    """Command checks' commands, run over SSH on the inventory's hosts."""

    def run(*, host: str, command: str, timeout: float, max_output: int, attempts: int) -> CommandResult:
        from golive.drivers.ssh import run_command  # paramiko takes ~0.1 s to import; most runs have no command check

        return run_command(connection_of(host), command, timeout=timeout, max_output=max_output, attempts=attempts)

    return run


def probe_for(inventory: Inventory) -> Probe:
    """The real probes of an env (checks only read): for golive run --check."""
    k8s = None
    if inventory.clusters:
        from golive.drivers.k8s import K8sDriver

        k8s = K8sDriver(inventory=inventory)
    return _probe_factory(inventory, inventory.prometheus_url, k8s)


def _probe_factory(inventory: Inventory | None, prometheus_url: str | None, k8s: KubeApis | None) -> Probe:
    from golive.checks.registry import probe_check  # the probes import httpx; plans and dry runs need none

    deps = ProbeDeps(
        run_command=command_runner(inventory.connection) if inventory is not None else None,
        prometheus_url=prometheus_url,
        kube=k8s,
    )

    async def probe(check: Any, target: HostRef | None, ctx: dict[str, Any]) -> Verdict:
        return await probe_check(check, target, ctx, deps)

    return probe


class Drivers(dict[str, Any]):
    """The run's drivers by name, each made the first time a step asks for it."""

    def __init__(self, make: Callable[[str], Any]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, name: str) -> Any:
        driver = self[name] = self._make(name)
        return driver


def build_services(
    *,
    inventory: Inventory | None,
    work_dir: Path,
    prometheus_url: str | None = None,
    task: Callable[[str, Callable[[], Any]], Any] | None = None,
    cancel: threading.Event | None = None,
    on_ansible_event: Callable[[dict[str, Any]], None] | None = None,
    k8s: Any = None,
    ask_rollback: Callable[[], bool] | None = None,
) -> Services:
    def need_inventory() -> Inventory:
        if inventory is None:
            raise ValueError("this step needs an environment: pass -e ENV")
        return inventory

    @cache
    def host_of(name: str) -> HostRef:
        inv = need_inventory()
        conn = inv.connection(name)
        return HostRef(name=name, address=conn.address)

    def make_driver(name: str) -> Any:
        # Built when a step first asks: paramiko and the Ansible driver cost time to import.
        if name == "ansible":
            from golive.drivers.ansible import AnsibleDriver

            return AnsibleDriver(
                inventory=need_inventory().path, work_dir=work_dir, on_event=on_ansible_event, cancel=cancel
            )
        if name == "ssh":
            from golive.drivers.ssh import SshDriver

            return SshDriver(need_inventory().connection)
        if name == "k8s" and k8s is not None:
            return k8s
        raise KeyError(name)

    probe = _probe_factory(inventory, prometheus_url or (inventory.prometheus_url if inventory else None), k8s)

    def gates(should_stop: Callable[[], str | None], on_verdict: Callable[[Verdict], None]) -> GateRunner:
        return GateRunner(probe=probe, should_stop=should_stop, on_verdict=on_verdict)

    svc = Services(
        drivers=Drivers(make_driver),
        gates=gates,
        host_of=host_of,
        match=lambda p: need_inventory().match(p),
        approvers=lambda: inventory.approvers if inventory else None,
        signers=lambda: _signers(inventory),
    )
    if task is not None:
        svc.task = task
    if ask_rollback is not None:
        svc.ask_rollback = ask_rollback
    return svc


def _signers(inventory: Inventory | None) -> Path | None:
    """The allowed_signers file where signed approvals are required (validate made sure it exists)."""
    if inventory is None or not inventory.require_signed_approvals:
        return None
    return inventory.allowed_signers or Path("allowed_signers (golive_allowed_signers is not set)")


def attach_prefect(svc: Services) -> None:
    """Approvals in the Prefect UI, and Prefect's cancellation as an interrupt (imports Prefect: ~1.5 s)."""
    from prefect.exceptions import TerminationSignal

    from golive.engine.prefect_pause import prefect_pause_factory

    svc.approval_ui = prefect_pause_factory
    svc.interrupts = (KeyboardInterrupt, TerminationSignal)
