"""One ansible-playbook for all of a step's batches, held at golive's gate between them.

Real ``ansible-playbook`` runs on a local inventory whose tasks need no connection
(``debug``, ``fail``, ``set_fact``), so no lab is needed; what the tests look at is which
hosts ran in which batch, what a batch's result says, and that the play ends when told.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from golive.drivers.ansible import RollingPlaybook, rolling_playbook

HOSTS = ["h1", "h2", "h3", "h4", "h5"]
PLAY = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: work
      ansible.builtin.debug: {msg: "{{ inventory_hostname }} {{ version }}"}
    - name: refuse
      ansible.builtin.fail: {msg: "h2 refuses"}
      when: inventory_hostname == 'h2'
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "inventory").mkdir()
    lines = "".join(f"    {h}: {{ansible_host: 127.0.0.1, ansible_port: 9}}\n" for h in HOSTS)
    (tmp_path / "inventory" / "hosts.yml").write_text("all:\n  hosts:\n" + lines)
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "roll.yml").write_text(PLAY)
    return tmp_path


def session(
    project: Path, batches: list[list[str]], *, playbook: str = "roll.yml", order: list[str] | None = None
) -> tuple[RollingPlaybook | None, str]:
    return rolling_playbook(
        playbook=project / "playbooks" / playbook,
        inventory=project / "inventory" / "hosts.yml",
        batches=list(enumerate(batches, start=1)),
        match=lambda pattern: list(order or HOSTS),
        extravars={"version": "v2"},
        forks=5,
        tags=None,
        on_event=None,
        cancel=None,
        work_dir=project / "work",
    )


def gated(
    project: Path, batches: list[list[str]], *, playbook: str = "roll.yml"
) -> tuple[RollingPlaybook, list[dict[str, Any]]]:
    """A session that can run gated, and the events it will have sent."""
    rolling, why = session(project, batches, playbook=playbook)
    assert rolling is not None, why
    seen: list[dict[str, Any]] = []
    rolling.on_event = seen.append
    return rolling, seen


def ran(events: list[dict[str, Any]]) -> list[str]:
    return [e["host"] for e in events if e.get("event") == "ok" and e.get("task") == "work"]


def test_batches_run_in_one_process_and_wait_at_the_gate_until_released(project: Path) -> None:
    rolling, seen = gated(project, [["h1"], ["h2", "h3"], ["h4", "h5"]])
    try:
        first = rolling.run_batch(1, timeout=120)
        assert first.ok and list(first.results) == ["h1"]
        assert ran(seen) == ["h1"], "a later batch ran before the first was released"
        second = rolling.run_batch(2, timeout=120)
        assert second.results["h3"].ok
        assert not second.results["h2"].ok and "h2 refuses" in second.results["h2"].message
        third = rolling.run_batch(3, timeout=120)
        assert third.ok and sorted(third.results) == ["h4", "h5"]
        idents = {r.detail["ident"] for r in (first, second, third)}
        assert len(idents) == 1, f"expected one ansible-playbook process, got {idents}"
        assert sorted(ran(seen)) == HOSTS
    finally:
        rolling.close()
    assert not list((project / "playbooks").glob(".golive-*")), "the gated copy of the playbook was left behind"


def test_closing_at_the_gate_stops_the_play_before_the_next_batch(project: Path) -> None:
    rolling, seen = gated(project, [["h1"], ["h3", "h4"]])
    result = rolling.run_batch(1, timeout=120)
    assert result.ok
    proc = rolling._proc
    assert proc is not None
    rolling.close()
    assert (proc.gate_dir / "stopped-1").exists(), "close() returned before the gate stopped the play"
    proc.thread.join(60)
    assert not proc.thread.is_alive(), "the play did not end when golive stopped it"
    assert proc.runner.status == "failed"
    assert ran(seen) == ["h1"]
    gates = sorted(p.name for p in proc.gate_dir.iterdir())
    assert gates == ["arrived-1.json", "decision-1", "stopped-1"]
    assert (proc.gate_dir / "decision-1").read_text() == "stop"
    assert json.loads((proc.gate_dir / "arrived-1.json").read_text())["active"] == ["h1"]


def test_a_play_started_early_waits_before_its_first_batch_until_released(project: Path) -> None:
    rolling, seen = gated(project, [["h1"], ["h3"]])
    rolling.prestart()
    proc = rolling._proc
    assert proc is not None and proc.held
    try:
        deadline = time.monotonic() + 60
        while not (proc.gate_dir / "arrived-0.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (proc.gate_dir / "arrived-0.json").exists(), "the held play never reached its start gate"
        assert ran(seen) == [], "a task ran before the play was released"
        first = rolling.run_batch(1, timeout=120)
        assert first.ok and first.detail["ident"] == proc.ident
        assert rolling.run_batch(2, timeout=120).ok
        assert ran(seen) == ["h1", "h3"]
    finally:
        rolling.close()


def test_a_held_play_that_is_never_released_ends_without_running_a_task(project: Path) -> None:
    rolling, seen = gated(project, [["h1"], ["h3"]])
    rolling.prestart()
    proc = rolling._proc
    assert proc is not None
    rolling.close()  # before Ansible even reached the gate
    proc.thread.join(60)
    assert not proc.thread.is_alive()
    assert ran(seen) == []
    assert (proc.gate_dir / "decision-0").read_text() == "stop"


def test_a_batch_whose_every_host_fails_ends_the_play_and_the_next_batch_starts_a_new_one(project: Path) -> None:
    rolling, _ = gated(project, [["h2"], ["h3"]])
    try:
        first = rolling.run_batch(1, timeout=120)
        assert not first.ok and first.detail["status"] == "failed"
        second = rolling.run_batch(2, timeout=120)
        assert second.ok
        assert first.detail["ident"] != second.detail["ident"]
    finally:
        rolling.close()


@pytest.mark.parametrize(
    ("playbook", "text", "why"),
    [
        ("two.yml", PLAY + PLAY, "more than one play"),
        ("serial.yml", PLAY.replace("gather_facts: false", "gather_facts: false\n  serial: 2"), "serial"),
        ("free.yml", PLAY.replace("gather_facts: false", "gather_facts: false\n  strategy: free"), "strategy"),
        ("tmpl.yml", PLAY.replace("hosts: all", 'hosts: "{{ target }}"'), "templated"),
        ("vault.yml", PLAY.replace('"{{ inventory_hostname }} {{ version }}"', "!vault |\n  abc"), "not plain YAML"),
    ],
)
def test_playbooks_that_cannot_be_gated_get_a_process_per_batch_and_say_why(
    project: Path, playbook: str, text: str, why: str
) -> None:
    (project / "playbooks" / playbook).write_text(text)
    rolling, reason = session(project, [["h1"], ["h2"]], playbook=playbook)
    assert rolling is None
    assert why in reason


def test_a_host_order_ansible_would_not_follow_gets_a_process_per_batch(project: Path) -> None:
    rolling, reason = session(project, [["h3"], ["h1"]], order=HOSTS)
    assert rolling is None and "order" in reason


def test_action_plugins_the_project_configures_still_load_beside_the_gate(project: Path) -> None:
    (project / "my_actions").mkdir()
    (project / "my_actions" / "shout.py").write_text(
        "from ansible.plugins.action import ActionBase\n\n\n"
        "class ActionModule(ActionBase):\n"
        "    _requires_connection = False\n\n"
        "    def run(self, tmp=None, task_vars=None):\n"
        "        return {'changed': False, 'msg': 'shouted'}\n"
    )
    (project / "ansible.cfg").write_text("[defaults]\naction_plugins = my_actions\n")
    (project / "playbooks" / "shout.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: work\n      shout: {}\n"
    )
    rolling, _ = gated(project, [["h1"], ["h3"]], playbook="shout.yml")
    try:
        assert rolling.run_batch(1, timeout=120).ok
        assert rolling.run_batch(2, timeout=120).ok
    finally:
        rolling.close()
