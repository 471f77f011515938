"""Errors golive raises, split by what the caller should do about them.

``RunbookError`` is bad input: nothing was executed, the CLI exits 2 and names file,
line and fix.  Driver errors say whether a retry can help: ``TransientError`` is
retried (bounded), ``PermanentError`` never is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DriverError",
    "GoliveError",
    "Issue",
    "JournalCorrupt",
    "JournalUnwritable",
    "NotFoundError",
    "PermanentError",
    "RunbookError",
    "TransientError",
]


class GoliveError(Exception):
    """Base of every error golive raises on purpose."""


class JournalCorrupt(GoliveError):
    """A run journal that is not what golive wrote: a line edited, removed, inserted or unreadable."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class JournalUnwritable(BaseException):
    """The journal, or a file the run keeps beside it (a gated play's decision), cannot be written.

    Disk full or an I/O error: golive stops at once. A BaseException on purpose: every decision
    is journaled before it takes effect, so a run that cannot journal must start no further
    action, and handlers meant for failed actions (``except Exception``, which would go on to
    roll back, unjournaled) must not catch it. What the journal holds is all durable; the run
    is resumed like a killed one.
    """

    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(f"{path}: {error.strerror or error}")
        self.path = path
        self.error = error


@dataclass(frozen=True)
class Issue:
    """One problem found in a runbook or its surroundings, with where and how to fix it."""

    file: str
    line: int | None
    message: str
    fix: str = ""
    severity: str = "error"  # or "warning"

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.severity}: {self.message}" if self.severity == "warning" else f"{where}: {self.message}"
        return f"{text} — {self.fix}" if self.fix else text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
            "severity": self.severity,
        }


@dataclass
class RunbookError(GoliveError):
    """Bad input. Carries every issue found in one pass so the user fixes them at once."""

    issues: list[Issue] = field(default_factory=list)

    @classmethod
    def single(cls, file: str | Path, line: int | None, message: str, fix: str = "") -> RunbookError:
        return cls([Issue(str(file), line, message, fix)])

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    def __str__(self) -> str:
        return "\n".join(i.render() for i in self.issues)


class DriverError(GoliveError):
    """A driver could not apply, undo or check a change."""

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host


class TransientError(DriverError):
    """A fault that may pass: connection refused or reset, banner timeout, HTTP 429/502/503/504."""

    def __init__(self, message: str, *, host: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, host=host)
        self.retry_after = retry_after


class PermanentError(DriverError):
    """A deterministic failure: retrying would give the same answer."""


class NotFoundError(PermanentError):
    """What was asked for does not exist (an API object, its namespace)."""
