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


def test_at_reads_a_clock_time_in_the_zone_today_or_tomorrow() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from golive.cli.schedule_cmds import _at

    now = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    assert _at("12:30", ZoneInfo("Asia/Shanghai"), now) == datetime(2026, 12, 4, 4, 30, tzinfo=UTC)
    assert _at("02:00", ZoneInfo("UTC"), now) == datetime(2026, 12, 5, 2, 0, tzinfo=UTC)  # past today: tomorrow
    when = _at("2026-12-05T02:00", ZoneInfo("Europe/Berlin"), now)
    assert when == datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
    assert _at("2026-12-05T02:00+08:00", ZoneInfo("Europe/Berlin"), now) == datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


def test_the_deployment_schedule_is_the_one_asked_for_in_its_zone() -> None:
    from datetime import timedelta
    from types import SimpleNamespace

    from golive.engine.schedules import ScheduleSpec, _describe, _schedules

    base = {"name": "n", "runbook": Path("/p/rb.yml"), "env": "lab", "params": {}, "root": Path("/p")}
    cron = _schedules(ScheduleSpec(**base, cron="0 2 * * 6", tz="Asia/Shanghai"))
    assert [(s.cron, s.timezone) for s in cron] == [("0 2 * * 6", "Asia/Shanghai")]
    every = _schedules(ScheduleSpec(**base, interval_s=1800))
    assert [s.interval for s in every] == [timedelta(minutes=30)]
    assert _schedules(ScheduleSpec(**base)) == []  # --at: no schedule, one flow run
    shown = [SimpleNamespace(schedule=SimpleNamespace(cron="0 2 * * 6", timezone="Asia/Shanghai"))]
    assert _describe(shown) == "cron 0 2 * * 6 (Asia/Shanghai)"
    assert _describe([SimpleNamespace(schedule=SimpleNamespace(interval=timedelta(hours=6)))]) == "every 6h"
    assert _describe([SimpleNamespace(schedule=SimpleNamespace(interval=timedelta(seconds=90)))]) == "every 90s"
    assert _describe([]) == "once (--at)"
