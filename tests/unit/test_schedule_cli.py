"""golive schedule refuses bad input before it touches a server (exit 2), and says how to get a server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from golive.cli import app

RUNBOOK = "name: tiny\nsteps:\n  - id: say\n    notify: hello\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "rb.yml").write_text(RUNBOOK)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing answers there
    monkeypatch.setenv("GOLIVE_ENV_FILE", str(tmp_path / "no-settings"))
    return tmp_path


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([], "exactly one of --cron, --interval and --at"),
        (["--cron", "0 2 * * 6", "--interval", "1h"], "exactly one of"),
        (["--cron", "61 2 * * *"], "not a cron expression"),
        (["--interval", "soon"], "--interval"),
        (["--interval", "2s"], "too often"),
        (["--cron", "0 2 * * 6", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["--at", "2001-01-01T00:00"], "is in the past"),
        (["--at", "tomorrowish"], "not a time"),
        (["--cron", "0 2 * * 6", "--name", "Bad Name"], "bad schedule name"),
        (["--cron", "0 2 * * 6", "-p", "oops"], "malformed param"),
        (["--cron", "0 2 * * 6", "-e", "nowhere"], "unknown environment 'nowhere'"),
    ],
)
def test_bad_input_is_refused_before_any_server_is_asked(project: Path, args: list[str], said: str) -> None:
    result = CliRunner().invoke(app, ["schedule", "rb.yml", *args])
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert "Prefect server" not in result.output


def test_a_broken_runbook_is_not_scheduled(project: Path) -> None:
    (project / "broken.yml").write_text("name: broken\nsteps:\n  - id: x\n    notify: hi\n    bake: 5s\n")
    result = CliRunner().invoke(app, ["schedule", "broken.yml", "--cron", "0 2 * * 6"])
    assert result.exit_code == 2 and "bake has no effect" in result.output


def test_without_a_prefect_server_it_says_how_to_start_one(project: Path) -> None:
    for args in (["schedule", "rb.yml", "--cron", "0 2 * * 6"], ["schedules"], ["unschedule", "x"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "does not answer" in result.output and "golive lab up" in result.output
        assert "prefect worker start --pool golive" in result.output
