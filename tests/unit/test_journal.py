"""The journal's hash chain as users meet it: status says where it broke, resume refuses."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from entries import run_started
from golive.engine.journal import GENESIS, Cursor, Journal, JournalCorrupt
from golive.engine.state import fold
from polling import eventually

EXIT_OK, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 2, 4


def written(path: Path, n: int) -> Journal:
    j = Journal(path)
    j.append("run_started", **run_started("r1"))
    for i in range(n - 1):
        j.append("notified", run_id="r1", step=f"s{i}", message=f"line {i}")
    return j


def edit_line(path: Path, number: int, old: str, new: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    assert old in lines[number - 1]
    lines[number - 1] = lines[number - 1].replace(old, new)
    path.write_text("".join(lines))


def test_an_intact_journal_reports_its_length_and_the_hash_of_its_last_line(tmp_path: Path) -> None:
    j = written(tmp_path / "journal.jsonl", 4)
    found = j.integrity()
    last = j.path.read_bytes().splitlines(keepends=True)[-1]
    assert found.intact and found.entries == 4 == j.verify()
    assert found.head == hashlib.sha256(last).hexdigest() == j.head()
    assert j.seal() == f"journal 4 entries, head {found.head}"
    assert Journal(tmp_path / "none.jsonl").seal() == f"journal 0 entries, head {GENESIS}"


def test_an_edited_entry_breaks_the_chain_at_the_entry_after_it(tmp_path: Path) -> None:
    j = written(tmp_path / "journal.jsonl", 4)
    edit_line(j.path, 2, "line 0", "line O")
    found = j.integrity()
    assert not found.intact and found.broken is not None
    assert (found.broken.line, found.entries) == (3, 2)
    assert "edited, removed or inserted" in found.broken.reason
    with pytest.raises(JournalCorrupt):
        j.verify()
    assert found.as_dict()["broken_at"] == 3


def test_an_edit_of_the_last_entry_is_caught_by_the_head_record_and_the_seal_kept_elsewhere(tmp_path: Path) -> None:
    j = written(tmp_path / "journal.jsonl", 3)
    sealed = j.seal()  # what the Prefect flow run's final state message keeps
    edit_line(j.path, 3, "line 1", "line I")
    found = j.integrity()
    assert found.broken is not None and found.broken.line == 3 and "edited" in found.broken.reason
    assert j.seal() != sealed


def _lines(j: Journal) -> list[bytes]:
    return j.path.read_bytes().splitlines(keepends=True)


TAMPERS = {
    "last line deleted": lambda ls: ls[:-1],
    "last two lines deleted": lambda ls: ls[:-2],
    "last line cut mid-way": lambda ls: [*ls[:-1], ls[-1][:20]],
    "last line replaced by a copy of the one before": lambda ls: [*ls[:-1], ls[-2]],
    "two lines swapped": lambda ls: [ls[0], ls[2], ls[1], *ls[3:]],
    "a line duplicated": lambda ls: [*ls[:2], ls[1], *ls[2:]],
    "everything emptied": lambda ls: [],
}


@pytest.mark.parametrize("tamper", TAMPERS, ids=list(TAMPERS))
def test_every_change_to_the_journal_is_found(tmp_path: Path, tamper: str) -> None:
    """Whatever is done to its lines, the chain or the head record beside it no longer agrees."""
    j = written(tmp_path / "journal.jsonl", 4)
    j.path.write_bytes(b"".join(TAMPERS[tamper](_lines(j))))
    found = j.integrity()
    assert not found.intact, found
    with pytest.raises(JournalCorrupt):
        j.verify()


def test_a_head_one_entry_behind_is_a_crash_between_append_and_head_and_is_accepted(tmp_path: Path) -> None:
    """The head is replaced after the line is fsynced: a crash between the two leaves it one behind."""
    j = written(tmp_path / "journal.jsonl", 3)
    behind = j.head_path.read_bytes()
    j.append("notified", run_id="r1", step="s9", message="after")
    j.head_path.write_bytes(behind)
    found = j.integrity()
    assert found.intact and "one entry behind" in found.note
    j.append("notified", run_id="r1", step="s10", message="mends it")
    assert j.integrity().intact and not j.integrity().note


def test_a_removed_head_record_is_reported(tmp_path: Path) -> None:
    j = written(tmp_path / "journal.jsonl", 2)
    j.head_path.unlink()
    found = j.integrity()
    assert found.broken is not None and "no head record" in found.broken.reason


def test_journal_and_head_are_private_to_their_owner(tmp_path: Path) -> None:
    j = written(tmp_path / "runs" / "r1" / "journal.jsonl", 2)
    assert j.path.stat().st_mode & 0o777 == 0o600
    assert j.head_path.stat().st_mode & 0o777 == 0o600
    assert j.run_dir.stat().st_mode & 0o777 == 0o700


def test_a_line_that_is_no_entry_is_named_by_reading_and_by_the_chain(tmp_path: Path) -> None:
    j = written(tmp_path / "journal.jsonl", 3)
    with j.path.open("a") as f:
        f.write("{broken\n")
    with pytest.raises(JournalCorrupt) as raised:
        fold(j)
    assert raised.value.line == 4 and "not a JSON entry" in str(raised.value)
    found = j.integrity()
    assert found.broken is not None and found.broken.line == 4 and found.entries == 3
    edit_line(j.path, 4, "{broken", '{"seq": "x"}')
    with pytest.raises(JournalCorrupt, match="no seq or event"):
        list(j.entries())


def test_a_reader_following_a_journal_reads_only_complete_new_lines(tmp_path: Path) -> None:
    j = written(tmp_path / "journal.jsonl", 3)
    cursor = Cursor()
    assert [e["seq"] for e in j.follow(cursor)] == [0, 1, 2]
    assert j.follow(cursor) == []
    with j.path.open("a") as f:
        f.write('{"seq": 3, "event": "control"')  # still being written
    assert j.follow(cursor) == []
    with j.path.open("a") as f:
        f.write("}\nnot an entry\n")
    damaged: list[int] = []
    assert [e["seq"] for e in j.follow(cursor, on_damage=lambda exc: damaged.append(exc.line))] == [3]
    assert damaged == [5] and cursor.line == 5
    j.path.write_text(j.path.read_text().splitlines(keepends=True)[0])  # rewritten shorter
    assert [e["seq"] for e in j.follow(cursor)] == [0]


def test_an_entry_appended_after_a_line_that_is_no_entry_is_kept_and_chained_to_it(tmp_path: Path) -> None:
    j = written(tmp_path / "journal.jsonl", 2)
    with j.path.open("a") as f:
        f.write("garbage\n")
    entry = j.append("rollback_started", run_id="r1", reason="gate failed", units=[])
    assert entry["seq"] == 3 and entry["prev"] == hashlib.sha256(b"garbage\n").hexdigest()
    found = j.integrity()
    assert found.broken is not None and found.broken.line == 3  # the garbage, not the entry after it


# ------------------------------------------------------------------ the CLI


@pytest.fixture
def cli(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    runbook = tmp_path / "two.yml"
    steps = [{"id": "first", "notify": "first step"}, {"id": "second", "notify": "second step"}]
    runbook.write_text(yaml.safe_dump({"name": "journal-cli", "steps": steps}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GOLIVE_"))}
    env.update(GOLIVE_RUNS_DIR=str(tmp_path / "runs"), GOLIVE_ENV_FILE=str(tmp_path / "no-settings"), CI="true")
    return runbook, env


def golive(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "golive.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def finished_run(tmp_path: Path, cli: tuple[Path, dict[str, str]]) -> tuple[dict[str, str], Path]:
    """Run the two-step runbook without Prefect; the env used and the run's journal."""
    runbook, env = cli
    assert golive(env, tmp_path, "run", str(runbook), "--no-prefect").returncode == EXIT_OK
    (path,) = (tmp_path / "runs").glob("*/journal.jsonl")
    return env, path


def test_status_shows_the_head_of_an_intact_journal_and_exits_2_where_the_chain_breaks(
    tmp_path: Path, cli: tuple[Path, dict[str, str]]
) -> None:
    env, path = finished_run(tmp_path, cli)
    head = Journal(path).head()

    ok = golive(env, tmp_path, "status")
    assert ok.returncode == EXIT_OK and f"hash chain intact, head {head}" in ok.stdout

    edit_line(path, 3, '"first step"', '"frist step"')
    edited = golive(env, tmp_path, "status")
    assert edited.returncode == EXIT_BAD_INPUT
    assert "JOURNAL NOT AS WRITTEN" in edited.stdout and "journal.jsonl:4" in edited.stdout.replace("\n", "")
    as_json = json.loads(golive(env, tmp_path, "status", "--json").stdout)
    assert as_json["journal"]["intact"] is False and as_json["journal"]["broken_at"] == 4

    with path.open("a") as f:
        f.write("not json\n")
    damaged = golive(env, tmp_path, "status")
    assert damaged.returncode == EXIT_BAD_INPUT and "Traceback" not in damaged.stderr
    listed = golive(env, tmp_path, "runs")
    assert listed.returncode == EXIT_OK and "damaged" in listed.stdout


def test_a_dead_run_is_not_resumed_or_rolled_back_from_an_edited_journal(
    tmp_path: Path, cli: tuple[Path, dict[str, str]]
) -> None:
    env, path = finished_run(tmp_path, cli)
    lines = path.read_text().splitlines(keepends=True)
    assert json.loads(lines[-1])["event"] == "run_finished"
    path.write_text("".join(lines[:-1]))  # as if killed before the end: resumable
    edit_line(path, 3, '"first"', '"second"')
    before = path.read_bytes()
    for args in (("resume", "--no-prefect"), ("abort",)):
        refused = golive(env, tmp_path, *args)
        assert refused.returncode == EXIT_REFUSED, refused.stderr
        assert "hash chain is broken" in refused.stderr and "journal.jsonl:4" in refused.stderr.replace("\n", "")
    assert path.read_bytes() == before  # nothing done, nothing written


def test_a_live_run_whose_journal_got_a_stray_line_still_takes_an_abort(
    tmp_path: Path, cli: tuple[Path, dict[str, str]]
) -> None:
    _, env = cli
    runbook = tmp_path / "hold.yml"
    runbook.write_text(yaml.safe_dump({"name": "journal-hold", "steps": [{"id": "hold", "pause": "120s"}]}))
    runner = subprocess.Popen(
        [sys.executable, "-m", "golive.cli", "run", str(runbook), "--no-prefect"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        path = eventually(
            lambda: next((tmp_path / "runs").glob("*/journal.jsonl"), None), timeout=60, what="the journal"
        )
        eventually(lambda: '"step_started"' in path.read_text(), timeout=60, what="the hold step", interval=0.1)
        with path.open("a") as f:
            f.write("a stray line\n")
        aborted = golive(env, tmp_path, "abort", "--reason", "stray line test")
        assert aborted.returncode == EXIT_OK, aborted.stderr
        assert runner.wait(timeout=60) != 0
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    events = [e["event"] for e in Journal(path).entries(on_damage=lambda exc: None)]
    assert events.count("journal_damaged") == 1 and "control" in events and events[-1] == "run_finished"


def test_journal_verify_says_intact_or_names_every_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`golive journal verify` exits 0 on a journal as written and 2, naming what is wrong, otherwise."""
    from typer.testing import CliRunner

    from golive.cli import app

    monkeypatch.setenv("GOLIVE_RUNS_DIR", str(tmp_path / "runs"))
    j = written(tmp_path / "runs" / "r1" / "journal.jsonl", 4)
    result = CliRunner().invoke(app, ["journal", "verify", "r1"])
    assert result.exit_code == 0 and "journal intact: 4 entries, seq 0..3" in result.output
    j.path.write_bytes(b"".join(_lines(j)[:-1]))
    result = CliRunner().invoke(app, ["journal", "verify", "r1"])
    assert result.exit_code == 2 and "entries were removed" in result.output


def test_journal_verify_finds_entries_out_of_time_order(tmp_path: Path) -> None:
    j = written(tmp_path / "journal.jsonl", 3)
    assert j.check_all() == []
    lines = _lines(j)
    late = lines[1].replace(b'"ts":"', b'"ts":"2999-')
    assert late != lines[1]
    j.path.write_bytes(b"".join([lines[0], late, lines[2]]))
    problems = j.check_all()
    assert any("before an earlier entry" in p for p in problems)
