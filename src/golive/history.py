"""What is live now: read from the journals of past runs, without the engine.

``golive plan`` and ``golive run`` must build the same plan, and ``previous`` (what the
last successful run released) is part of it, so both ask this module, as do Prefect
deployments and ``golive resume``. Only the read side of journals lives here: the first
and last lines of a journal file, where runs are kept. Writing stays in
``golive.engine.journal``, which reads its own tail through the same code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RUNS_DIR_VAR", "RunEnds", "journal_ends", "last_line", "previous_from_history", "runs_dir", "runs_in_env"]


RUNS_DIR_VAR = "GOLIVE_RUNS_DIR"


def runs_dir(root: Path) -> Path:
    """Where runs are kept: ``$GOLIVE_RUNS_DIR``, else ``<project root>/runs``."""
    explicit = os.environ.get(RUNS_DIR_VAR)
    return Path(explicit) if explicit else root / "runs"


def last_line(fd: int) -> bytes:
    """The last line of an open file, newline included, read backwards from the end; empty for an empty file."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return b""
    chunk = 4096
    data = b""
    pos = size
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        data = os.pread(fd, step, pos) + data
        if data.count(b"\n") >= 2 or pos == 0:
            break
    return data.rstrip(b"\n").rsplit(b"\n", 1)[-1] + b"\n"


def journal_ends(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """First and last entries of a journal without reading what lies between ({} where unreadable)."""
    try:
        with path.open("rb") as f:
            head = f.readline()
            last = last_line(f.fileno())
    except OSError:
        return {}, {}
    return _entry(head), _entry(last)


def _entry(raw: bytes) -> dict[str, Any]:
    try:
        entry = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}


def _final_status(path: Path) -> str | None:
    """The status of the journal's last ``run_finished`` entry; None when it has none or a damaged line.

    Read through the whole file: a control appended after the end (a late approval) hides the
    end from ``journal_ends``. Nothing follows a terminal ``run_finished`` but controls and
    notification outcomes, so the last one is the run's status.
    """
    status: str | None = None
    try:
        with path.open("rb") as f:
            for raw in f:
                entry = _entry(raw)
                if not entry:
                    _skipped(path, "a line that is no journal entry")
                    return None
                if entry.get("event") == "run_finished":
                    status = entry.get("status")
    except OSError:
        return None
    return status


def _skipped(path: Path, problem: str) -> None:
    import structlog  # only when there is something to say: plan and validate start faster without it

    structlog.get_logger(__name__).warning("journal_damaged_skipped", journal=str(path), problem=problem)


def previous_from_history(root: Path, *, runbook: str, env: str | None) -> dict[str, Any]:
    """Params of the last run of this runbook in this env that succeeded: what is live now."""
    base = runs_dir(root)
    if not base.is_dir():
        return {}
    for path in sorted(base.glob("*/journal.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True):
        first, last = journal_ends(path)
        if first.get("event") != "run_started" or first.get("runbook") != runbook or first.get("env") != env:
            continue
        if last.get("event") == "run_finished":
            succeeded = last.get("status") == "succeeded"
        else:
            succeeded = _final_status(path) == "succeeded"
        if succeeded:
            return dict(first.get("params") or {})
    return {}


@dataclass(frozen=True)
class RunEnds:
    """A run as the two ends of its journal tell it: what, where, when it started, how it ended."""

    run_id: str
    path: Path
    first: dict[str, Any]
    last: dict[str, Any]

    @property
    def started(self) -> str:
        return str(self.first.get("ts") or "")

    @property
    def runbook(self) -> str | None:
        return self.first.get("runbook")

    def final_status(self) -> str | None:
        """How the run ended; None while it has not (running, or its process died)."""
        event = self.last.get("event")
        if event == "run_finished":
            return self.last.get("status")
        if event == "run_refused":
            return "refused"
        return _final_status(self.path)  # a late control may follow the end: read it through


def runs_in_env(root: Path, *, env: str | None) -> list[RunEnds]:
    """Every run of ``env``, oldest first by its ``run_started`` time (only each journal's ends are read)."""
    base = runs_dir(root)
    if not base.is_dir():
        return []
    found = []
    for path in base.glob("*/journal.jsonl"):
        first, last = journal_ends(path)
        if first.get("event") == "run_started" and first.get("env") == env:
            found.append(RunEnds(path.parent.name, path, first, last))
    return sorted(found, key=lambda r: (r.started, r.run_id))
