"""A journal that cannot be written stops the run before any further change (disk full, I/O error)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from test_runner import FakeWorld, make_runner

from golive.engine import journal as journal_mod
from golive.engine.journal import Journal
from golive.engine.state import fold
from golive.errors import JournalUnwritable


class DiskFull:
    """``os.write`` for journal lines: the first ``budget`` lines go through, then the disk is full.

    The failing write first puts half the line on disk, as a filling disk does, then fails.
    """

    def __init__(self, budget: int, on_full: Any = None) -> None:
        self.budget = budget
        self.on_full = on_full or (lambda: None)
        self.real = os.write

    def __call__(self, fd: int, data: bytes) -> int:
        if not data.startswith(b'{"') or b'"prev":' not in data:  # not a journal line (the head record, say)
            return self.real(fd, data)
        if self.budget <= 0:
            self.on_full()
            self.real(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.budget -= 1
        return self.real(fd, data)


def _entries_of_a_whole_run(tmp_path: Path, *, bad: bool) -> int:
    world = FakeWorld(bad_hosts={"app-2"} if bad else set())
    runner = make_runner(tmp_path / "whole", world)
    _drop_preflight(runner)
    runner.start()
    return len(runner.journal.read())


def _drop_preflight(runner: Any) -> None:
    runner.runbook = runner.runbook.model_copy(
        update={"steps": [s for s in runner.runbook.steps if s.id != "preflight"]}
    )
    runner.plan = runner.plan.model_copy(update={"steps": [s for s in runner.plan.steps if s.id != "preflight"]})


@pytest.mark.parametrize("bad", [False, True], ids=["release", "release-rolled-back"])
def test_a_run_whose_journal_fills_takes_no_further_action_and_resumes_to_the_same_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: bool
) -> None:
    """At every entry of a run (forward and rollback): the failed append stops it at once, nothing
    else is applied or undone, the journal keeps its whole lines, and a resume once space is back
    ends the run as an uninterrupted one would."""
    total = _entries_of_a_whole_run(tmp_path, bad=bad)
    expected = 1 if bad else 0
    for budget in range(1, total):
        world = FakeWorld(bad_hosts={"app-2"} if bad else set())
        calls_at_full: list[int] = []
        full = DiskFull(budget, on_full=lambda w=world, seen=calls_at_full: seen.append(len(w.calls)))
        runner = make_runner(tmp_path / f"run-{budget}", world)
        _drop_preflight(runner)
        with monkeypatch.context() as m:
            m.setattr(journal_mod.os, "write", full)
            with pytest.raises(JournalUnwritable, match="No space left"):
                runner.start()
        assert calls_at_full and len(world.calls) == calls_at_full[0], f"an action after the full disk at {budget}"
        journal = Journal(runner.journal.path)
        assert journal.verify() == budget, f"the torn line was not cut off at {budget}"

        state = fold(journal)
        resumed = make_runner(tmp_path / f"run-{budget}", world)
        resumed.runbook, resumed.plan = runner.runbook, runner.plan
        assert resumed.resume(state, by="erin") == expected, f"resume after a full disk at entry {budget}"
        assert fold(journal).status == ("rolled_back" if bad else "succeeded")
        assert journal.verify() == len(journal.read())


def test_a_failed_append_leaves_the_journal_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line torn by a full disk is cut off again: the chain still verifies and the next append links to it."""
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("paused", run_id="r1", step="a", reason="first", howto="")
    before = journal.path.read_bytes()
    with monkeypatch.context() as m:
        m.setattr(journal_mod.os, "write", DiskFull(0))
        with pytest.raises(JournalUnwritable) as caught:
            journal.append("paused", run_id="r1", step="a", reason="second", howto="")
    assert caught.value.error.errno == errno.ENOSPC and str(journal.path) in str(caught.value)
    assert journal.path.read_bytes() == before
    journal.append("paused", run_id="r1", step="a", reason="third", howto="")
    assert journal.verify() == 2


def test_an_unwritable_journal_is_no_error_a_handler_for_failed_actions_catches() -> None:
    """Handlers that roll back on a failed action catch Exception; the journal's failure passes them by."""
    assert not issubclass(JournalUnwritable, Exception)
