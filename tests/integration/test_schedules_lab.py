"""Schedules on the lab's Prefect server and worker: a run scheduled with --at happens, complete, and
golive schedules / unschedule show and remove it."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from kit import Project

from golive.engine.journal import Journal
from golive_lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]


def _flow_runs(name: str) -> list[object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    async def read() -> list[object]:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name]))
            )
            return list(runs)

    return asyncio.run(read())


def test_a_run_scheduled_at_a_time_happens_complete_and_is_listed_and_removed(
    project: Project, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", project.env["PREFECT_API_URL"])
    rb = project.runbook(
        "sched",
        {
            "name": "sched-probe",
            "steps": [
                {
                    "id": "touch",
                    "ssh": {"hosts": "db-2", "command": "date > /srv/sched-probe"},
                    "rollback": {"ssh": {"hosts": "db-2", "command": "rm -f /srv/sched-probe"}},
                }
            ],
        },
    )
    name = f"sched-probe-{int(time.time())}"
    at = (datetime.now(UTC) + timedelta(seconds=4)).isoformat(timespec="seconds")
    yearly = f"{name}-yearly"
    made = project.golive("schedule", str(rb), "-e", "lab", "--at", at, "--name", name)
    assert made.returncode == 0, made.stderr
    try:
        made = project.golive("schedule", str(rb), "-e", "lab", "--cron", "0 3 1 1 *", "--tz", "UTC", "--name", yearly)
        assert made.returncode == 0, made.stderr
        listed = project.golive("schedules")
        assert listed.returncode == 0 and name in listed.stdout, listed.stdout + listed.stderr
        row = next(line for line in listed.stdout.splitlines() if yearly in line)
        assert "cron 0 3 1 1 * (UTC)" in row and re.search(r"\d{4}-01-01T03:00:00", row), row  # its next run, now
        unknown = project.golive("unschedule", "no-such-schedule")
        assert unknown.returncode == 2 and "no schedule named 'no-such-schedule'" in unknown.stderr, unknown.stderr
        assert yearly in unknown.stderr  # says which exist
        deadline = time.monotonic() + 150
        state = None
        while time.monotonic() < deadline:
            runs = _flow_runs(name)
            state = runs[0].state if runs else None  # type: ignore[attr-defined]
            if state is not None and state.is_final():
                break
            time.sleep(1.0)
        assert state is not None and state.is_completed(), f"the scheduled run ended {state}; see {lab.dir}/prefect"
        journals = list((project.root / "runs").glob("*/journal.jsonl"))
        assert len(journals) == 1, journals
        entries = Journal(journals[0]).read()
        assert entries[0]["initiator"] == f"schedule:{name}"
        finished = [e for e in entries if e["event"] == "run_finished"]
        assert [e["status"] for e in finished] == ["succeeded"]
        assert Journal(journals[0]).verify() == len(entries)
    finally:
        project.golive("unschedule", yearly)
        gone = project.golive("unschedule", name)
    assert gone.returncode == 0, gone.stderr
    left = project.golive("schedules").stdout
    assert name not in left and yearly not in left, left
