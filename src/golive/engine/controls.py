"""Steering a live run: controls other processes append to its journal, read as they come.

``Steering`` is the runner's public face for everything that waits (bakes, pauses,
approvals): it records events, follows the journal (folding every entry into the one run
state), hands out pending controls and says when the run was aborted. Waiting is on the
injected clock and sleep, so unit tests run it on fake time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from golive.engine.journal import Cursor, Journal, JournalCorrupt
from golive.engine.state import RunState
from golive.exits import ExitCode
from golive.secrets import redact

__all__ = ["Aborted", "Steering", "StepFailed"]

log = structlog.get_logger(__name__)

CONTROL_POLL_S = 0.2
INCONCLUSIVE_WAIT_S = 3600.0


class StepFailed(Exception):
    def __init__(self, step: str, reason: str, batch: int | None = None) -> None:
        reason = redact(reason)  # the message goes to Prefect's task state and logs as it is
        super().__init__(reason)
        self.step = step
        self.reason = reason
        self.batch = batch


class Aborted(Exception):
    def __init__(self, reason: str, *, rollback: bool = True, exit_code: int = ExitCode.FAILED) -> None:
        reason = redact(reason)
        super().__init__(reason)
        self.reason = reason
        self.rollback = rollback
        self.exit_code = exit_code


@dataclass
class Steering:
    """The journal, the run state folded from it, and the controls not yet acted on."""

    journal: Journal
    run_id: str
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    listener: Callable[[dict[str, Any]], None] = lambda e: None
    state: RunState = field(default_factory=RunState)
    abort_reason: str | None = None
    _cursor: Cursor = field(default_factory=Cursor)
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _promote: bool = False
    _damaged: set[int] = field(default_factory=set)
    _seen_seq: int = -1

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Journal an event; it is folded into the state (with whatever others appended before it)."""
        entry = self.journal.append(event, run_id=self.run_id, **fields)
        log.info(event, **{k: v for k, v in fields.items() if k not in ("steps", "record")})
        self.poll()
        self.listener(entry)
        return entry

    def skip_to(self, state: RunState) -> None:
        """Start from a state folded earlier (resume, abort): what it saw is not acted on again."""
        self.state = state
        self._seen_seq = state.last_seq

    def poll(self) -> None:
        """Fold what was appended since the last look; queue controls for whoever waits for them."""
        damaged: list[JournalCorrupt] = []
        for e in self.journal.follow(self._cursor, on_damage=damaged.append):
            if e["seq"] <= self._seen_seq:
                continue  # folded before (a resumed run starts past what its first process saw)
            self._seen_seq = e["seq"]
            self.state.apply(e)
            if e["event"] != "control":
                continue
            action = e.get("action")
            if action == "abort" and self.abort_reason is None:
                self.abort_reason = f"aborted by {e.get('by')}" + (f": {e['reason']}" if e.get("reason") else "")
            elif action == "promote":
                if not self.state.promotable:
                    continue  # sent for no bake or wait (or one now over): never spent on a later one
                self._promote = True
            self._pending.append(e)
        for exc in damaged:
            self._damaged_line(exc)

    def _damaged_line(self, exc: JournalCorrupt) -> None:
        """A line golive did not write: said once, and the run goes on."""
        if exc.line not in self._damaged:
            self._damaged.add(exc.line)
            log.error("journal_damaged", journal=str(exc.path), line=exc.line, reason=exc.reason)
            self.record("journal_damaged", line=exc.line, reason=exc.reason)

    def take(self, *actions: str) -> list[dict[str, Any]]:
        """The pending controls of these actions, removed from the queue."""
        taken = [e for e in self._pending if e.get("action") in actions]
        self._pending = [e for e in self._pending if e.get("action") not in actions]
        return taken

    def stop_reason(self) -> str | None:
        self.poll()
        return self.abort_reason

    def check_abort(self) -> None:
        """Raise Aborted when someone aborted; wait when someone paused."""
        self.poll()
        if self.abort_reason:
            raise Aborted(self.abort_reason)
        if self.take("pause"):
            self.wait_paused("paused by request")

    def wait(self, seconds: float, *, promotable: bool = False) -> str:
        """Wait while honouring controls; 'elapsed' or 'promoted'. Raises Aborted."""
        end = self.clock() + seconds
        while True:
            self.check_abort()
            if promotable and self._promote:
                self._promote = False
                return "promoted"
            left = end - self.clock()
            if left <= 0:
                return "elapsed"
            self.sleep(min(CONTROL_POLL_S, left))

    def forget_promote(self) -> None:
        """A promote sent before a bake began is not spent on a later one."""
        self._promote = False
        self.take("promote")

    def wait_paused(self, reason: str, *, step: str | None = None, limit: float = INCONCLUSIVE_WAIT_S) -> str | None:
        """Hold until someone resumes (who, returned) or aborts (raises Aborted), at most ``limit``."""
        self.record(
            "paused", step=step, reason=reason, howto=f"golive resume {self.run_id} | golive abort {self.run_id}"
        )
        end = self.clock() + limit
        while self.clock() < end:
            self.poll()
            if self.abort_reason:
                raise Aborted(self.abort_reason)
            resumed = self.take("resume")
            if resumed:
                by = resumed[0].get("by")
                self.record("unpaused", step=step, by=by)
                return str(by) if by else None
            self.sleep(CONTROL_POLL_S)
        raise Aborted(f"nobody answered within {limit:g}s while paused: {reason}")
