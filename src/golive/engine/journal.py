"""The run journal: append-only JSON lines, fsynced, each entry chained to the one before.

Every entry carries ``prev``, the sha256 of the previous line as written, so editing or
removing any entry breaks the chain at the next one (``integrity`` finds where). The
last entry has no successor to give it away, so its hash, the ``head``, is also kept
beside the journal in ``journal.head`` (its seq, hash and the journal's length, replaced
atomically under the same lock after every append), and outside the runs directory in the
final state message of the run's Prefect flow run. A crash between an append and the head's
update leaves the head one entry behind: one further entry that chains is accepted (and the
next append mends the head); an edited, removed or truncated last entry is not.

The journal and its head are written 0600 in a run directory of 0700: they hold who did what.
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
from golive.secrets import redact_tree

__all__ = ["GENESIS", "HEAD_FILE", "Cursor", "Integrity", "InvalidEvent", "Journal", "JournalCorrupt", "runs_dir"]

GENESIS = "0" * 64
HEAD_FILE = "journal.head"


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
    note: str = ""

    @property
    def intact(self) -> bool:
        return self.broken is None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"entries": self.entries, "intact": self.intact, "head": self.head}
        if self.broken is not None:
            out.update(broken_at=self.broken.line, reason=self.broken.reason)
        if self.note:
            out["note"] = self.note
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

    @property
    def head_path(self) -> Path:
        return self.path.parent / HEAD_FILE

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one entry; raises InvalidEvent, writing nothing, if ``event``'s model refuses ``fields``.

        Every secret's value in ``fields`` is written as ``***`` (golive.secrets).
        """
        fields = redact_tree(fields)
        typed.check(event, fields)
        try:
            if not self.path.parent.is_dir():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.parent.chmod(0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise JournalUnwritable(self.path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            prev, seq = self._tail(fd)
            entry = {"seq": seq, "ts": _now(), "event": event, **fields, "prev": prev}
            line = (json.dumps(entry, sort_keys=True, default=str, separators=(",", ":")) + "\n").encode()
            self._write_whole(fd, line)
            try:
                self._write_head(seq=seq, head=hashlib.sha256(line).hexdigest(), size=os.lseek(fd, 0, os.SEEK_END))
            except OSError as exc:  # the line stands (a head one behind is accepted); the run must still stop
                raise JournalUnwritable(self.head_path, exc) from exc
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return entry

    def _write_head(self, *, seq: int, head: str, size: int) -> None:
        """Replace journal.head atomically (called with the journal's lock held)."""
        temp = self.head_path.with_name(f".{HEAD_FILE}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps({"seq": seq, "head": head, "bytes": size}, sort_keys=True).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self.head_path)

    def read_head(self) -> dict[str, Any] | None:
        """The head record as written, or None when there is none or it is not one."""
        try:
            data = json.loads(self.head_path.read_bytes())
        except (OSError, ValueError):
            return None
        ok = isinstance(data, dict) and isinstance(data.get("seq"), int) and isinstance(data.get("head"), str)
        return data if ok else None

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
        prev = before = GENESIS
        n = 0
        for lineno, raw in enumerate(io.BytesIO(data), start=1):  # lines end at b"\n" only, as in the file
            problem = self._chain_problem(raw, lineno, prev)
            if problem:
                return Integrity(n, prev, JournalCorrupt(self.path, lineno, problem))
            before, prev = prev, hashlib.sha256(raw).hexdigest()
            n += 1
        return self._against_head(Integrity(n, prev), before=before)

    def check_all(self) -> list[str]:
        """Every problem ``golive journal verify`` reports: the chain and head, then order in time."""
        found = self.integrity()
        problems = [str(found.broken)] if found.broken is not None else []
        last_ts = ""
        try:
            entries = list(self.entries(on_damage=lambda _: None))
        except OSError as exc:
            return [*problems, f"cannot read: {exc}"]
        for e in entries:
            ts = str(e.get("ts") or "")
            if ts and last_ts and ts < last_ts:
                problems.append(f"{self.path}: entry {e['seq']} is dated {ts}, before an earlier entry ({last_ts})")
            last_ts = max(last_ts, ts)
        return problems

    def _against_head(self, found: Integrity, *, before: str) -> Integrity:
        """The chain's end compared with the head record: what the chain alone cannot show."""
        head = self.read_head()
        last = found.entries - 1
        if head is None:
            if found.entries == 0:
                return found
            return Integrity(
                found.entries,
                found.head,
                JournalCorrupt(
                    self.path,
                    found.entries,
                    f"no head record ({HEAD_FILE}) beside the journal: removed, or written by an older golive; "
                    "its last entry cannot be checked",
                ),
            )
        if head["seq"] == last and head["head"] == found.head:
            return found
        if head["seq"] == last - 1 and head["head"] == before:
            return Integrity(
                found.entries, found.head, note="head record one entry behind (a crash between append and head)"
            )
        if head["seq"] > last:
            why = f"the journal ends at entry {last} but its head record says {head['seq']}: entries were removed"
        else:
            why = f"entry {head['seq']} is not the one written (its hash differs from the head record): edited"
        return Integrity(found.entries, found.head, JournalCorrupt(self.path, head["seq"] + 1, why))

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
