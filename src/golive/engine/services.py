"""The real Services: Ansible, SSH, health probes and Kubernetes, bound to one inventory."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import structlog

from golive.checks.base import Outcome, Verdict
from golive.drivers.base import ActionResult
from golive.engine.gates import GateRunner
from golive.engine.runner import Services
from golive.inventory import Inventory
from golive.runbook.models import CommandCheck, HttpCheck, K8sCheck, PrometheusCheck, TcpCheck
from golive.runbook.render import HostRef, render, render_shell

__all__ = ["attach_prefect", "build_services"]

log = structlog.get_logger(__name__)

PROMETHEUS_TIMEOUT_S = 5.0


def _probe_factory(inventory: Inventory | None, prometheus_url: str | None, k8s: Any) -> Callable[..., Any]:
    async def probe(check: Any, target: HostRef | None, ctx: dict[str, Any]) -> Verdict:
        host = target.name if target else None
        if isinstance(check, HttpCheck):
            from golive.checks.http import make_client, probe_http

            async with make_client() as client:
                return await probe_http(
                    url=render(check.http, ctx),
                    host=host,
                    method=check.method,
                    expect_status=check.expect.status,
                    body_regex=render(check.expect.body, ctx) if check.expect.body else None,
                    max_latency=check.expect.max_latency,
                    client=client,
                    timeout=check.timeout,
                )
        if isinstance(check, TcpCheck):
            from golive.checks.tcp import probe_tcp

            return await probe_tcp(address=render(check.tcp, ctx), host=host, timeout=check.timeout or 2.0)
        if isinstance(check, CommandCheck):
            from golive.checks.command import probe_command

            if inventory is None or host is None:
                raise ValueError("a command check needs hosts from an inventory")
            return await probe_command(
                connection=inventory.connection(host),
                command=render_shell(check.command, ctx),
                expect_rc=check.expect.rc,
                stdout_regex=check.expect.stdout,
                timeout=check.timeout or 30.0,
            )
        if isinstance(check, PrometheusCheck):
            from golive.checks.http import make_client
            from golive.checks.prometheus import probe_prometheus

            base = check.url or prometheus_url
            if not base:
                return Verdict(
                    Outcome.INCONCLUSIVE,
                    "prometheus",
                    check.prometheus,
                    observed="no Prometheus URL",
                    limit="golive_prometheus_url in the env or url: on the gate",
                )
            b = check.baseline
            async with make_client() as client:
                verdict = await probe_prometheus(
                    base_url=base,
                    query=render(check.prometheus, ctx),
                    max=check.max,
                    min=check.min,
                    baseline_query=render(b.query, ctx) if b else None,
                    max_ratio=b.max_ratio if b else None,
                    max_delta=b.max_delta if b else None,
                    client=client,
                    timeout=check.timeout or PROMETHEUS_TIMEOUT_S,
                )
            # A per-host query (one naming {{ host }}) reports which host it measured.
            return dataclasses.replace(verdict, host=host) if host else verdict
        if isinstance(check, K8sCheck):
            if k8s is None:
                return Verdict(
                    Outcome.INCONCLUSIVE,
                    "k8s",
                    check.k8s.deployment,
                    observed="no Kubernetes driver",
                    limit="golive_clusters in the env",
                )
            result: Verdict = await k8s.probe(check, ctx)
            return result
        raise TypeError(f"unknown check {type(check).__name__}")

    return probe


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
    from golive.drivers.ansible import rolling_playbook, run_playbook

    def need_inventory() -> Inventory:
        if inventory is None:
            raise ValueError("this step needs an environment: pass -e ENV")
        return inventory

    @cache
    def host_of(name: str) -> HostRef:
        inv = need_inventory()
        conn = inv.connection(name)
        return HostRef(name=name, address=conn.address)

    def ansible(
        *,
        playbook: Path,
        hosts: list[str],
        extravars: dict[str, Any],
        forks: int,
        timeout: float | None,
        tags: list[str] | None = None,
    ) -> ActionResult:
        return run_playbook(
            playbook=playbook,
            inventory=need_inventory().path,
            hosts=hosts,
            extravars=extravars,
            forks=forks,
            tags=tags,
            timeout=timeout,
            on_event=on_ansible_event,
            cancel=cancel,
            work_dir=work_dir,
        )

    def ansible_rolling(
        *,
        playbook: Path,
        batches: list[tuple[int, list[str]]],
        extravars: dict[str, Any],
        forks: int,
        tags: list[str] | None = None,
    ) -> tuple[Any, str]:
        inv = need_inventory()
        return rolling_playbook(
            playbook=playbook,
            inventory=inv.path,
            batches=batches,
            match=inv.match,
            extravars=extravars,
            forks=forks,
            tags=tags,
            on_event=on_ansible_event,
            cancel=cancel,
            work_dir=work_dir,
        )

    def ssh(*, commands: dict[str, list[str]], timeout: float, max_output: int) -> ActionResult:
        from golive.drivers.ssh import run_commands  # paramiko takes ~0.1 s to import; most runs have no ssh step

        inv = need_inventory()
        groups: dict[tuple[str, ...], list[str]] = {}
        for host, cmds in commands.items():
            groups.setdefault(tuple(cmds), []).append(host)
        merged = ActionResult()
        for cmd_key, hosts in groups.items():
            part = run_commands(
                connections=[inv.connection(h) for h in hosts],
                commands=list(cmd_key),
                timeout=timeout,
                max_output=max_output,
            )
            merged.results.update(part.results)
        return merged

    probe = _probe_factory(inventory, prometheus_url or (inventory.prometheus_url if inventory else None), k8s)

    def gates(should_stop: Callable[[], str | None], on_verdict: Callable[[Verdict], None]) -> GateRunner:
        return GateRunner(probe=probe, should_stop=should_stop, on_verdict=on_verdict)

    svc = Services(
        ansible=ansible,
        ssh=ssh,
        gates=gates,
        host_of=host_of,
        match=lambda p: need_inventory().match(p),
        k8s=k8s,
        approvers=lambda: inventory.approvers if inventory else None,
        ansible_rolling=ansible_rolling,
    )
    if task is not None:
        svc.task = task
    if ask_rollback is not None:
        svc.ask_rollback = ask_rollback
    return svc


def attach_prefect(svc: Services) -> None:
    """Approvals in the Prefect UI, and Prefect's cancellation as an interrupt (imports Prefect: ~1.5 s)."""
    from prefect.exceptions import TerminationSignal

    from golive.engine.prefect_pause import prefect_pause_factory

    svc.approval_ui = prefect_pause_factory
    svc.interrupts = (KeyboardInterrupt, TerminationSignal)
