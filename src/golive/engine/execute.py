"""Starting, resuming and steering runs: locks, run directories, Prefect, the runner.

``golive run`` and the Prefect flow entrypoint both come through ``execute_new``;
``golive resume``/``abort``/``approve``... come through the functions below, which talk
to a live runner by appending control entries to its journal.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from golive.context import RunContext, prepare
from golive.engine.envlock import Holder, LockHeld, LockUnavailable, env_lock, server_configured
from golive.engine.journal import Journal, JournalCorrupt, runs_dir
from golive.engine.runner import Runner, current_user
from golive.engine.stale import StaleRefused, lock_held, refuse_after_crash, refuse_if_stale
from golive.engine.state import RunState, fold
from golive.engine.window import WindowGuard, closed_message
from golive.errors import RunbookError
from golive.plan import PlanInput, diff_inputs

if TYPE_CHECKING:
    from golive.engine.story import PrefectStory

__all__ = [
    "Refused",
    "RunHandle",
    "execute_abort",
    "execute_new",
    "execute_resume",
    "find_run",
    "is_live",
    "new_run_id",
    "send_control",
    "window_guard",
]


class Refused(Exception):
    """The run may not start or go on (lock held, digest changed, finished); exit 4."""


def new_run_id(name: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    short = "".join(c if c.isalnum() or c == "-" else "-" for c in name.lower())[:32].strip("-")
    return f"{stamp}-{short}-{secrets.token_hex(2)}"


@dataclass
class RunHandle:
    run_id: str
    dir: Path

    @property
    def journal(self) -> Journal:
        return Journal(self.dir / "journal.jsonl")


def find_run(root: Path, run_id: str | None) -> RunHandle:
    base = runs_dir(root)
    if run_id is None:
        runs = (
            sorted((p for p in base.glob("*/journal.jsonl")), key=lambda p: p.stat().st_mtime) if base.is_dir() else []
        )
        if not runs:
            raise Refused(f"no runs under {base}")
        return RunHandle(runs[-1].parent.name, runs[-1].parent)
    d = base / run_id
    if not (d / "journal.jsonl").exists():
        matches = [p.parent for p in base.glob(f"{run_id}*/journal.jsonl")] if base.is_dir() else []
        if len(matches) == 1:
            return RunHandle(matches[0].name, matches[0])
        raise Refused(f"no run {run_id!r} under {base}")
    return RunHandle(run_id, d)


@contextmanager
def _flock(path: Path, what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            raise Refused(f"{what} is held by {holder or 'another process'}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextmanager
def _env_lock(ctx: RunContext, handle: RunHandle, *, use_prefect: bool, initiator: str | None) -> Iterator[None]:
    """One run per environment at a time: on this machine, and on the Prefect server when one is set."""
    holder = Holder.here(
        run_id=handle.run_id, initiator=initiator or current_user(), runbook=ctx.loaded.runbook.name, root=ctx.root
    )
    try:
        with env_lock(ctx.root, ctx.env, holder, server=use_prefect and server_configured()):
            yield
    except (LockHeld, LockUnavailable) as exc:
        raise Refused(str(exc)) from exc


@contextmanager
def _run_lock(handle: RunHandle) -> Iterator[None]:
    """One process per run."""
    with _flock(handle.dir / "lock", f"run {handle.run_id}"):
        yield


def is_live(handle: RunHandle) -> bool:
    """True while a runner process holds the run's lock."""
    return lock_held(handle.dir)


def send_control(handle: RunHandle, action: str, *, by: str | None = None, **fields: Any) -> dict[str, Any]:
    return handle.journal.append("control", run_id=handle.run_id, action=action, by=by or current_user(), **fields)


# ------------------------------------------------------------------ Prefect


def prefect_task(name: str, fn: Callable[[], Any]) -> Any:
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    return task(fn, name=name, task_run_name=name, persist_result=False, cache_policy=NO_CACHE)()  # type: ignore[call-overload]


def _write_report(runner: Runner, path: Path) -> str | None:
    """The run's HTML report beside its journal (its Markdown returned), for the flow run's artifacts."""
    from golive.report.render import write_run_report  # the report reads the engine's state, not the reverse

    try:
        return write_run_report(runner.journal, path)
    except Exception as exc:  # a report must never change how a run ends
        import structlog

        structlog.get_logger(__name__).warning("report_not_written", run_id=runner.run_id, problem=str(exc))
        return None


def _tell_in_prefect(runner: Runner) -> PrefectStory:
    """Every entry the runner records also goes to the flow run's (or step's task run's) logs."""
    from golive.engine.story import PrefectStory

    story = PrefectStory.start()
    shown = runner.steer.listener

    def both(entry: dict[str, Any]) -> None:
        shown(entry)
        story.on_entry(entry)

    runner.steer.listener = both
    return story


def _run_in_flow(runner: Runner, body: Callable[[], int], *, use_prefect: bool, flow_name: str) -> int:
    """``body`` as a Prefect flow run (or plainly); then no Ansible play of the runner is left running."""
    notifier = runner.notifier

    def told() -> int:  # what is still queued is sent (bounded) before the flow run's final state
        try:
            return body()
        finally:
            if notifier is not None:
                notifier.close()

    try:
        return _in_prefect_flow(runner, told, flow_name=flow_name) if use_prefect else told()
    finally:
        runner.settle()


def _in_prefect_flow(runner: Runner, body: Callable[[], int], *, flow_name: str) -> int:
    from golive.engine.flow import run_as_flow
    from golive.engine.services import attach_prefect

    attach_prefect(runner.svc)

    started: list[bool] = []

    def tracked() -> int:
        started.append(True)
        story = _tell_in_prefect(runner)
        try:
            return body()
        finally:
            entries = list(runner.journal.entries(on_damage=lambda _: None))
            path = runner.journal.path.parent / "report.html"
            markdown = _write_report(runner, path)
            story.publish(
                run_id=runner.run_id,
                entries=entries,
                report_path=path if markdown is not None else None,
                report_markdown=markdown,
            )

    try:
        return run_as_flow(run_id=runner.run_id, body=tracked, flow_name=flow_name, seal=runner.journal.seal)
    except Exception as exc:
        if started:
            raise
        url = os.environ.get("PREFECT_API_URL", "a temporary Prefect server")
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Refused(
            f"Prefect could not start the flow ({url}): {why}; "
            "nothing was executed. Point golive at a Prefect server that answers (PREFECT_API_URL, in the "
            "environment or in .golive/env) or run with --no-prefect"
        ) from exc


# ------------------------------------------------------------------ runs


def _runner(
    ctx: RunContext,
    *,
    handle: RunHandle,
    use_prefect: bool,
    listener: Callable[[dict[str, Any]], None] | None,
    ask_rollback: Callable[[], bool] | None,
    initiator: str | None,
    window: WindowGuard | None = None,
    now: Callable[[], datetime] | None = None,
) -> Runner:
    from golive.engine.services import build_services

    cancel = threading.Event()
    k8s = None
    if (ctx.inventory is not None and any(s.kind == "k8s" for s in ctx.loaded.runbook.steps)) or any(
        getattr(c, "kind", "") == "k8s" for s in ctx.loaded.runbook.steps for c in s.verify
    ):
        from golive.drivers.k8s import K8sDriver

        k8s = K8sDriver(inventory=ctx.inventory)
    services = build_services(
        inventory=ctx.inventory,
        work_dir=handle.dir / "work",
        task=prefect_task if use_prefect else None,
        cancel=cancel,
        k8s=k8s,
        ask_rollback=ask_rollback,
    )
    if now is not None:
        services.now = now
    from golive.notify import notifier_for

    run = {"run_id": handle.run_id, "runbook": ctx.loaded.runbook.name, "env": ctx.env, "initiator": initiator}
    notifier = notifier_for(ctx.inventory, journal=handle.journal.append, run=run)
    if notifier is not None:
        listener = _both(listener, notifier.on_entry)
    runner = Runner(
        plan=ctx.plan(),
        runbook=ctx.loaded.runbook,
        journal=handle.journal,
        services=services,
        root=ctx.root,
        run_id=handle.run_id,
        initiator=initiator,
        listener=listener,
        window=window,
    )
    runner.notifier = notifier
    from golive.secrets import resolve

    try:
        runner.secrets = resolve(ctx.loaded, root=ctx.root)
    except RunbookError as exc:  # the CLI checked before; a deployment's run gets here
        raise Refused("; ".join(i.message for i in exc.issues)) from None
    return runner


def _both(
    first: Callable[[dict[str, Any]], None] | None, then: Callable[[dict[str, Any]], None]
) -> Callable[[dict[str, Any]], None]:
    def both(entry: dict[str, Any]) -> None:
        if first is not None:
            first(entry)
        then(entry)

    return both


def window_guard(
    ctx: RunContext, *, break_glass: str | None, now: Callable[[], datetime] | None = None
) -> WindowGuard | None:
    """The run's windows; raises Refused (nothing started) when closed and no break-glass was asked."""
    from golive.schedule import schedule_of

    schedule = schedule_of(ctx.loaded, ctx.inventory)
    if not schedule and break_glass is None:
        return None
    status = schedule.status((now or (lambda: datetime.now(UTC)))())
    if not status.open and break_glass is None:
        raise Refused(closed_message(schedule, status))
    protected = ctx.inventory.protected if ctx.inventory is not None else False
    return WindowGuard(schedule=schedule, break_glass=break_glass, protected=protected)


def execute_new(
    ctx: RunContext,
    *,
    use_prefect: bool = True,
    listener: Callable[[dict[str, Any]], None] | None = None,
    ask_rollback: Callable[[], bool] | None = None,
    initiator: str | None = None,
    on_started: Callable[[RunHandle], None] | None = None,
    break_glass: str | None = None,
    now: Callable[[], datetime] | None = None,
    change_id: str | None = None,
    after_crash: bool = False,
    on_runner: Callable[[Runner], None] | None = None,
    flow_name: str | None = None,
) -> tuple[RunHandle, int]:
    """Start a run; outside its change window (or in a freeze) it is refused before anything exists.

    ``break_glass`` (the reason) runs it anyway, journaled; ``now`` replaces the wall clock;
    ``change_id`` names the approved change the run carries out. After a run of the env that
    died unfinished, the start is refused unless ``after_crash`` (journaled on run_started).
    """
    window = window_guard(ctx, break_glass=break_glass, now=now)
    try:
        crashed = refuse_after_crash(ctx.root, env=ctx.env, after_crash=after_crash)
    except StaleRefused as exc:
        raise Refused(str(exc)) from None
    name = ctx.loaded.runbook.name
    meta = ctx.journal_meta() | ({"change_id": change_id} if change_id else {})
    meta |= {"after_crash": crashed} if crashed else {}
    run_id = new_run_id(name)
    handle = RunHandle(run_id, runs_dir(ctx.root) / run_id)
    # The environment is locked before the run's directory exists: a refused start leaves nothing.
    with _env_lock(ctx, handle, use_prefect=use_prefect, initiator=initiator):
        handle.dir.mkdir(parents=True, exist_ok=True)
        handle.dir.chmod(0o700)  # the journal says who did what; reports and keys go beside it
        return handle, _start_locked(
            ctx,
            handle,
            use_prefect=use_prefect,
            listener=listener,
            ask_rollback=ask_rollback,
            initiator=initiator,
            on_started=on_started,
            window=window,
            now=now,
            meta=meta,
            on_runner=on_runner,
            flow_name=flow_name,
        )


def _start_locked(
    ctx: RunContext,
    handle: RunHandle,
    *,
    use_prefect: bool,
    listener: Callable[[dict[str, Any]], None] | None,
    ask_rollback: Callable[[], bool] | None,
    initiator: str | None,
    on_started: Callable[[RunHandle], None] | None,
    window: WindowGuard | None,
    now: Callable[[], datetime] | None,
    meta: dict[str, Any],
    on_runner: Callable[[Runner], None] | None = None,
    flow_name: str | None = None,
) -> int:
    name = flow_name or ctx.loaded.runbook.name
    try:
        with _run_lock(handle):
            runner = _runner(
                ctx,
                handle=handle,
                use_prefect=use_prefect,
                listener=listener,
                ask_rollback=ask_rollback,
                initiator=initiator,
                window=window,
                now=now,
            )
            if on_runner is not None:  # a rehearsal wraps the drivers and gates (its faults), never the runbook
                on_runner(runner)
            if on_started:
                on_started(handle)
            runner.prewarm()  # Ansible starts (held) while Prefect does
            code = _run_in_flow(runner, lambda: runner.start(meta=meta), use_prefect=use_prefect, flow_name=name)
    except Refused as exc:
        handle.journal.append("run_refused", run_id=handle.run_id, reason=str(exc))
        raise
    return code


def execute_resume(
    root: Path,
    run_id: str | None,
    *,
    use_prefect: bool = True,
    listener: Callable[[dict[str, Any]], None] | None = None,
    ask_rollback: Callable[[], bool] | None = None,
    by: str | None = None,
    force_stale: str | None = None,
) -> tuple[RunHandle, int, str]:
    """Resume a paused live run (a control entry) or restart a dead one from its journal.

    A dead run older than its env's newest run is refused unless ``force_stale`` (the reason).
    """
    handle = find_run(root, run_id)
    live = is_live(handle)
    state = _state_of(handle, live=live)
    if state.finished:
        raise Refused(f"run {handle.run_id} already finished: {state.status} (exit {state.exit_code})")
    if live and state.status != "paused":
        raise Refused(f"run {handle.run_id} is {state.status}, not paused: there is nothing to resume")
    if live:
        send_control(handle, "resume", by=by)
        return handle, 0, "signalled"
    _refuse_if_stale(root, handle, action="resume", force_stale=force_stale, by=by)
    ctx, previous_digest = _context_from(state, handle, with_history=True)
    plan = ctx.plan()
    if plan.digest != previous_digest:
        changed = diff_inputs([PlanInput(**i) for i in state.meta.get("inputs") or []], plan.inputs)
        handle.journal.append(
            "resume_refused",
            run_id=handle.run_id,
            reason="runbook digest changed",
            was=previous_digest,
            now=plan.digest,
            changed=changed if state.meta.get("inputs") else None,
        )
        raise Refused(_changed_since_start(handle.run_id, was=previous_digest, now=plan.digest, changed=changed))
    initiator = state.meta.get("initiator")
    with _env_lock(ctx, handle, use_prefect=use_prefect, initiator=initiator), _run_lock(handle):
        if use_prefect:  # the lock is ours: the process that ran it is gone
            from golive.engine.flow import crash_orphaned_flow_runs

            crash_orphaned_flow_runs(
                handle.run_id, why=f"golive (pid {state.pid}) stopped without ending the run; it was resumed"
            )
        runner = _runner(
            ctx,
            handle=handle,
            use_prefect=use_prefect,
            listener=listener,
            ask_rollback=ask_rollback,
            initiator=state.meta.get("initiator"),
        )
        code = _run_in_flow(
            runner,
            lambda: runner.resume(state, by=by or current_user()),
            use_prefect=use_prefect,
            flow_name=ctx.loaded.runbook.name,
        )
    return handle, code, "resumed"


def execute_abort(
    root: Path,
    run_id: str | None,
    *,
    by: str | None = None,
    reason: str = "",
    use_prefect: bool = False,
    force_stale: str | None = None,
) -> tuple[RunHandle, int, str]:
    """Abort a live run (a control entry) or roll a dead one back from its journal.

    A dead run older than its env's newest run is refused unless ``force_stale`` (the reason).
    """
    handle = find_run(root, run_id)
    live = is_live(handle)
    state = _state_of(handle, live=live)
    if state.finished:
        raise Refused(f"run {handle.run_id} already finished: {state.status}")
    if live:
        send_control(handle, "abort", by=by, reason=reason)
        return handle, 0, "signalled"
    _refuse_if_stale(root, handle, action="abort", force_stale=force_stale, by=by)
    ctx, _ = _context_from(state, handle, with_history=False)
    with _flock(handle.dir / "lock", f"run {handle.run_id}"):
        runner = _runner(
            ctx,
            handle=handle,
            use_prefect=use_prefect,
            listener=None,
            ask_rollback=None,
            initiator=state.meta.get("initiator"),
        )
        code = runner.abort_dead(state, by=by or current_user(), reason=reason)
    return handle, code, "rolled back"


def _refuse_if_stale(root: Path, handle: RunHandle, *, action: str, force_stale: str | None, by: str | None) -> None:
    try:
        refuse_if_stale(
            root, handle.journal, run_id=handle.run_id, action=action, force_reason=force_stale, by=by or current_user()
        )
    except StaleRefused as exc:
        raise Refused(str(exc)) from None


def _changed_since_start(run_id: str, *, was: str, now: str, changed: list[str]) -> str:
    what = "; ".join(changed) if changed else "the run's journal does not list its inputs"
    return (
        f"the runbook or its inputs changed since run {run_id} started (plan {was[:12]} -> {now[:12]}): "
        f"{what}; start a new run instead"
    )


def _state_of(handle: RunHandle, *, live: bool) -> RunState:
    """A live run's journal is read past damage, as its runner reads it; a dead run's must be whole."""
    try:
        return fold(handle.journal, skip_damaged=live)
    except JournalCorrupt as exc:
        raise Refused(f"the journal is damaged: {exc}") from None


def _context_from(state: RunState, handle: RunHandle, *, with_history: bool) -> tuple[RunContext, str]:
    """What a dead run needs to go on or be undone, from a journal whose chain holds.

    Going on, ``previous`` is looked up again as ``golive run`` did (another release since
    then changes the digest, and the resume is refused); undoing, it is what the run began with.
    """
    found = handle.journal.integrity()
    if found.broken is not None:
        raise Refused(
            f"the journal's hash chain is broken ({found.broken}): golive does not restart or undo a run "
            "from a journal it did not write as it is. `golive status` shows what it says; check the "
            "hosts by hand and start a new run"
        )
    meta = state.meta
    inv = meta.get("inventory_path")
    ctx = prepare(
        Path(meta.get("file_abs") or meta["file"]),
        env=meta.get("env"),
        params=_cli_params(meta),
        inventory_path=Path(inv) if inv else None,
        previous=None if with_history else meta.get("previous", {}),
        with_history=with_history,
    )
    return ctx, str(meta["digest"])


def _cli_params(meta: dict[str, Any]) -> dict[str, Any]:
    return dict(meta.get("cli_params", meta.get("params", {})))
