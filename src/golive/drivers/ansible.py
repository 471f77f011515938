"""Run one Ansible playbook on a set of hosts through ansible-runner; report a result per host.

The driver applies; it never decides to undo.  Failures on some hosts come back as per-host
results so the engine can count them against a batch's ``max_fail``.  Exceptions are kept for
what no host result can express: a playbook that cannot run at all (``PermanentError``), or a
run where no host could even be connected to and a retry may help (``TransientError``).
"""

from __future__ import annotations

import configparser
import hashlib
import json
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
import yaml

from golive.drivers.base import ActionResult, HostResult
from golive.errors import PermanentError, TransientError

__all__ = ["EventHandler", "RollingPlaybook", "rolling_playbook", "run_playbook"]

log = structlog.get_logger(__name__)

EventHandler = Callable[[dict[str, Any]], None]

# ssh appends a 17-character random suffix to the socket name while it creates it, and Ansible's
# own name is a 10-character hash; a Unix socket path has at most 107 usable bytes.
MAX_CONTROL_DIR = 78
# How often ansible-runner polls the cancel callback (its default is 5 s).
CANCEL_POLL_S = 0.5
MAX_OUTPUT = 4096
# The task golive appends to a rolling play; and how long it may hold a play at most.
GATE_TASK = "golive: batch gate"
GATE_TIMEOUT_S = 86400.0
GATE_POLL_S = 0.02
# How long a play told to stop may take to end before it is cancelled; how long a gate may
# take to say it stopped the play.
PROCESS_END_S = 30.0
STOP_ACK_S = 5.0
# Ansible's own default for action_plugins.
DEFAULT_ACTION_PLUGINS = "~/.ansible/plugins/action:/usr/share/ansible/plugins/action"
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
    tags: list[str] | None = None,
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
    ident = _new_ident()
    collector = _Collector(on_event=on_event, cancel=cancel)
    log.info("ansible_run_started", playbook=str(playbook), hosts=len(hosts), check=check, forks=forks, ident=ident)
    started = time.monotonic()
    import ansible_runner  # slow to import; only runs need it

    runner = ansible_runner.run(
        **_runner_args(
            playbook=playbook,
            inventory=inventory,
            hosts=hosts,
            extravars=extravars,
            forks=forks,
            tags=tags,
            work_dir=work_dir,
            ident=ident,
            collector=collector,
        ),
        cmdline="--check --diff" if check else None,
        timeout=max(1, math.ceil(timeout)) if timeout else None,
    )
    return _finish(
        runner=runner,
        collector=collector,
        playbook=playbook,
        hosts=hosts,
        timeout=timeout,
        detail={"ident": ident, "check": check, "duration": round(time.monotonic() - started, 3)},
    )


class RollingPlaybook:
    """A batched step as one ``ansible-playbook`` process: ``serial`` batches held at a gate.

    Starting Ansible costs about a second of CPU, so a step of five batches run as five
    processes is markedly slower than one ``ansible-playbook`` with ``serial``.  Here the play
    gets golive's batch sizes as ``serial`` and, after its tasks and handlers, a ``golive_gate``
    task that holds the play until the engine has verified (and baked) the batch.  Per-batch
    results, timeouts, retries and max_fail stay the engine's, exactly as with a process per
    batch.  A batch that ends the play (all its hosts failed) or a retry starts a new process
    for the batches left.  Build one with :func:`rolling_playbook`, which says why not when the
    playbook cannot be run this way.
    """

    def __init__(
        self,
        *,
        playbook: Path,
        plays: list[dict[str, Any]],
        inventory: Path,
        batches: list[tuple[int, list[str]]],
        extravars: dict[str, Any],
        forks: int,
        tags: list[str] | None,
        on_event: EventHandler | None,
        cancel: threading.Event | None,
        work_dir: Path,
    ) -> None:
        self.playbook = playbook
        self.plays = plays
        self.inventory = inventory
        self.batches = dict(batches)
        self.extravars = extravars
        self.forks = forks
        self.tags = tags
        self.on_event = on_event
        self.cancel = cancel
        self.work_dir = Path(work_dir).resolve()
        self._proc: _GatedProcess | None = None

    def prestart(self) -> None:
        """Start the play now, held before its first batch, so Ansible's start overlaps golive's."""
        if self._proc is None:
            self._proc = self._start(min(self.batches), held=True)

    def run_batch(self, index: int, *, timeout: float | None = None) -> ActionResult:
        """Let batch ``index`` run; its result once it reached the gate or the play ended."""
        hosts = self.batches[index]
        proc = self._proc
        if proc is None or not (proc.alive() and proc.release(index - 1)):
            if proc is not None:
                proc.stop()
            proc = self._proc = self._start(index)
        return proc.wait_batch(index, hosts, timeout=timeout)

    def ending(self) -> bool:
        """The play has run its last batch to the gate: no task is left, it ends by itself."""
        return self._proc is not None and self._proc.past_last_batch()

    def close(self) -> None:
        """Stop the play where it is (at a gate: before the next batch) and wait for it to end."""
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def _start(self, first: int, *, held: bool = False) -> _GatedProcess:
        order = [i for i in sorted(self.batches) if i >= first]
        sizes = [len(self.batches[i]) for i in order]
        ident = _new_ident()
        gate_dir = self.work_dir / "ansible" / "gates" / ident
        gate_dir.mkdir(parents=True, mode=0o700)
        _remove_stale_copies(self.playbook)
        copy = self.playbook.parent / f".golive-{os.getpid()}-{ident}-{self.playbook.name}"
        copy.write_text(yaml.safe_dump(_gated_plays(self.plays, sizes, gate_dir, held=held), sort_keys=False))
        collector = _Collector(on_event=self.on_event, cancel=self.cancel)
        hosts = [h for i in order for h in self.batches[i]]
        log.info(
            "ansible_run_started",
            playbook=str(self.playbook),
            hosts=len(hosts),
            serial=sizes,
            ident=ident,
            gated=True,
            held=held,
        )
        import ansible_runner

        thread, runner = ansible_runner.run_async(
            **_runner_args(
                playbook=copy,
                inventory=self.inventory,
                hosts=hosts,
                extravars=self.extravars,
                forks=self.forks,
                tags=self.tags,
                work_dir=self.work_dir,
                ident=ident,
                collector=collector,
                extra_env={"ANSIBLE_ACTION_PLUGINS": _action_plugin_path(self.playbook)},
            )
        )
        return _GatedProcess(
            playbook=self.playbook,
            copy=copy,
            gate_dir=gate_dir,
            first=first,
            last=order[-1],
            thread=thread,
            runner=runner,
            collector=collector,
            ident=ident,
            held=held,
        )


@dataclass
class _GatedProcess:
    playbook: Path
    copy: Path
    gate_dir: Path
    first: int
    last: int
    thread: threading.Thread
    runner: Any
    collector: _Collector
    ident: str
    held: bool = False  # waits at gate 0, before its first batch, until released

    def _gate(self, index: int) -> int:
        return index - self.first + 1

    def alive(self) -> bool:
        return self.thread.is_alive()

    def past_last_batch(self) -> bool:
        return (self.gate_dir / f"arrived-{self._gate(self.last)}.json").exists()

    def release(self, index: int) -> bool:
        """Open the gate after batch ``index``; False when the play is not waiting there."""
        gate = self._gate(index)
        if gate == 0 and self.held:
            pass  # the start gate opens even before the play reaches it
        elif gate < 1 or not (self.gate_dir / f"arrived-{gate}.json").exists():
            return False
        _write_atomic(self.gate_dir / f"decision-{gate}", "go")
        return True

    def wait_batch(self, index: int, hosts: list[str], *, timeout: float | None) -> ActionResult:
        arrived = self.gate_dir / f"arrived-{self._gate(index)}.json"
        started = time.monotonic()
        deadline = started + (timeout if timeout else GATE_TIMEOUT_S)
        timed_out = False
        while self.thread.is_alive():
            if arrived.exists():
                active = set(json.loads(arrived.read_text())["active"])
                return ActionResult(
                    results=self.collector.batch_results(hosts, active),
                    detail={
                        "status": "at_gate",
                        "ident": self.ident,
                        "gated": True,
                        "artifact_dir": str(Path(self.runner.config.artifact_dir)),
                        "duration": round(time.monotonic() - started, 3),
                    },
                )
            if self.collector.handler_error is not None:
                break
            if time.monotonic() > deadline:
                timed_out = True
                self.collector.abort.set()
                break
            time.sleep(GATE_POLL_S)
        self.thread.join(PROCESS_END_S)
        self.copy.unlink(missing_ok=True)
        if timed_out:
            self.runner.status = "timeout"
        return _finish(
            runner=self.runner,
            collector=self.collector,
            playbook=self.playbook,
            hosts=hosts,
            timeout=timeout,
            detail={"ident": self.ident, "gated": True, "duration": round(time.monotonic() - started, 3)},
        )

    def stop(self) -> None:
        """End the play: a waiting gate is told ``stop``; a play between gates is cancelled.

        Once the gate has said it stops, no task of this play runs any more, so its process is
        left to end by itself (about half a second) while the caller goes on, say to roll back.
        A play past its last batch has nothing left to stop: it is only waited for.
        """
        if self.thread.is_alive():
            if not self.past_last_batch():
                gate = self._waiting_gate()
                if gate is not None:
                    _write_atomic(self.gate_dir / f"decision-{gate}", "stop")
                    if self._acknowledged(gate):
                        self.copy.unlink(missing_ok=True)
                        return
                self.collector.abort.set()
            self.thread.join(PROCESS_END_S)
        self.copy.unlink(missing_ok=True)

    def _waiting_gate(self) -> int | None:
        """The gate the play waits at (or will reach next without running a task), if any."""
        arrived = [int(p.stem.split("-")[1]) for p in self.gate_dir.glob("arrived-*.json")]
        gate = max(arrived, default=0)
        if (self.gate_dir / f"decision-{gate}").exists():
            return None
        return gate if arrived or self.held else None

    def _acknowledged(self, gate: int) -> bool:
        deadline = time.monotonic() + STOP_ACK_S
        stopped = self.gate_dir / f"stopped-{gate}"
        while time.monotonic() < deadline and self.thread.is_alive():
            if stopped.exists():
                return True
            time.sleep(GATE_POLL_S / 4)
        return stopped.exists() or not self.thread.is_alive()


def rolling_playbook(
    *,
    playbook: Path,
    inventory: Path,
    batches: list[tuple[int, list[str]]],
    match: Callable[[str], list[str]],
    extravars: dict[str, Any],
    forks: int,
    tags: list[str] | None,
    on_event: EventHandler | None,
    cancel: threading.Event | None,
    work_dir: Path,
) -> tuple[RollingPlaybook | None, str]:
    """A :class:`RollingPlaybook` for these batches, or None and why a process per batch is needed."""
    playbook = Path(playbook).resolve()
    if not playbook.is_file():
        return None, "playbook not found"
    try:
        plays = yaml.safe_load(playbook.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return None, f"playbook not plain YAML ({type(exc).__name__})"
    if not isinstance(plays, list) or len(plays) != 1 or not isinstance(plays[0], dict):
        return None, "the playbook has more than one play (serial would finish each play before the next)"
    play = plays[0]
    pattern = play.get("hosts")
    if not isinstance(pattern, str) or "{" in pattern:
        return None, "the play's hosts are templated or not a pattern"
    for key, allowed in (("serial", None), ("order", "inventory"), ("strategy", "linear")):
        if key in play and play[key] != allowed:
            return None, f"the play sets {key}: {play[key]}"
    if not os.access(playbook.parent, os.W_OK):
        return None, f"{playbook.parent} is not writable (the gated copy goes next to the playbook)"
    planned = [h for _, hosts in batches for h in hosts]
    try:
        ansible_order = [h for h in match(pattern) if h in set(planned)]
    except Exception as exc:  # an unknown pattern is Ansible's to report, in a process per batch
        return None, f"cannot resolve the play's hosts ({exc})"
    if ansible_order != planned:
        return None, "Ansible would order the play's hosts differently from golive's batches"
    return (
        RollingPlaybook(
            playbook=playbook,
            plays=plays,
            inventory=inventory,
            batches=batches,
            extravars=extravars,
            forks=forks,
            tags=tags,
            on_event=on_event,
            cancel=cancel,
            work_dir=work_dir,
        ),
        "",
    )


def _gated_plays(
    plays: list[dict[str, Any]], sizes: list[int], gate_dir: Path, *, held: bool = False
) -> list[dict[str, Any]]:
    play = dict(plays[0])
    play["serial"] = sizes
    hold: list[dict[str, Any]] = []
    if held:
        # A play of its own before the user's, so that even fact gathering waits for the release.
        start = _gate_task(f"{GATE_TASK}: start", gate_dir, start=True)
        hold = [{"name": f"{GATE_TASK}: hold", "hosts": play["hosts"], "gather_facts": False, "tasks": [start]}]
    play["post_tasks"] = [
        *(play.get("post_tasks") or []),
        {"name": f"{GATE_TASK}: handlers", "meta": "flush_handlers", "tags": ["always"]},
        _gate_task(GATE_TASK, gate_dir, last=len(sizes)),
    ]
    return [*hold, play]


def _gate_task(name: str, gate_dir: Path, **args: Any) -> dict[str, Any]:
    """A ``golive_gate`` task: once per batch, ending the play when it fails, never skipped by --tags."""
    return {
        "name": name,
        "golive_gate": {"dir": str(gate_dir), "owner": os.getpid(), "timeout": GATE_TIMEOUT_S, **args},
        "run_once": True,
        "any_errors_fatal": True,
        "check_mode": False,
        "tags": ["always"],
    }


def _new_ident() -> str:
    """A name for one ansible-runner run (its artifacts dir): sortable by time, unique."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _remove_stale_copies(playbook: Path) -> None:
    """Gated copies left next to ``playbook`` by a golive process that was killed."""
    for stale in playbook.parent.glob(f".golive-*-{playbook.name}"):
        pid = stale.name.split("-", 2)[1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            stale.unlink(missing_ok=True)
        except PermissionError:
            pass


def _action_plugin_path(playbook: Path) -> str:
    """golive's gate plugin first, then wherever the project's own action plugins are configured.

    The environment variable replaces ``action_plugins`` of ansible.cfg, so that setting (or
    Ansible's default) is carried over; plugins next to the playbook load as ever.
    """
    ours = str(Path(__file__).parent / "ansible_plugins" / "action")
    theirs = os.environ.get("ANSIBLE_ACTION_PLUGINS")
    if not theirs:
        cfg_file = os.environ.get("ANSIBLE_CONFIG") or _project_config(playbook)
        theirs = DEFAULT_ACTION_PLUGINS
        if cfg_file and Path(cfg_file).is_file():
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(cfg_file)
                configured = parser.get("defaults", "action_plugins", fallback=None)
            except configparser.Error:
                configured = None
            if configured:  # relative to the ansible.cfg, as Ansible reads it there
                base = Path(cfg_file).resolve().parent
                theirs = os.pathsep.join(
                    e if e.startswith(("~", "/")) else str(base / e) for e in configured.split(os.pathsep) if e
                )
    return os.pathsep.join([ours, theirs])


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, path)


def _runner_args(
    *,
    playbook: Path,
    inventory: Path,
    hosts: list[str],
    extravars: dict[str, Any],
    forks: int,
    tags: list[str] | None,
    work_dir: Path,
    ident: str,
    collector: _Collector,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    work_dir = Path(work_dir).resolve()
    private = work_dir / "ansible"
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    return {
        "private_data_dir": str(private),
        "ident": ident,
        "playbook": str(playbook),
        "inventory": str(Path(inventory).resolve()),
        "limit": ",".join(hosts),
        "extravars": dict(extravars),
        "forks": forks,
        **({"tags": ",".join(tags)} if tags else {}),
        "envvars": {**_environment(work_dir=work_dir, playbook=playbook), **(extra_env or {})},
        "quiet": True,
        # Keep env/extravars out of files shared between runs in the same directory.
        "suppress_env_files": True,
        "settings": {"pexpect_timeout": CANCEL_POLL_S, "suppress_ansible_output": True},
        "event_handler": collector.handle,
        # Always give a callback: without one ansible-runner installs SIGINT/SIGTERM handlers.
        "cancel_callback": collector.should_cancel,
    }


def _finish(
    *,
    runner: Any,
    collector: _Collector,
    playbook: Path,
    hosts: list[str],
    timeout: float | None,
    detail: dict[str, Any],
) -> ActionResult:
    """The per-host result of a finished ansible-runner run, for ``hosts``."""
    if collector.handler_error is not None:
        raise collector.handler_error
    detail = {
        "status": runner.status,
        "rc": runner.rc,
        "artifact_dir": str(Path(runner.config.artifact_dir)),
        **detail,
        "stats": collector.stats,
    }
    log.info(
        "ansible_run_finished",
        playbook=str(playbook),
        status=runner.status,
        rc=runner.rc,
        duration=detail.get("duration"),
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

    def batch_results(self, hosts: list[str], active: set[str]) -> dict[str, HostResult]:
        """Results of a batch that reached golive's gate: ``active`` are the hosts still in play."""
        out: dict[str, HostResult] = {}
        for host in hosts:
            trace = self.hosts.get(host, _HostTrace())
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
