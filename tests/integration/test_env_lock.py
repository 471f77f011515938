"""One run per environment across project directories that share a Prefect server (as two machines would)."""

from __future__ import annotations

import os
import signal

import pytest
from kit import Project

from golive.engine.journal import Journal

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

EXIT_OK, EXIT_REFUSED = 0, 4


def hold(pause: str) -> dict[str, object]:
    return {"name": "env-lock", "owner": "ops-test", "steps": [{"id": "hold", "pause": pause}]}


def started_hold(project: Project) -> Journal:
    return project.wait_journal(
        lambda entries: any(e["event"] == "step_started" and e.get("step") == "hold" for e in entries),
        timeout=120,
        what="the hold step to start",
    )


def test_a_second_project_is_refused_while_the_first_holds_the_env_and_starts_once_it_is_done(
    project: Project, second_project: Project
) -> None:
    """Project B is refused (exit 4, naming A's run, no run dir left) while A runs on env lab; after A, B runs."""
    first = project.start(project.runbook("hold", hold("120s")))
    run_id = started_hold(project).read()[0]["run_id"]
    quick = second_project.runbook("quick", hold("1s"))

    refused = second_project.run(quick)
    assert refused.returncode == EXIT_REFUSED, refused.stdout + refused.stderr
    assert run_id in refused.stderr and "golive unlock lab --reason" in refused.stderr
    assert second_project.journals() == [], "a refused start leaves no run behind"
    listed = second_project.golive("locks")
    assert run_id in listed.stdout and "alive" in listed.stdout, listed.stdout + listed.stderr

    assert project.golive("promote", run_id).returncode == EXIT_OK
    assert project.wait_exit(first) == EXIT_OK, project.output()
    done = second_project.run(quick)
    assert done.returncode == EXIT_OK, done.stdout + done.stderr


def test_a_killed_holder_is_reported_stale_and_unlock_releases_it_journaled(
    project: Project, second_project: Project
) -> None:
    """SIGKILLed holder: B's start names it stale (exit 4); `golive unlock lab` frees it, noted in A's journal."""
    holder = project.start(project.runbook("hold", hold("120s")))
    journal = started_hold(project)
    os.kill(holder.pid, signal.SIGKILL)
    assert holder.wait(timeout=10) == -signal.SIGKILL
    quick = second_project.runbook("quick", hold("1s"))

    refused = second_project.run(quick)
    assert refused.returncode == EXIT_REFUSED, refused.stdout + refused.stderr
    assert "stale" in refused.stderr and journal.read()[0]["run_id"] in refused.stderr

    unlocked = second_project.golive("unlock", "lab", "--reason", "runner killed by the test")
    assert unlocked.returncode == EXIT_OK, unlocked.stdout + unlocked.stderr
    released = [e for e in journal.read() if e["event"] == "lock_released"]
    assert [(e["scope"], e["reason"], e["holder_alive"]) for e in released] == [
        ("server", "runner killed by the test", False)
    ]
    done = second_project.run(quick)
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
