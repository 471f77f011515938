"""The run journal: append-only JSON lines, fsynced, each entry chained to the one before.

Every entry carries ``prev``, the sha256 of the previous line as written, so editing or
removing any entry breaks the chain at the next one (``integrity`` finds where). The
last entry has no successor to give it away, so its hash, the ``head``, is also kept
outside the runs directory: in the final state message of the run's Prefect flow run.
Several processes append (the runner, ``golive approve``, ``golive abort``): an
exclusive ``flock`` around read-last-hash-then-append keeps the chain linear; readers
that check the chain take it shared.

Every entry is checked against its event's model (``golive.engine.events``) before it is
written: an unknown event, or a field the model does not declare or of the wrong type, raises
``InvalidEvent`` and leaves the journal as it was. Readers get the dicts as written, or typed
events through ``events()``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from golive.engine import events as typed
from golive.engine.events import Event, InvalidEvent
from golive.errors import JournalCorrupt, JournalUnwritable
from golive.history import journal_ends, last_line, runs_dir

__all__ = ["GENESIS", "Cursor", "Integrity", "InvalidEvent", "Journal", "JournalCorrupt", "runs_dir"]

GENESIS = "0" * 64


@dataclass
class Cursor:
    """Where a reader following a journal stopped: byte offset and line number."""

    offset: int = 0
    line: int = 0


@dataclass(frozen=True)
class Integrity:
    """What a check of the hash chain found: entries read, the head hash, where it broke."""

    entries: int
    head: str
    broken: JournalCorrupt | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"entries": self.entries, "intact": self.intact, "head": self.head}
        if self.broken is not None:
            out.update(broken_at=self.broken.line, reason=self.broken.reason)
        return out


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
        """Write one entry; raises InvalidEvent, writing nothing, if ``event``'s model refuses ``fields``."""
        typed.check(event, fields)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError as exc:
            raise JournalUnwritable(self.path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            prev, seq = self._tail(fd)
            entry = {"seq": seq, "ts": _now(), "event": event, **fields, "prev": prev}
            line = json.dumps(entry, sort_keys=True, default=str, separators=(",", ":")) + "\n"
            self._write_whole(fd, line.encode())
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return entry

    def _write_whole(self, fd: int, data: bytes) -> None:
        """Write and fsync one line, or leave the file as it was and raise JournalUnwritable.

        A disk that fills mid-line would leave a torn last line that breaks the chain for
        every later reader; it is cut off again so that what the journal holds stays sound.
        """
        size = os.lseek(fd, 0, os.SEEK_END)
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise JournalUnwritable(self.path, exc) from exc

    @staticmethod
    def _tail(fd: int) -> tuple[str, int]:
        """Hash of the last line and the next sequence number."""
        last = Journal._last_line(fd)
        if not last:
            return GENESIS, 0
        try:
            seq = int(json.loads(last)["seq"]) + 1
        except (ValueError, KeyError, TypeError):  # a line that is no entry: still never lose the next one
            size = os.lseek(fd, 0, os.SEEK_END)
            seq = os.pread(fd, size, 0).count(b"\n")
        return hashlib.sha256(last).hexdigest(), seq

    @staticmethod
    def _last_line(fd: int) -> bytes:
        return last_line(fd)

    def ends(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """First and last entries without reading what lies between ({} where unreadable)."""
        return journal_ends(self.path)

    def entries(
        self, *, start: int = 0, on_damage: Callable[[JournalCorrupt], None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Entries from sequence ``start``.

        A line golive cannot have written raises JournalCorrupt, or, given ``on_damage``, is
        passed to it and skipped (a live runner must still see the controls after it).
        """
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            complete = itertools.takewhile(lambda raw: raw.endswith(b"\n"), f)  # a line cut mid-write is none
            for entry in self._parsed(complete, 1, on_damage):
                if entry["seq"] >= start:
                    yield entry

    def follow(
        self, cursor: Cursor, *, on_damage: Callable[[JournalCorrupt], None] | None = None
    ) -> list[dict[str, Any]]:
        """The entries completed since ``cursor``, which moves past them: a poll reads only what is new."""
        try:
            with self.path.open("rb") as f:
                if os.fstat(f.fileno()).st_size < cursor.offset:  # rewritten shorter: read it all again
                    cursor.offset = cursor.line = 0
                f.seek(cursor.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next poll
        out = list(self._parsed(io.BytesIO(complete), cursor.line + 1, on_damage))
        cursor.offset += len(complete)
        cursor.line += complete.count(b"\n")
        return out

    def _parsed(
        self, lines: Iterable[bytes], first_line: int, on_damage: Callable[[JournalCorrupt], None] | None
    ) -> Iterator[dict[str, Any]]:
        for lineno, raw in enumerate(lines, start=first_line):
            try:
                yield self._parse(raw, lineno)
            except JournalCorrupt as exc:
                if on_damage is None:
                    raise
                on_damage(exc)

    def _parse(self, raw: bytes, lineno: int) -> dict[str, Any]:
        try:
            entry = json.loads(raw)
        except ValueError:
            raise JournalCorrupt(self.path, lineno, "not a JSON entry") from None
        if not (isinstance(entry, dict) and isinstance(entry.get("seq"), int) and isinstance(entry.get("event"), str)):
            raise JournalCorrupt(self.path, lineno, "not a journal entry (no seq or event)")
        return entry

    def events(self, *, start: int = 0, on_damage: Callable[[JournalCorrupt], None] | None = None) -> Iterator[Event]:
        """Entries from sequence ``start`` as typed events; an entry no model accepts raises InvalidEvent."""
        for entry in self.entries(start=start, on_damage=on_damage):
            yield typed.parse(entry)

    def read(self) -> list[dict[str, Any]]:
        return list(self.entries())

    def verify(self) -> int:
        """Check the hash chain; returns the number of entries, raises JournalCorrupt where it breaks."""
        found = self.integrity()
        if found.broken is not None:
            raise found.broken
        return found.entries

    def integrity(self) -> Integrity:
        """Walk the hash chain.

        The bytes are read under a shared lock, so no append is seen half-written, and checked
        after it is released, so a live runner's appends never wait for the check.
        """
        try:
            with self.path.open("rb") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH)
                data = f.read()
        except FileNotFoundError:
            return Integrity(0, GENESIS, JournalCorrupt(self.path, 0, "no journal"))
        prev = GENESIS
        n = 0
        for lineno, raw in enumerate(io.BytesIO(data), start=1):  # lines end at b"\n" only, as in the file
            problem = self._chain_problem(raw, lineno, prev)
            if problem:
                return Integrity(n, prev, JournalCorrupt(self.path, lineno, problem))
            prev = hashlib.sha256(raw).hexdigest()
            n += 1
        return Integrity(n, prev)

    def _chain_problem(self, raw: bytes, lineno: int, prev: str) -> str | None:
        if not raw.endswith(b"\n"):
            return "truncated last line"
        try:
            entry = self._parse(raw, lineno)
        except JournalCorrupt as exc:
            return exc.reason
        if entry.get("prev") != prev:
            return "hash chain broken: this entry or the one before was edited, removed or inserted"
        if entry["seq"] != lineno - 1:
            return f"sequence {entry['seq']} where {lineno - 1} expected"
        return None

    def head(self) -> str:
        return self._head_and_count()[0]

    def seal(self) -> str:
        """The journal's length and head in one line, for a record kept outside the runs directory."""
        head, count = self._head_and_count()
        return f"journal {count} entries, head {head}"

    def _head_and_count(self) -> tuple[str, int]:
        if not self.path.exists():
            return GENESIS, 0
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return self._tail(fd)
        finally:
            os.close(fd)
