"""One run per environment at a time: a local flock, plus a Prefect concurrency lease when a server answers.

The local lock is ``runs/.locks/<env>.lock``: flocked while a run holds it, and holding the
holder's details as JSON, so a refused start can say who holds it, which run, since when and
on which machine. A flock dies with its process, so a held flock always means a live holder;
details left in a file whose flock is free are a dead holder's.

With a Prefect server (PREFECT_API_URL), a run also takes the one slot of the global
concurrency limit ``golive-env-<env>`` with a lease that a live holder renews: two golive
processes on two machines or project directories against one server are kept apart, and the
slot of a holder that died comes free when its lease expires (60 s at least, Prefect's
minimum), or at once for a resume of the same run and for a run whose journal says it ended
(its process could not give the slot back as it exited). The holder's details and lease id
are kept on the server in the Variable ``golive-lock-<env>``, which is how a refusal names
the holder and how ``golive unlock`` releases the slot before the lease runs out.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog

from golive.engine.journal import runs_dir
from golive.history import RunEnds, journal_ends

__all__ = [
    "LEASE_S",
    "Holder",
    "LockHeld",
    "LockInfo",
    "LockUnavailable",
    "Released",
    "env_lock",
    "limit_name",
    "list_locks",
    "local_lock_path",
    "read_local",
    "read_server",
    "release_local",
    "release_server",
    "server_configured",
    "unlock",
    "variable_name",
]

log = structlog.get_logger(__name__)

RELEASE_ATTEMPTS = 3  # giving the slot back at a run's end, 0.5 s and 1 s apart
LEASE_S = 60.0  # Prefect's shortest lease: a dead holder's slot comes free this long after its last renewal
RENEW_EVERY_S = 15.0

Scope = Literal["local", "server"]


@dataclass(frozen=True)
class Holder:
    """Who holds an environment's lock: enough to find the run and judge whether its process lives."""

    run_id: str
    initiator: str
    machine: str
    pid: int
    since: str
    runbook: str
    root: str = ""
    runs: str = ""
    lease_id: str | None = None

    @classmethod
    def here(cls, *, run_id: str, initiator: str, runbook: str, root: Path) -> Holder:
        return cls(
            run_id=run_id,
            initiator=initiator,
            machine=socket.gethostname(),
            pid=os.getpid(),
            since=datetime.now(UTC).isoformat(timespec="seconds"),
            runbook=runbook,
            root=str(root),
            runs=str(runs_dir(root)),
        )

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            return cls(**known)
        except (ValueError, TypeError):
            return None

    def dump(self) -> str:
        return json.dumps(asdict(self))

    def pid_alive_here(self) -> bool | None:
        """Whether its process still runs, when it ran on this machine; None when it ran elsewhere."""
        if self.machine != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        return (
            f"run {self.run_id} ({self.runbook}) started by {self.initiator} on {self.machine} "
            f"(pid {self.pid}) since {self.since}"
        )


@dataclass(frozen=True)
class LockInfo:
    """An environment's lock as found: its holder (if any details are left) and whether it is held by a live process."""

    env: str
    scope: Scope
    holder: Holder | None
    alive: bool | None  # None: held, but by a process on another machine whose life golive cannot see
    where: str

    @property
    def stale(self) -> bool:
        return self.holder is not None and self.alive is False


@dataclass
class LockHeld(Exception):
    """An environment's lock is held by another run."""

    info: LockInfo
    extra: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        info, h = self.info, self.info.holder
        who = h.describe() if h else "another golive process (it left no details)"
        lines = [f"environment {info.env!r} is locked ({info.scope} lock, {info.where}) by {who}"]
        if info.stale and h is not None:
            lines.append(f"its process (pid {h.pid} on {h.machine}) is gone: the lock is stale")
        if h is not None:
            root = f" --root {h.root}" if h.root else ""
            lines.append(
                f"wait for it to finish, or look at it with `golive status {h.run_id}{root}`, "
                f"or roll it back with `golive abort {h.run_id}{root}`"
            )
        after = {
            "server": " (the server frees it by itself about a minute after its death)",
            "local": " (add --force for a process that lives but hangs)",
        }[info.scope]
        lines.append(f"if its process is dead: `golive unlock {info.env} --reason TEXT`{after}")
        return "; ".join(lines + self.extra)


# ------------------------------------------------------------------ local


def local_lock_path(root: Path, env: str | None) -> Path:
    return runs_dir(root) / ".locks" / f"{env or 'none'}.lock"


def _flock_free(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def read_local(root: Path, env: str | None) -> LockInfo | None:
    """The local lock of ``env`` as it is now; None when there is no lock file or it holds nothing."""
    path = local_lock_path(root, env)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        free = _flock_free(fd)
        holder = Holder.parse(os.pread(fd, 4096, 0).decode(errors="replace"))
    finally:
        os.close(fd)
    if free and holder is None:
        return None
    return LockInfo(env=env or "none", scope="local", holder=holder, alive=not free, where=str(path))


@contextmanager
def _local(root: Path, env: str | None, holder: Holder) -> Iterator[None]:
    path = local_lock_path(root, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            found = Holder.parse(os.pread(fd, 4096, 0).decode(errors="replace"))
            raise LockHeld(
                LockInfo(env=env or "none", scope="local", holder=found, alive=True, where=str(path))
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.dump().encode(), 0)
        os.fsync(fd)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # a free lock names no holder; a killed one's details stay, marked stale
    finally:
        os.close(fd)  # closing drops the flock


def release_local(root: Path, env: str | None, *, force: bool) -> LockInfo | None:
    """Clear a dead holder's details; with ``force``, also take the lock file from a live holder.

    A flock cannot be taken from its process; removing the file can: the next run creates a
    new one and locks that. Refuses (LockHeld) a live holder without ``force``.
    """
    info = read_local(root, env)
    if info is None:
        return None
    if info.alive and not force:
        raise LockHeld(info, ["its process is alive: it is not stale; add --force only if you know better"])
    path = Path(info.where)
    if info.alive:
        path.unlink(missing_ok=True)
    else:
        _clear_if_free(path)
    return info


def _clear_if_free(path: Path) -> None:
    """Forget a dead holder's details, under the flock, so a run taking the lock meanwhile keeps its own."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------ Prefect server


def server_configured() -> bool:
    return bool(os.environ.get("PREFECT_API_URL"))


LIMIT_PREFIX = "golive-env-"


def limit_name(env: str | None) -> str:
    return f"{LIMIT_PREFIX}{env or 'none'}"


def variable_name(env: str | None) -> str:
    return f"golive-lock-{env or 'none'}"


def _client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def _read_variable(client: Any, env: str | None) -> Holder | None:
    var = client.read_variable_by_name(variable_name(env))
    if var is None or not isinstance(var.value, str):
        return None
    return Holder.parse(var.value)


def _write_variable(client: Any, env: str | None, holder: Holder) -> None:
    from prefect.client.schemas.actions import VariableCreate, VariableUpdate

    name = variable_name(env)
    if client.read_variable_by_name(name) is None:
        client.create_variable(VariableCreate(name=name, value=holder.dump()))
    else:  # a dead holder's details, left behind when its lease ran out
        client.update_variable(VariableUpdate(name=name, value=holder.dump()))


def _delete_variable(client: Any, env: str | None) -> None:
    from prefect.exceptions import ObjectNotFound

    with suppress(ObjectNotFound):
        client.delete_variable_by_name(variable_name(env))


def read_server(env: str | None) -> LockInfo | None:
    """The server lock of ``env``: None when its slot is free and no holder's details are left."""
    from prefect.exceptions import ObjectNotFound

    with _client() as client:
        try:
            active = client.read_global_concurrency_limit_by_name(limit_name(env)).active_slots
        except ObjectNotFound:
            active = 0
        holder = _read_variable(client, env)
    where = f"{os.environ.get('PREFECT_API_URL')} {limit_name(env)}"
    if not active and holder is None:
        return None
    if not active:
        return LockInfo(env=env or "none", scope="server", holder=holder, alive=False, where=where)
    alive = holder.pid_alive_here() if holder else None
    return LockInfo(env=env or "none", scope="server", holder=holder, alive=alive, where=where)


def _ensure_limit(client: Any, name: str) -> None:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    try:
        client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        with suppress(ObjectAlreadyExists):  # another golive created it a moment ago
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))


def _take_slot(client: Any, name: str) -> str | None:
    """The lease id of the env's one slot, or None when another holds it."""
    from httpx import HTTPStatusError

    try:
        response = client.increment_concurrency_slots_with_lease(
            names=[name], slots=1, mode="concurrency", lease_duration=LEASE_S
        )
    except HTTPStatusError as exc:
        if exc.response.status_code != 423:
            raise
        return None
    return str(response.json()["lease_id"])


def _acquire_server(env: str | None, holder: Holder) -> Holder:
    from uuid import UUID

    name = limit_name(env)
    with _client() as client:
        _ensure_limit(client, name)
        lease = _take_slot(client, name)
        found = _read_variable(client, env) if lease is None else None
        if found is not None and found.lease_id and found.pid_alive_here() is False:
            # A resume of this very run: its dead process's lease is its own to give back. Or a run
            # that ended (its journal says so) but could not give its lease back as it exited.
            why = "resume" if found.run_id == holder.run_id else ("ended" if _run_ended(found) else None)
            if why is not None:
                client.release_concurrency_slots_with_lease(UUID(found.lease_id))
                log.info("env_lease_taken_over", env=env, run_id=found.run_id, dead_pid=found.pid, why=why)
                lease = _take_slot(client, name)
        if lease is None:
            found = _read_variable(client, env)
            where = f"{os.environ.get('PREFECT_API_URL')} {name}"
            alive = found.pid_alive_here() if found else None
            info = LockInfo(env=env or "none", scope="server", holder=found, alive=alive, where=where)
            raise LockHeld(info)
        held = Holder(**{**asdict(holder), "lease_id": lease})
        _write_variable(client, env, held)
    return held


def _run_ended(holder: Holder) -> bool:
    """Whether the holder's run has ended, as its journal (where the holder said it keeps runs) tells."""
    if not holder.runs:
        return False
    path = Path(holder.runs) / holder.run_id / "journal.jsonl"
    first, last = journal_ends(path)
    return bool(first) and RunEnds(holder.run_id, path, first, last).final_status() is not None


def release_server(env: str | None, *, force: bool) -> LockInfo | None:
    """Give back a dead (or, with ``force``, any) holder's slot and forget its details."""
    from uuid import UUID

    info = read_server(env)
    if info is None:
        return None
    if info.alive is not False and not force:
        why = "its process is alive" if info.alive else "its holder runs on another machine and its lease is current"
        raise LockHeld(info, [f"{why}: add --force only if you know it is dead"])
    with _client() as client:
        if info.holder is not None and info.holder.lease_id:
            client.release_concurrency_slots_with_lease(UUID(info.holder.lease_id))
        if _read_variable(client, env) == info.holder:  # no new holder came in meanwhile
            _clear_lost_slot(client, env)
            _delete_variable(client, env)
    return info


def _clear_lost_slot(client: Any, env: str | None) -> None:
    """A slot still counted after its lease is given back had its lease lost (Prefect keeps leases in
    memory by default: a restarted server forgets them but not the count); the limit is 1, so 0 is right."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    try:
        if client.read_global_concurrency_limit_by_name(limit_name(env)).active_slots:
            client.update_global_concurrency_limit(limit_name(env), GlobalConcurrencyLimitUpdate(active_slots=0))
            log.warning("env_slot_reset", env=env, why="its lease was gone")
    except ObjectNotFound:
        pass


class _Renewer(threading.Thread):
    """Renews a lease while the run lives; stops when told, or after the first failure to renew is logged."""

    def __init__(self, lease_id: str) -> None:
        super().__init__(name="golive-env-lease", daemon=True)
        self.lease_id = lease_id
        self.stop = threading.Event()

    def run(self) -> None:
        from uuid import UUID

        while not self.stop.wait(RENEW_EVERY_S):
            try:
                with _client() as client:
                    client.renew_concurrency_lease(UUID(self.lease_id), lease_duration=LEASE_S)
            except Exception as exc:  # the run goes on; the server may hand the slot to another
                log.warning("env_lease_not_renewed", lease_id=self.lease_id, error=str(exc))


class LockUnavailable(Exception):
    """The Prefect server did not answer the lock request: no run starts without its lock."""


@contextmanager
def _server(env: str | None, holder: Holder) -> Iterator[None]:
    from uuid import UUID

    import httpx

    try:
        held = _acquire_server(env, holder)
    except httpx.HTTPError as exc:
        raise LockUnavailable(
            f"the Prefect server ({os.environ.get('PREFECT_API_URL')}) did not give the lock of environment "
            f"{env!r} ({limit_name(env)}): {exc}; nothing was executed. Try again, or run with --no-prefect"
        ) from exc
    assert held.lease_id is not None
    renewer = _Renewer(held.lease_id)
    renewer.start()
    try:
        yield
    finally:
        renewer.stop.set()
        renewer.join(timeout=5)
        for attempt in range(1, RELEASE_ATTEMPTS + 1):
            try:
                with _client() as client:
                    lost = _lease_lost(client, held.lease_id)
                    client.release_concurrency_slots_with_lease(UUID(held.lease_id))
                    if (_read_variable(client, env) or held).lease_id == held.lease_id:
                        if lost:
                            # A restarted server forgot our lease but still counts its slot: no lease will
                            # ever give it back, and every later run would be refused. It is ours to free.
                            _clear_lost_slot(client, env)
                        _delete_variable(client, env)
                break
            except Exception as exc:  # the lease runs out by itself; the next run of this project frees it
                log.warning("env_lease_not_released", env=env, error=str(exc), attempt=attempt)
                if attempt < RELEASE_ATTEMPTS:
                    time.sleep(0.5 * attempt)


def _lease_lost(client: Any, lease_id: str) -> bool:
    """Whether the server no longer knows the lease (410 Gone on renewal: it restarted, or it expired)."""
    from uuid import UUID

    import httpx

    try:
        client.renew_concurrency_lease(UUID(lease_id), lease_duration=LEASE_S)
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code in (404, 410)
    except Exception as exc:
        return "410" in str(exc) or "404" in str(exc)
    return False


@contextmanager
def env_lock(root: Path, env: str | None, holder: Holder, *, server: bool) -> Iterator[None]:
    """Hold ``env`` for one run: the local lock, then (``server``) the Prefect server's slot."""
    with _local(root, env, holder):
        if server:
            with _server(env, holder):
                yield
        else:
            yield


# ------------------------------------------------------------------ unlock and list


@dataclass(frozen=True)
class Released:
    """A lock ``unlock`` released, and the journal it wrote ``lock_released`` into (None: not reachable)."""

    info: LockInfo
    journal: Path | None


def unlock(root: Path, env: str, *, by: str, reason: str, force: bool, server: bool) -> list[Released]:
    """Release ``env``'s dead holder's locks (local, and the server's with ``server``); LockHeld for a live one.

    Both are judged before either is touched, so a refusal releases nothing.
    """
    found = [info for info in (read_local(root, env), read_server(env) if server else None) if info is not None]
    for info in found:
        if info.alive is not False and not force:
            why = "its process is alive" if info.alive else "its holder runs on another machine and holds a lease"
            raise LockHeld(info, [f"{why}: it is not stale; add --force only if you know it is dead"])
    out = []
    for info in found:
        if info.scope == "local":
            release_local(root, env, force=force)
        else:
            release_server(env, force=force)
        out.append(Released(info, _journal_release(info, by=by, reason=reason, force=force)))
    return out


def _journal_release(info: LockInfo, *, by: str, reason: str, force: bool) -> Path | None:
    """``lock_released`` in the holder's journal, when its run directory is on this machine."""
    from golive.engine.journal import Journal

    h = info.holder
    if h is None or not h.runs:
        return None
    path = Path(h.runs) / h.run_id / "journal.jsonl"
    if not path.is_file():
        return None
    Journal(path).append(
        "lock_released",
        run_id=h.run_id,
        env=info.env,
        scope=info.scope,
        by=by,
        reason=reason,
        forced=force and info.alive is not False,
        holder_alive=info.alive,
        holder_pid=h.pid,
        holder_machine=h.machine,
        holder_since=h.since,
    )
    return path


def list_locks(root: Path, *, server: bool) -> list[LockInfo]:
    """Every environment lock with a holder: this project's lock files, and the server's golive slots."""
    base = runs_dir(root) / ".locks"
    envs = sorted(p.stem for p in base.glob("*.lock")) if base.is_dir() else []
    found = [read_local(root, env) for env in envs]
    if server:
        with _client() as client:
            limits = client.read_global_concurrency_limits(limit=200)
        n = len(LIMIT_PREFIX)
        found += [read_server(lim.name[n:]) for lim in limits if lim.name.startswith(LIMIT_PREFIX)]
    return [info for info in found if info is not None]
