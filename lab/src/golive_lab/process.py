"""Start, watch and stop the lab's processes by the PIDs the lab recorded.

A PID alone can be reused by the kernel after its process ends, so every recorded
process also keeps its start time (field 22 of ``/proc/<pid>/stat``); a PID whose start
time differs is someone else's process and is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


def start_time(pid: int) -> int | None:
    """Return the kernel start time of ``pid`` in clock ticks, or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may hold spaces and parentheses; fields start after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19])


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat[stat.rfind(")") + 2 :].split()[0]


def _reap(pid: int) -> None:
    # Only succeeds for our own children; others are reaped by their parent or init.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int | None, started: int | None = None) -> bool:
    """Whether ``pid`` runs and, when ``started`` is given, is the same process that was recorded.

    Zombies count as ended: they hold no resources and cannot be signalled away.
    """
    if not pid:
        return False
    _reap(pid)
    state = _state(pid)
    if state is None or state in ("Z", "X"):
        return False
    return started is None or start_time(pid) == started


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` as the kernel lists them."""
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in task_dir.iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                found += [int(p) for p in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> dict[int, int | None]:
    """Every process below ``pid`` (children, theirs, ...) with its start time, so that a PID the
    kernel hands out again later is not taken for one of them (see :func:`is_alive`)."""
    found: dict[int, int | None] = {}
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in found:
                found[child] = start_time(child)
                todo.append(child)
    return found


def spawn(
    argv: Sequence[str],
    *,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[int, int]:
    """Start ``argv`` detached in its own session; return (pid, start time).

    The new session makes the PID also the process group id, so stopping the group stops
    helper processes the program started itself, and the process outlives the CLI call.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    started = start_time(proc.pid)
    # Popen would warn at shutdown about a child still running; the lab owns it by PID.
    proc.returncode = 0
    log.debug("process_started", argv=argv[0], pid=proc.pid)
    return proc.pid, started or 0


def _signal(pid: int, sig: int, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def group_members(pgid: int) -> list[int]:
    """PIDs whose process group is ``pgid`` (the lab's processes lead their own groups)."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def stop(pid: int | None, started: int | None, *, timeout: float = 5.0, group: bool = True) -> bool:
    """Stop a recorded process (and its process group): SIGTERM, then SIGKILL after ``timeout``.

    Returns True when nothing of it is left running. A PID whose start time no longer
    matches belongs to another process and is left alone.
    """
    if not pid:
        return True
    if not is_alive(pid, started):
        if group:
            # The leader may be gone while members of its group still run.
            for member in group_members(pid):
                _signal(member, signal.SIGKILL, group=False)
        return True
    _signal(pid, signal.SIGTERM, group=group)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid, started) and (not group or not group_members(pid)):
            return True
        time.sleep(0.05)
    log.warning("process_kill", pid=pid, reason="no exit after SIGTERM", timeout_s=timeout)
    _signal(pid, signal.SIGKILL, group=group)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if not is_alive(pid, started) and (not group or not group_members(pid)):
            return True
        time.sleep(0.05)
    return not is_alive(pid, started)


def pid_namespace(pid: int) -> str | None:
    """The PID namespace identity of ``pid`` (e.g. ``pid:[4026532301]``)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def outer_pid(ns_member: int, inner_pid: int) -> int | None:
    """Translate a PID seen inside the PID namespace of ``ns_member`` into the lab's own view."""
    target_ns = pid_namespace(ns_member)
    if target_ns is None:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError):
            if os.readlink(entry / "ns" / "pid") != target_ns:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("NSpid:"):
                    if int(line.split()[-1]) == inner_pid:
                        return int(entry.name)
                    break
    return None
