"""ansible-runner events turned into per-host facts, compact events for the journal, and log lines."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from golive.drivers.base import HostResult

__all__ = ["GATE_TASK", "Collector", "EventHandler", "HostTrace"]

log = structlog.get_logger(__name__)

EventHandler = Callable[[dict[str, Any]], None]

MAX_OUTPUT = 4096
# The name of the task golive appends to a rolling play: its events are golive's, not a change on a host.
GATE_TASK = "golive: batch gate"


def _clip(text: str, limit: int = MAX_OUTPUT) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[... {len(text) - limit} more characters]"


def _failure_message(res: Mapping[str, Any]) -> str:
    msg = str(res.get("msg") or "").strip()
    stderr = str(res.get("stderr") or res.get("module_stderr") or "").strip()
    if stderr and (not msg or msg in ("non-zero return code", "MODULE FAILURE")):
        last = stderr.splitlines()[-1]
        return f"{msg}: {last}" if msg else last
    return msg or "failed"


@dataclass
class HostTrace:
    changed: bool = False
    failure: str = ""
    failure_output: str = ""
    failure_rc: int | None = None
    unreachable: str = ""


@dataclass
class Collector:
    """Turns ansible-runner events into per-host facts, compact events and log lines."""

    on_event: EventHandler | None
    cancel: threading.Event | None
    stats: dict[str, dict[str, int]] | None = None
    hosts: dict[str, HostTrace] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    output: list[str] = field(default_factory=list)
    handler_error: BaseException | None = None
    abort: threading.Event = field(default_factory=threading.Event)

    def should_cancel(self) -> bool:
        return (
            self.handler_error is not None or self.abort.is_set() or (self.cancel is not None and self.cancel.is_set())
        )

    def handle(self, event: dict[str, Any]) -> bool:
        try:
            self._handle(event)
        except Exception as exc:  # a consumer failing (say the journal) must stop the run, not hang it
            log.error("ansible_event_handler_failed", error=str(exc))
            if self.handler_error is None:
                self.handler_error = exc
        return True  # keep the event in the artifacts

    def _handle(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event", ""))
        data: dict[str, Any] = event.get("event_data") or {}
        stdout = event.get("stdout")
        if stdout and len(self.output) < 200:
            self.output.append(str(stdout))
        host = data.get("host")
        task = str(data.get("task") or "")
        if task.startswith(GATE_TASK):
            return  # golive's own hold between batches: not a change on any host
        if kind == "playbook_on_stats":
            self.stats = {
                k: dict(data.get(k) or {})
                for k in ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored", "processed")
            }
            self._emit({"event": "stats", "stats": self.stats})
        elif kind == "playbook_on_play_start":
            log.info("ansible_play_started", play=data.get("name") or data.get("play"))
            self._emit({"event": "play_start", "play": data.get("name") or data.get("play")})
        elif kind == "playbook_on_task_start":
            log.debug("ansible_task_started", task=task)
            self._emit({"event": "task_start", "task": task})
        elif kind in ("runner_on_ok", "runner_on_skipped", "runner_on_failed", "runner_on_unreachable") and host:
            self._host_event(kind, str(host), task, data)

    def _host_event(self, kind: str, host: str, task: str, data: dict[str, Any]) -> None:
        trace = self.hosts.setdefault(host, HostTrace())
        res: dict[str, Any] = data.get("res") or {}
        changed = bool(res.get("changed"))
        if changed:
            trace.changed = True
        if kind in ("runner_on_ok", "runner_on_failed"):
            self.touched.add(host)
        if kind == "runner_on_unreachable":
            msg = str(res.get("msg") or "unreachable").strip()
            trace.unreachable = msg
            log.warning("ansible_host_unreachable", host=host, task=task, msg=msg)
            self._emit(
                {
                    "event": "unreachable",
                    "host": host,
                    "task": task,
                    "ok": False,
                    "failed": True,
                    "changed": False,
                    "msg": msg,
                }
            )
            return
        failed = kind == "runner_on_failed" and not data.get("ignore_errors")
        if failed:
            trace.failure = f"task {task!r}: {_failure_message(res)}"
            trace.failure_output = _clip(
                "\n".join(str(res[k]).strip() for k in ("stdout", "stderr", "module_stderr") if res.get(k))
            )
            rc = res.get("rc")
            trace.failure_rc = rc if isinstance(rc, int) else None
            log.warning("ansible_task_failed", host=host, task=task, msg=trace.failure)
        else:
            log.info("ansible_task_done", host=host, task=task, changed=changed, skipped=kind == "runner_on_skipped")
        self._emit(
            {
                "event": "skipped" if kind == "runner_on_skipped" else ("failed" if failed else "ok"),
                "host": host,
                "task": task,
                "ok": not failed,
                "failed": failed,
                "changed": changed,
                **({"msg": trace.failure} if failed else {}),
            }
        )

    def _emit(self, compact: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(compact)

    def error_text(self) -> str:
        """Ansible's own words when it stopped before running any play."""
        text = "\n".join(self.output).strip()
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        errors = [i for i, ln in enumerate(lines) if "ERROR" in ln]
        picked = lines[errors[0] : errors[0] + 8] if errors else lines[-8:]
        return _clip(" ".join(picked), 1000)

    def batch_results(self, hosts: list[str], active: set[str]) -> dict[str, HostResult]:
        """Results of a batch that reached golive's gate: ``active`` are the hosts still in play."""
        out: dict[str, HostResult] = {}
        for host in hosts:
            trace = self.hosts.get(host, HostTrace())
            if host in active:
                out[host] = HostResult(host=host, ok=True, changed=trace.changed)
                continue
            out[host] = HostResult(
                host=host,
                ok=False,
                changed=trace.changed,
                unreachable=bool(trace.unreachable) and not trace.failure,
                message=(trace.failure or trace.unreachable or "left the play without a result"),
                output=trace.failure_output,
                rc=trace.failure_rc,
            )
        return out

    def results(self, hosts: list[str], *, status: str, timeout: float | None) -> dict[str, HostResult]:
        stats = self.stats or {}
        seen = set().union(
            *(stats.get(k, {}).keys() for k in ("ok", "failures", "dark", "skipped", "processed", "rescued", "ignored"))
        )
        if status == "timeout":
            interrupted = f"no result: timed out after {timeout:g}s" if timeout else "no result: timed out"
        elif status == "canceled":
            interrupted = "no result: canceled"
        else:
            interrupted = ""
        out: dict[str, HostResult] = {}
        for host in hosts:
            trace = self.hosts.get(host, HostTrace())
            changed = trace.changed or stats.get("changed", {}).get(host, 0) > 0
            dark = bool(stats.get("dark", {}).get(host))
            failed = bool(stats.get("failures", {}).get(host))
            if host in seen and not dark and not failed:
                out[host] = HostResult(host=host, ok=True, changed=changed)
                continue
            why = trace.unreachable if dark or (trace.unreachable and not failed) else trace.failure
            if interrupted:
                # A task killed by the timeout or cancel fails too; the interruption is the real cause.
                message = f"{interrupted} ({why})" if why else interrupted
            elif dark or failed:
                message = why or ("unreachable" if dark else "failed")
            else:
                message = f"no result ({why})" if why else "no result"
            out[host] = HostResult(
                host=host,
                ok=False,
                changed=changed,
                unreachable=dark or (bool(trace.unreachable) and not failed),
                message=message,
                output=trace.failure_output if failed else "",
                rc=trace.failure_rc if failed else None,
            )
        return out
