"""Notifications on the lab: a real run tells the lab's inbox (Apprise json:// to a local HTTP receiver)."""

from __future__ import annotations

import pytest
from kit import Project

from golive_lab import inbox
from golive_lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]


def test_a_lab_run_that_rolls_back_tells_the_inbox_and_journals_each_send(project: Project, lab: Lab) -> None:
    """run_started, gate_failed, rollback_started, rollback_finished and run_finished reach the inbox with
    the run's id; each send is journaled; the run's exit code is the rollback's (1)."""
    before = len(inbox.messages(lab.dir))
    rb = project.runbook(
        "tell",
        {
            "name": "notify-lab",
            "steps": [
                {
                    "id": "mark",
                    "ssh": {"hosts": "db-1", "command": "echo x > /srv/notify-lab"},
                    "verify": [{"command": "test -f /srv/no-such-file", "hosts": "db-1", "count": 1}],
                    "rollback": {"ssh": {"hosts": "db-1", "command": "rm -f /srv/notify-lab"}},
                },
            ],
        },
    )
    done = project.run(rb, "--no-prefect")
    assert done.returncode == 1, done.stderr[-3000:]
    journal = project.only_journal()
    run_id = journal.read()[0]["run_id"]
    got = [m["body"] for m in inbox.messages(lab.dir)[before:] if run_id in str(m["body"])]
    titles = " | ".join(b["title"] for b in got)
    for said in ("notify-lab started on lab", "gate failed at mark", "rolling back notify-lab", "rolled back"):
        assert said in titles, (titles, [e for e in journal.read() if e["event"].startswith("notif")])
    sent = {e["notification"] for e in journal.read() if e["event"] == "notification_sent"}
    assert sent >= {"run_started", "gate_failed", "rollback_started", "rollback_finished", "run_finished"}
    assert all(e["channel"] == "lab-inbox" for e in journal.read() if e["event"] == "notification_sent")
    shown = project.golive("lab", "inbox", "--dir", str(lab.dir), "-n", "3")
    assert shown.returncode == 0 and "notify-lab" in shown.stdout, shown.stdout + shown.stderr
