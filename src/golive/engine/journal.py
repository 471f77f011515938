"""The run journal: append-only JSON lines, fsynced, each entry chained to the one before.

Every entry carries ``prev``, the sha256 of the previous line as written, so editing or
removing any entry breaks the chain at the next one (``verify`` finds where). Several
processes append (the runner, ``golive approve``, ``golive abort``): an exclusive
``flock`` around read-last-hash-then-append keeps the chain linear.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["GENESIS", "Journal", "JournalCorrupt", "runs_dir"]

GENESIS = "0" * 64


class JournalCorrupt(Exception):
    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


def runs_dir(root: Path) -> Path:
    explicit = os.environ.get("GOLIVE_RUNS_DIR")
    return Path(explicit) if explicit else root / "runs"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Journal:
    """One run's journal file. Cheap to open; every call re-reads what it needs from disk."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            prev, seq = self._tail(fd)
            entry = {"seq": seq, "ts": _now(), "event": event, **fields, "prev": prev}
            line = json.dumps(entry, sort_keys=True, default=str, separators=(",", ":")) + "\n"
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return entry

    @staticmethod
    def _tail(fd: int) -> tuple[str, int]:
        """Hash of the last line and the next sequence number."""
        last = Journal._last_line(fd)
        if not last:
            return GENESIS, 0
        seq = json.loads(last)["seq"] + 1
        return hashlib.sha256(last).hexdigest(), seq

    @staticmethod
    def _last_line(fd: int) -> bytes:
        """The last line, newline included, read backwards from the end; empty for an empty file."""
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

    def ends(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """First and last entries without reading what lies between ({} where unreadable)."""
        try:
            with self.path.open("rb") as f:
                head = f.readline()
                last = self._last_line(f.fileno())
        except OSError:
            return {}, {}
        out: list[dict[str, Any]] = []
        for raw in (head, last):
            try:
                entry = json.loads(raw) if raw else {}
            except ValueError:
                entry = {}
            out.append(entry if isinstance(entry, dict) else {})
        return out[0], out[1]

    def entries(self, *, start: int = 0) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    break  # a line cut by a crash mid-write is not an entry
                entry = json.loads(raw)
                if entry["seq"] >= start:
                    yield entry

    def read(self) -> list[dict[str, Any]]:
        return list(self.entries())

    def verify(self) -> int:
        """Check the hash chain; returns the number of entries, raises JournalCorrupt where it breaks."""
        prev = GENESIS
        n = 0
        with self.path.open("rb") as f:
            for lineno, raw in enumerate(f, start=1):
                if not raw.endswith(b"\n"):
                    raise JournalCorrupt(self.path, lineno, "truncated last line")
                try:
                    entry = json.loads(raw)
                except json.JSONDecodeError:
                    raise JournalCorrupt(self.path, lineno, "not JSON") from None
                if entry.get("prev") != prev:
                    raise JournalCorrupt(self.path, lineno, "hash chain broken: entry was edited, removed or inserted")
                if entry.get("seq") != lineno - 1:
                    raise JournalCorrupt(self.path, lineno, f"sequence {entry.get('seq')} where {lineno - 1} expected")
                prev = hashlib.sha256(raw).hexdigest()
                n += 1
        return n

    def head(self) -> str:
        if not self.path.exists():
            return GENESIS
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return self._tail(fd)[0]
        finally:
            os.close(fd)
