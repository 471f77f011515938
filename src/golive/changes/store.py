"""Where changes are kept: the ``ChangeStore`` protocol and the store on disk.

On disk, ``<runs dir>/changes/<id>.json`` holds one change with its events. Every write
replaces the whole file atomically (a temporary file, fsynced, renamed over it) under an
exclusive ``flock`` on ``<id>.lock``, so two approvals at once both land and a crash
leaves the old record or the new one, never half of one. The directory is 0700 and the
files 0600: who approved what is no one else's to edit.
"""

from __future__ import annotations

import difflib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from golive.changes.model import CHANGE_ID, Change, ChangeEvent

__all__ = ["BadChangeId", "BadStoreSetting", "ChangeStore", "DiskChangeStore", "StoreUnavailable", "UnknownChange"]


class BadChangeId(Exception):
    """A change id that is malformed or names no change; bad input (exit 2)."""


class BadStoreSetting(BadChangeId):
    """``GOLIVE_CHANGE_STORE`` names no store golive has, or one it cannot reach as configured."""


class StoreUnavailable(Exception):
    """The place changes are kept did not answer; nothing was recorded or run (exit 4)."""


class UnknownChange(BadChangeId):
    def __init__(self, change_id: str, known: list[str]) -> None:
        near = difflib.get_close_matches(change_id, known, n=1)
        hint = f"did you mean {near[0]}? " if near else ""
        listed = ", ".join(known[-10:]) or "none (golive plan RUNBOOK -e ENV --save proposes one)"
        super().__init__(f"no change {change_id!r}: {hint}known changes: {listed}")


class ChangeStore(Protocol):
    """What golive needs of a place that keeps changes."""

    def create(self, change: Change) -> None:
        """Keep a new change; its id must be new."""

    def get(self, change_id: str) -> Change:
        """The change as kept now; raises BadChangeId/UnknownChange."""

    def append(self, change_id: str, event: ChangeEvent, *, check: Callable[[Change], None] | None = None) -> Change:
        """Add one event, after ``check`` (which may raise) passed on the change as it is then."""

    def ids(self) -> list[str]:
        """Every change id, oldest first."""


def check_id(change_id: str) -> None:
    if not CHANGE_ID.match(change_id):
        raise BadChangeId(
            f"malformed change id {change_id!r}: change ids look like chg-20261203-0612-ab12 "
            "(`golive changes` lists them)"
        )


class DiskChangeStore:
    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def _path(self, change_id: str) -> Path:
        return self.dir / f"{change_id}.json"

    def create(self, change: Change) -> None:
        check_id(change.id)
        with self._locked(change.id):
            if self._path(change.id).exists():
                raise FileExistsError(f"change {change.id} exists already")
            self._write(change)

    def get(self, change_id: str) -> Change:
        check_id(change_id)
        path = self._path(change_id)
        if not path.is_file():
            raise UnknownChange(change_id, self.ids())
        return Change.model_validate_json(path.read_bytes())

    def append(self, change_id: str, event: ChangeEvent, *, check: Callable[[Change], None] | None = None) -> Change:
        check_id(change_id)
        with self._locked(change_id):
            change = self.get(change_id)  # read under the lock: checks see every event before ours
            if check is not None:
                check(change)
            change = change.model_copy(update={"events": [*change.events, event]})
            self._write(change)
        return change

    def ids(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("chg-*.json") if CHANGE_ID.match(p.stem))

    @contextmanager
    def _locked(self, change_id: str) -> Iterator[None]:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.dir / f"{change_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _write(self, change: Change) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{change.id}.", suffix=".tmp")  # mkstemp: 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(change.model_dump_json(indent=2) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path(change.id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a crash
        finally:
            os.close(dir_fd)
