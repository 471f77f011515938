"""golive's exit codes, said once: the CLI, the engine and the reports all read them here."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["EXIT_TEXT", "ExitCode"]


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # failed and rolled back: every change was undone
    BAD_INPUT = 2  # nothing was executed
    ROLLBACK_FAILED = 3  # a human must act
    REFUSED = 4  # window, lock, approval rejected, changed inputs
    INTERRUPTED = 130  # the journal says where


EXIT_TEXT = {
    ExitCode.OK: "succeeded",
    ExitCode.FAILED: "failed and rolled back: every change was undone",
    ExitCode.BAD_INPUT: "bad input: nothing was executed",
    ExitCode.ROLLBACK_FAILED: "ROLLBACK FAILED OR INCOMPLETE: a human must act now",
    ExitCode.REFUSED: "refused (lock, approval rejected or timed out, digest changed)",
    ExitCode.INTERRUPTED: "interrupted: the journal says where",
}
