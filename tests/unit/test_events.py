"""Journal events are typed: what the journal takes, refuses, and reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from entries import run_started
from golive.engine.events import EVENTS, InvalidEvent, RunStarted, StepStarted, parse
from golive.engine.journal import GENESIS, Journal


def test_each_model_is_named_after_its_event() -> None:
    for event, model in EVENTS.items():
        assert model.__name__ == "".join(part.capitalize() for part in event.split("_")), event


def test_an_entry_reads_back_as_its_model_with_the_fields_written(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.jsonl")
    j.append("run_started", **run_started("r1", steps=[{"id": "a", "kind": "check"}]))
    j.append("step_started", run_id="r1", step="a", index=0, kind="check")
    first, second = j.events()
    assert isinstance(first, RunStarted) and first.steps == [{"id": "a", "kind": "check"}] and first.file_abs is None
    assert isinstance(second, StepStarted) and (second.seq, second.step, second.index) == (1, "a", 0)
    assert first.prev == GENESIS != second.prev
    assert parse(j.read()[1]) == second


@pytest.mark.parametrize(
    ("event", "fields", "problem"),
    [
        ("step_begun", {"step": "a"}, "unknown event"),
        ("step_done", {"step": "a", "host": "app-1"}, "host: Extra inputs are not permitted"),
        ("step_done", {}, "step: Field required"),
        ("step_started", {"step": "a", "index": "first", "kind": "check"}, "index: Input should be a valid integer"),
        ("run_finished", {"status": "done", "exit_code": 0}, "status: Input should be"),
        ("step_done", {"step": "a", "seq": 7}, "seq: written by the journal itself"),
        (
            "action_result",
            {"step": "a", "batch": 1, "ok": True, "hosts": {"app-1": {"ok": True, "message": "", "rc": 0}}},
            "hosts.app-1.rc: Extra inputs are not permitted",
        ),
    ],
)
def test_an_entry_its_model_refuses_raises_and_nothing_is_written(
    tmp_path: Path, event: str, fields: dict[str, object], problem: str
) -> None:
    j = Journal(tmp_path / "journal.jsonl")
    j.append("run_started", **run_started("r1"))
    before = j.path.read_bytes()
    with pytest.raises(InvalidEvent, match=problem):
        j.append(event, run_id="r1", **fields)
    assert j.path.read_bytes() == before


def test_a_journal_written_before_events_were_typed_reads_as_before(tmp_path: Path) -> None:
    line = {"seq": 0, "ts": "2026-01-01T00:00:00.000+00:00", "event": "step_done", "run_id": "r", "step": "a"}
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({**line, "prev": "0" * 64}, sort_keys=True, separators=(",", ":")) + "\n")
    found = Journal(path).integrity()
    assert found.entries == 1  # the chain holds; with no head record beside it, its last entry is unchecked
    assert found.broken is not None and "no head record" in found.broken.reason
    assert parse(Journal(path).read()[0]).model_dump() == {**line, "prev": "0" * 64}


def test_parse_names_the_event_and_the_field_that_does_not_fit() -> None:
    with pytest.raises(InvalidEvent, match=r"'batch_done': .*failed_hosts: Field required"):
        parse(
            {"seq": 0, "ts": "", "prev": "", "run_id": "r", "event": "batch_done", "step": "a", "batch": 1, "hosts": []}
        )
    with pytest.raises(InvalidEvent, match="unknown event"):
        parse({"seq": 0, "event": "mystery"})
