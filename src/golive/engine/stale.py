"""Runs of one environment against each other: a stale run must not undo a newer one.

A run killed mid-way stays unfinished in its journal. If a newer run of the same environment
started since, resuming or aborting the old one would apply or undo a release on hosts the
newer run has changed: refused unless forced (journaled). And a new run on an environment
whose previous run died unfinished starts only when asked to (``--after-crash``), since the
hosts may be half-way through the dead run's change.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from golive.engine.journal import Journal
from golive.history import RunEnds, journal_ends, runs_in_env

__all__ = [
    "StaleRefused",
    "crashed_previous",
    "describe",
    "lock_held",
    "newer_run",
    "refuse_after_crash",
    "refuse_if_stale",
]


class StaleRefused(Exception):
    """Going on would act on an environment a newer run has changed, or after an unresolved crash."""


def lock_held(run_dir: Path) -> bool:
    """True while a runner process holds the run's lock (an flock: it dies with its process)."""
    path = run_dir / "lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _status(run: RunEnds) -> str:
    final = run.final_status()
    if final is not None:
        return final
    return "running" if lock_held(run.path.parent) else "unfinished, its process is gone"


def describe(run: RunEnds) -> str:
    return f"{run.run_id} (runbook {run.runbook or '?'}, started {run.started}, {_status(run)})"


def newer_run(root: Path, *, run_id: str, env: str | None, started: str) -> RunEnds | None:
    """The newest run of ``env`` that started after ``started``; None when the run is the newest."""
    later = [r for r in runs_in_env(root, env=env) if r.run_id != run_id and r.started > started]
    return later[-1] if later else None


def refuse_if_stale(
    root: Path, journal: Journal, *, run_id: str, action: str, force_reason: str | None, by: str
) -> None:
    """Raise StaleRefused when a newer run of the run's env exists; forced, journal that and go on."""
    first, _ = journal_ends(journal.path)
    if first.get("event") != "run_started":
        return  # no start to compare: resume and abort refuse such a journal themselves
    newer = newer_run(root, run_id=run_id, env=first.get("env"), started=str(first.get("ts") or ""))
    if newer is None:
        return
    if force_reason is None:
        raise StaleRefused(
            f"run {run_id} is older than the newest run of env {first.get('env') or '-'}: {describe(newer)}. "
            f"To {action} {run_id} would act on hosts that run has changed since. Check the hosts, and start a "
            f"new run, or {action} it anyway with --force-stale --reason TEXT (journaled)"
        )
    journal.append(
        "stale_run_forced",
        run_id=run_id,
        action=action,
        by=by,
        reason=force_reason,
        newer_run_id=newer.run_id,
        newer_runbook=newer.runbook,
        newer_status=_status(newer),
    )


def crashed_previous(root: Path, *, env: str | None) -> RunEnds | None:
    """The env's newest run when it did not finish and no process holds it; else None."""
    runs = runs_in_env(root, env=env)
    if not runs:
        return None
    last = runs[-1]
    if last.final_status() is not None or lock_held(last.path.parent):
        return None
    return last


def refuse_after_crash(root: Path, *, env: str | None, after_crash: bool) -> str | None:
    """The crashed previous run's id when ``after_crash`` lets the new run start; StaleRefused without it."""
    crashed = crashed_previous(root, env=env)
    if crashed is None:
        return None
    if not after_crash:
        raise StaleRefused(
            f"the previous run of env {env or '-'} did not finish and no process runs it (killed or crashed): "
            f"{describe(crashed)}; its hosts may be half-changed. Resolve it first with "
            f"`golive resume {crashed.run_id}` or `golive abort {crashed.run_id}`, or start anyway with "
            "--after-crash (journaled)"
        )
    return crashed.run_id
