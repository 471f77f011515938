"""A batched Ansible step as one ``ansible-playbook`` process whose ``serial`` batches wait at a gate.

The gate is the action ``golive.rolling.gate``, shipped as a collection under ``content/``.
Ansible finds it on the Python path (``collections_scan_sys_path``), so nothing of the
project's own configuration (``action_plugins``, ``collections_path``) is replaced.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml

from golive.drivers.ansible.events import GATE_TASK, Collector, EventHandler
from golive.drivers.ansible.run import finish, new_ident, runner_args
from golive.drivers.base import ActionResult
from golive.errors import JournalUnwritable

__all__ = ["RollingPlaybook", "gate_environment", "rolling_playbook"]

log = structlog.get_logger(__name__)

# How long a gate may hold a play at most; how often golive looks at the gate's files.
GATE_TIMEOUT_S = 86400.0
# In the run's work dir: every gated copy a process of the run wrote, one path a line.
COPIES = "copies"
GATE_POLL_S = 0.02
# How long a play told to stop may take to end before it is cancelled; how long a gate may
# take to say it stopped the play.
PROCESS_END_S = 30.0
STOP_ACK_S = 5.0
# The collection holding the gate action, and the action's fully qualified name.
COLLECTIONS_ROOT = Path(__file__).parent / "content"
GATE_ACTION = "golive.rolling.gate"


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
        ident = new_ident()
        gate_dir = self.work_dir / "ansible" / "gates" / ident
        gate_dir.mkdir(parents=True, mode=0o700)
        _remove_stale_copies(self.playbook)
        copy = self.playbook.parent / f".golive-{os.getpid()}-{ident}-{self.playbook.name}"
        with (self.work_dir / "ansible" / COPIES).open("a") as listed:  # for remove_dead_copies
            listed.write(f"{copy}\n")
        copy.write_text(yaml.safe_dump(_gated_plays(self.plays, sizes, gate_dir, held=held), sort_keys=False))
        collector = Collector(on_event=_removing_once_read(copy, self.on_event), cancel=self.cancel)
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
            **runner_args(
                playbook=copy,
                inventory=self.inventory,
                hosts=hosts,
                extravars=self.extravars,
                forks=self.forks,
                tags=self.tags,
                work_dir=self.work_dir,
                ident=ident,
                collector=collector,
                extra_env=gate_environment(),
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
    collector: Collector
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
        return finish(
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
                if gate is not None and _told_to_stop(self.gate_dir / f"decision-{gate}") and self._acknowledged(gate):
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
        GATE_ACTION: {"dir": str(gate_dir), "owner": os.getpid(), "timeout": GATE_TIMEOUT_S, **args},
        "run_once": True,
        "any_errors_fatal": True,
        "check_mode": False,
        "tags": ["always"],
    }


def _removing_once_read(copy: Path, on_event: EventHandler | None) -> EventHandler:
    """``on_event``, and the gated copy removed as its first play starts.

    Ansible has read the whole file by then (playbook-relative paths are resolved from the
    directory, which stays), so a golive killed later leaves nothing beside the playbooks.
    """

    def handle(event: dict[str, Any]) -> None:
        if event.get("event") == "play_start":
            copy.unlink(missing_ok=True)
        if on_event is not None:
            on_event(event)

    return handle


def remove_dead_copies(work_dir: Path) -> None:
    """Gated copies a killed golive of this run left beside its playbooks (the run's work dir lists them).

    A resumed run that starts no play of the same playbook would otherwise leave them there.
    """
    listed = work_dir / "ansible" / COPIES
    if not listed.exists():
        return
    for line in listed.read_text().splitlines():
        copy = Path(line)
        pid = copy.name.split("-", 2)[1] if copy.name.startswith(".golive-") else ""
        if pid.isdecimal() and not _alive(int(pid)):
            copy.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_copies(playbook: Path) -> None:
    """Gated copies left next to ``playbook`` by a golive process that was killed."""
    for stale in playbook.parent.glob(f".golive-*-{playbook.name}"):
        pid = stale.name.split("-", 2)[1]
        if not pid.isdecimal():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            stale.unlink(missing_ok=True)
        except PermissionError:
            pass


def _write_atomic(path: Path, text: str) -> None:
    """Write a gate's decision; a run directory that takes no more (disk full) stops the run."""
    partial = path.with_name(path.name + ".tmp")
    try:
        partial.write_text(text)
        os.replace(partial, path)
    except OSError as exc:
        raise JournalUnwritable(path, exc) from exc


def _told_to_stop(decision: Path) -> bool:
    """Tell a waiting gate to stop; False when that cannot be written (the play is cancelled instead)."""
    try:
        _write_atomic(decision, "stop")
    except JournalUnwritable:
        return False
    return True


def gate_environment() -> dict[str, str]:
    """What lets ``ansible-playbook`` find the gate: golive's collection on its Python path.

    Ansible scans ``sys.path`` for ``ansible_collections`` after the configured collection
    paths, so the project's ``collections_path`` and ``action_plugins`` apply unchanged.
    """
    inherited = os.environ.get("PYTHONPATH")
    root = str(COLLECTIONS_ROOT)
    return {
        "PYTHONPATH": os.pathsep.join([root, inherited]) if inherited else root,
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "True",
    }
