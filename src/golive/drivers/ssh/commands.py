"""Shell commands on hosts over SSH: output bounded, a host stopping at its first failing command.

A command is never re-run: it may not be idempotent (connecting alone is retried, in transport.py).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import paramiko
import structlog

from golive.drivers.base import ActionResult, HostResult
from golive.drivers.ssh.transport import CONNECT_TIMEOUT, connect, describe
from golive.errors import PermanentError, TransientError
from golive.inventory import Connection

__all__ = ["CommandOutput", "exec_on_host", "run_command", "run_commands", "run_on_host"]

log = structlog.get_logger(__name__)

READ_CHUNK = 32768


@dataclass(frozen=True)
class CommandOutput:
    """What one command did on one host."""

    host: str
    rc: int | None
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    timed_out: bool = False
    # Set when the command never ran: the host could not be reached or was refused.
    error: str = ""
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        return not self.error and not self.timed_out and self.rc == 0

    def combined(self) -> str:
        if self.stderr:
            return (
                f"{self.stdout}{'' if not self.stdout or self.stdout.endswith(chr(10)) else chr(10)}"
                f"[stderr]\n{self.stderr}"
            )
        return self.stdout


class _Capped:
    """Keeps the first ``limit`` bytes and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        out = self.data.decode("utf-8", errors="replace")
        return out + (f"\n[... truncated {self.dropped} bytes]" if self.dropped else "")


def _exec(client: paramiko.SSHClient, host: str, command: str, *, timeout: float, max_output: int) -> CommandOutput:
    transport = client.get_transport()
    if transport is None or not transport.is_active():
        return CommandOutput(host=host, rc=None, error="connection lost", unreachable=True)
    chan = transport.open_session(timeout=timeout)
    try:
        chan.exec_command(command)
        out, err = _Capped(max_output), _Capped(max_output)
        deadline = time.monotonic() + timeout
        timed_out = False
        while True:
            while chan.recv_ready():
                out.add(chan.recv(READ_CHUNK))
            while chan.recv_stderr_ready():
                err.add(chan.recv_stderr(READ_CHUNK))
            # The transport thread handles packets in order: once the exit status is in, so is the output.
            if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            select.select([chan], [], [], min(remaining, 1.0))
        rc = None if timed_out else chan.recv_exit_status()
    finally:
        chan.close()
    return CommandOutput(
        host=host,
        rc=rc,
        stdout=out.text(),
        stderr=err.text(),
        truncated=bool(out.dropped or err.dropped),
        timed_out=timed_out,
    )


def run_command(
    conn: Connection,
    command: str,
    *,
    timeout: float = 60.0,
    max_output: int = 65536,
    attempts: int = 3,
    sleep_fn: Callable[[float], None] | None = None,
) -> CommandOutput:
    """Connect, run one command, disconnect; connection problems come back as ``error``, not raised."""
    try:
        client = connect(conn, timeout=min(timeout, CONNECT_TIMEOUT), attempts=attempts, sleep_fn=sleep_fn)
    except (TransientError, PermanentError) as exc:
        return CommandOutput(host=conn.name, rc=None, error=str(exc), unreachable=True)
    try:
        return _exec(client, conn.name, command, timeout=timeout, max_output=max_output)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        return CommandOutput(host=conn.name, rc=None, error=f"connection lost: {describe(exc)}", unreachable=True)
    finally:
        client.close()


exec_on_host = run_command  # the name checks/command.py imports until the probe is handed run_command


def run_on_host(conn: Connection, command: str, timeout: float, max_output: int) -> HostResult:
    """One command on one host as a HostResult (stderr appended under a ``[stderr]`` line)."""
    return _to_host_result(conn.name, [run_command(conn, command, timeout=timeout, max_output=max_output)], planned=1)


def _to_host_result(host: str, outputs: list[CommandOutput], *, planned: int) -> HostResult:
    last = outputs[-1]
    ran = [o for o in outputs if not o.error]
    text = "\n".join(o.combined() for o in ran)
    if last.error:
        return HostResult(
            host=host, ok=False, changed=bool(ran), unreachable=last.unreachable, message=last.error, output=text
        )
    if last.timed_out:
        msg = f"command {len(outputs)}/{planned} timed out"
        return HostResult(host=host, ok=False, changed=True, message=msg, output=text)
    if last.rc != 0:
        msg = f"command {len(outputs)}/{planned} exited with rc {last.rc}"
        tail = last.stderr.strip().splitlines()[-1:] or last.stdout.strip().splitlines()[-1:]
        return HostResult(
            host=host, ok=False, changed=True, message=f"{msg}: {tail[0]}" if tail else msg, output=text, rc=last.rc
        )
    return HostResult(host=host, ok=True, changed=True, output=text, rc=last.rc)


def _run_host(
    conn: Connection,
    commands: list[str],
    *,
    timeout: float,
    max_output: int,
    attempts: int,
    sleep_fn: Callable[[float], None] | None,
) -> tuple[HostResult, bool]:
    """The host's result, and whether it failed only by a transient connect fault."""
    try:
        client = connect(conn, timeout=min(timeout, CONNECT_TIMEOUT), attempts=attempts, sleep_fn=sleep_fn)
    except (TransientError, PermanentError) as exc:
        transient = isinstance(exc, TransientError)
        log.warning("ssh_connect_failed", host=conn.name, error=str(exc), transient=transient)
        return HostResult(host=conn.name, ok=False, unreachable=True, message=str(exc)), transient
    outputs: list[CommandOutput] = []
    budget = max_output
    try:
        for i, command in enumerate(commands, start=1):
            try:
                out = _exec(client, conn.name, command, timeout=timeout, max_output=max(1, budget))
            except (paramiko.SSHException, OSError, EOFError) as exc:
                out = CommandOutput(
                    host=conn.name, rc=None, error=f"connection lost: {describe(exc)}", unreachable=True
                )
            outputs.append(out)
            budget -= len(out.stdout) + len(out.stderr)
            log.info(
                "ssh_command_done",
                host=conn.name,
                index=i,
                rc=out.rc,
                timed_out=out.timed_out,
                truncated=out.truncated,
                error=out.error or None,
            )
            if not out.ok:
                break
    finally:
        client.close()
    return _to_host_result(conn.name, outputs, planned=len(commands)), False


def run_commands(
    *,
    connections: list[Connection],
    commands: list[str],
    timeout: float = 60,
    max_output: int = 65536,
    max_workers: int = 10,
    attempts: int = 3,
    sleep_fn: Callable[[float], None] | None = None,
) -> ActionResult:
    """Run ``commands`` in order on every host (hosts in parallel); a host stops at its first failure.

    ``timeout`` bounds each command; ``max_output`` bounds what is kept per host.  Raises
    TransientError only when no host could be connected to and every fault was transient.
    """
    if not connections:
        return ActionResult(detail={"status": "skipped", "reason": "no hosts"})
    workers = max(1, min(max_workers, len(connections)))
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="golive-ssh") as pool:
        futures = [
            pool.submit(
                _run_host, c, commands, timeout=timeout, max_output=max_output, attempts=attempts, sleep_fn=sleep_fn
            )
            for c in connections
        ]
        done = [f.result() for f in futures]
    results = [r for r, _ in done]
    result = ActionResult(
        results={r.host: r for r in results},
        detail={"commands": len(commands), "duration": round(time.monotonic() - started, 3)},
    )
    log.info(
        "ssh_commands_finished", hosts=len(results), failed=len(result.failed_hosts), duration=result.detail["duration"]
    )
    if all(transient for _, transient in done):
        # Nothing ran anywhere, so the engine may safely retry the whole action.
        raise TransientError(f"no host answered: {result.summary()}")
    return result
