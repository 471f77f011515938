"""Run one Ansible playbook on a set of hosts through ansible-runner; report a result per host.

The driver applies; it never decides to undo.  Failures on some hosts come back as per-host
results so the engine can count them against a batch's ``max_fail``.  Exceptions are kept for
what no host result can express: a playbook that cannot run at all (``PermanentError``), or a
run where no host could even be connected to and a retry may help (``TransientError``).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from golive.drivers.base import ActionResult, HostResult
from golive.errors import PermanentError, TransientError

__all__ = ["EventHandler", "run_playbook"]

log = structlog.get_logger(__name__)

EventHandler = Callable[[dict[str, Any]], None]

# ssh appends a 17-character random suffix to the socket name while it creates it, and Ansible's
# own name is a 10-character hash; a Unix socket path has at most 107 usable bytes.
MAX_CONTROL_DIR = 78
# How often ansible-runner polls the cancel callback (its default is 5 s).
CANCEL_POLL_S = 0.5
MAX_OUTPUT = 4096
# Unreachable messages that mean "nobody answered yet", not "answered and refused us".
_TRANSIENT_UNREACHABLE = re.compile(
    r"connection refused|connection reset|kex_exchange_identification|connection closed by remote host",
    re.IGNORECASE,
)


def run_playbook(
    *,
    playbook: Path,
    inventory: Path,
    hosts: list[str],
    extravars: dict[str, Any],
    forks: int = 10,
    check: bool = False,
    timeout: float | None = None,
    on_event: EventHandler | None = None,
    cancel: threading.Event | None = None,
    work_dir: Path,
) -> ActionResult:
    """Run ``playbook`` limited to ``hosts``; every host in ``hosts`` gets a result.

    ``check`` runs Ansible's ``--check --diff``.  ``timeout`` ends the run (hosts without a final
    result then fail with "no result").  Setting ``cancel`` stops a run within about half a second.
    """
    playbook = Path(playbook).resolve()
    if not playbook.is_file():
        raise PermanentError(f"playbook {playbook} not found")
    if not hosts:
        # An empty --limit would mean every host in the inventory.
        return ActionResult(detail={"status": "skipped", "reason": "no hosts"})
    work_dir = Path(work_dir).resolve()
    private = work_dir / "ansible"
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    ident = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    collector = _Collector(on_event=on_event, cancel=cancel)
    env = _environment(work_dir=work_dir, playbook=playbook)
    log.info("ansible_run_started", playbook=str(playbook), hosts=len(hosts), check=check, forks=forks, ident=ident)
    started = time.monotonic()
    import ansible_runner  # slow to import; only runs need it

    runner = ansible_runner.run(
        private_data_dir=str(private),
        ident=ident,
        playbook=str(playbook),
        inventory=str(Path(inventory).resolve()),
        limit=",".join(hosts),
        extravars=dict(extravars),
        forks=forks,
        cmdline="--check --diff" if check else None,
        envvars=env,
        quiet=True,
        # Keep env/extravars out of files shared between runs in the same directory.
        suppress_env_files=True,
        settings={"pexpect_timeout": CANCEL_POLL_S, "suppress_ansible_output": True},
        timeout=max(1, math.ceil(timeout)) if timeout else None,
        event_handler=collector.handle,
        # Always give a callback: without one ansible-runner installs SIGINT/SIGTERM handlers.
        cancel_callback=collector.should_cancel,
    )
    duration = time.monotonic() - started
    if collector.handler_error is not None:
        raise collector.handler_error
    detail = {
        "status": runner.status,
        "rc": runner.rc,
        "ident": ident,
        "artifact_dir": str(private / "artifacts" / ident),
        "check": check,
        "duration": round(duration, 3),
        "stats": collector.stats,
    }
    log.info(
        "ansible_run_finished", playbook=str(playbook), status=runner.status, rc=runner.rc, duration=round(duration, 3)
    )
    if collector.stats is None and runner.status not in ("timeout", "canceled"):
        raise PermanentError(
            f"ansible-playbook could not run {playbook.name} (rc {runner.rc}): {collector.error_text() or 'no output'}"
        )
    result = ActionResult(results=collector.results(hosts, status=runner.status, timeout=timeout), detail=detail)
    if _all_transiently_unreachable(result, collector):
        raise TransientError(f"no host answered: {result.summary()}")
    return result


def _environment(*, work_dir: Path, playbook: Path) -> dict[str, str]:
    """Ansible settings for one run; everything it writes locally stays under ``work_dir``."""
    local_tmp = work_dir / "ansible-tmp"
    control_dir = _control_dir(work_dir)
    for d in (local_tmp, control_dir):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {
        # ansible-runner turns host key checking off unless told otherwise.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
        "ANSIBLE_LOCAL_TEMP": str(local_tmp),
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "True",
    }
    config = _project_config(playbook)
    if "ANSIBLE_CONFIG" not in os.environ and config is not None:
        # ansible-runner starts Ansible in its own project dir, where the repo's ansible.cfg is not found.
        env["ANSIBLE_CONFIG"] = str(config)
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if (Path(bindir) / "ansible-playbook").exists() and path.split(os.pathsep)[0] != bindir:
        env["PATH"] = os.pathsep.join([bindir, path]) if path else bindir
    return env


def _control_dir(work_dir: Path) -> Path:
    preferred = work_dir / "cp"
    if len(str(preferred)) <= MAX_CONTROL_DIR:
        return preferred
    short = Path(tempfile.gettempdir()) / f"golive-cp-{hashlib.sha1(str(work_dir).encode()).hexdigest()[:12]}"
    log.warning(
        "ansible_control_dir_moved",
        wanted=str(preferred),
        used=str(short),
        reason="path too long for an ssh control socket",
    )
    return short


def _project_config(playbook: Path) -> Path | None:
    """The ansible.cfg at the root of the project holding ``playbook`` (the dir with inventory/), if any."""
    for d in (playbook.parent, *playbook.parent.parents):
        if (d / "inventory").is_dir() or (d / "ansible.cfg").is_file():
            cfg = d / "ansible.cfg"
            return cfg if cfg.is_file() else None
    return None


def _all_transiently_unreachable(result: ActionResult, collector: _Collector) -> bool:
    if not result.results:
        return False
    for name, host in result.results.items():
        if not host.unreachable or host.changed or name in collector.touched:
            return False
        if not _TRANSIENT_UNREACHABLE.search(host.message):
            return False
    return True


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
class _HostTrace:
    changed: bool = False
    failure: str = ""
    failure_output: str = ""
    failure_rc: int | None = None
    unreachable: str = ""


@dataclass
class _Collector:
    """Turns ansible-runner events into per-host facts, compact events and log lines."""

    on_event: EventHandler | None
    cancel: threading.Event | None
    stats: dict[str, dict[str, int]] | None = None
    hosts: dict[str, _HostTrace] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    output: list[str] = field(default_factory=list)
    handler_error: BaseException | None = None

    def should_cancel(self) -> bool:
        return self.handler_error is not None or (self.cancel is not None and self.cancel.is_set())

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
        trace = self.hosts.setdefault(host, _HostTrace())
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
            trace = self.hosts.get(host, _HostTrace())
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
