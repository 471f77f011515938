"""The watch after go-live on the lab: a good release succeeds after its watch; a service that breaks during
the watch is rolled back by golive with no command typed; a runner killed during the watch is resumed and
watches on for the time left."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from chaos_kit import APP_HOSTS, brisk, deploy_v1, journal_of, use_app_hosts, versions, wait_entry
from kit import REPO, Project

from golive.engine.journal import Journal
from golive_lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(420)]


@pytest.fixture
def rolling(project: Project, lab: Lab) -> Iterator[Project]:
    use_app_hosts(project, lab)
    assert versions(lab) == dict.fromkeys(APP_HOSTS, "v1"), "a test before left the app hosts off v1"
    try:
        yield project
    finally:
        for host in APP_HOSTS:
            lab.host_up(host, timeout=20)
        deploy_v1(lab)


def watched(project: Project, seconds: int) -> Path:
    """runbooks/rolling-demo.yml with its watch lasting ``seconds``."""
    body = brisk(yaml.safe_load((REPO / "runbooks" / "rolling-demo.yml").read_text()))
    body["watch"]["for"] = f"{seconds}s"
    return project.runbook(f"watched-{seconds}", body)


def events(journal: Journal, name: str) -> list[dict[str, object]]:
    return [e for e in journal.read() if e["event"] == name]


def test_a_good_release_succeeds_after_its_watch(rolling: Project, lab: Lab) -> None:
    done = rolling.run(watched(rolling, 4), "-p", "version=v2", "--no-prefect")
    assert done.returncode == 0, done.stderr[-3000:]
    j = rolling.only_journal()
    names = [e["event"] for e in j.read()]
    assert names.index("watch_started") < names.index("watch_ended") < names.index("run_finished")
    assert events(j, "watch_ended")[0]["how"] == "elapsed"
    assert versions(lab) == dict.fromkeys(APP_HOSTS, "v2")


def test_a_service_that_breaks_during_the_watch_is_rolled_back_with_no_command_typed(
    rolling: Project, lab: Lab
) -> None:
    proc = rolling.start(watched(rolling, 120), "-p", "version=v2", "--no-prefect")
    wait_entry(rolling, "watch_started", timeout=180)
    lab.app_crash("app-5")
    assert rolling.wait_exit(proc, timeout=180) == 1, rolling.output()
    j = journal_of(rolling)
    alert = events(j, "watch_alert")[0]
    assert alert["action"] == "rollback" and "app-5" in str(alert["reason"])
    assert events(j, "run_finished")[0]["status"] == "rolled_back"
    assert not [e for e in j.read() if e["event"] == "control"]  # nobody typed a command
    assert versions(lab) == dict.fromkeys(APP_HOSTS, "v1")


def test_a_runner_killed_during_the_watch_is_resumed_and_watches_for_the_time_left(rolling: Project, lab: Lab) -> None:
    proc = rolling.start(watched(rolling, 15), "-p", "version=v2", "--no-prefect")
    j = wait_entry(rolling, "watch_started", timeout=180)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    run_id = str(j.read()[0]["run_id"])
    resumed = rolling.golive("resume", run_id, "--no-prefect", timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = events(j, "run_resumed")[0]
    assert len(events(j, "watch_started")) == 1  # the same watch, not a new one of 15 s
    ended = [e for e in j.read() if e["event"] == "watch_ended"]
    assert ended and ended[0]["seq"] > after["seq"] and ended[0]["how"] == "elapsed"
    assert str(ended[0]["ts"]) >= str(events(j, "watch_started")[0]["until"])[:19].replace("+00:00", "")
    assert versions(lab) == dict.fromkeys(APP_HOSTS, "v2")
