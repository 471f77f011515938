"""The Ansible driver without lab hosts: bad playbooks, dead hosts, and how events become results."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from golive.drivers.ansible import run_playbook
from golive.drivers.ansible.events import Collector
from golive.drivers.ansible.run import MAX_CONTROL_DIR, SSH_KEEPALIVE, ansible_environment, control_dir
from golive.errors import PermanentError, TransientError


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def project(tmp_path: Path) -> Path:
    port = _closed_port()
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "hosts.yml").write_text(
        "all:\n  hosts:\n"
        f"    h1: {{ansible_host: 127.0.0.1, ansible_port: {port}}}\n"
        f"    h2: {{ansible_host: 127.0.0.1, ansible_port: {port}}}\n"
    )
    (tmp_path / "ping.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: ping\n      ansible.builtin.ping:\n"
    )
    (tmp_path / "local.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: say\n"
        "      ansible.builtin.debug: {msg: '{{ greeting }}'}\n"
    )
    (tmp_path / "slow.yml").write_text(
        # The local connection runs the module with this interpreter, not one found on PATH
        # (a version manager's shim there may not run in the test's directory).
        "- hosts: all\n  gather_facts: false\n  connection: local\n"
        f"  vars: {{ansible_python_interpreter: {sys.executable}}}\n  tasks:\n    - name: wait\n"
        "      ansible.builtin.command: sleep 30\n"
    )
    (tmp_path / "broken.yml").write_text(
        "- hosts: all\n  tasks:\n    - name: broken\n      ansible.builtin.debug: msg=x\n      nokeyword: 1\n"
    )
    return tmp_path


def _run(project: Path, playbook: str, **kw: Any) -> Any:
    return run_playbook(
        playbook=project / playbook,
        inventory=project / "inventory",
        hosts=kw.pop("hosts", ["h1"]),
        extravars=kw.pop("extravars", {}),
        work_dir=project / "work",
        **kw,
    )


def test_missing_playbook_is_permanent(project: Path) -> None:
    """A playbook that does not exist fails before anything runs."""
    with pytest.raises(PermanentError, match="not found"):
        _run(project, "nope.yml")


def test_syntax_error_is_permanent_with_ansible_text(project: Path) -> None:
    """A playbook Ansible cannot parse raises PermanentError quoting Ansible's error."""
    with pytest.raises(PermanentError, match="conflicting action statements"):
        _run(project, "broken.yml")


def test_all_hosts_refusing_is_transient(project: Path) -> None:
    """When every host refuses the connection the run is worth retrying."""
    with pytest.raises(TransientError, match="Connection refused"):
        _run(project, "ping.yml", hosts=["h1", "h2"])


def test_events_stream_and_extravars_arrive(project: Path) -> None:
    """Compact events reach on_event, and extravars reach the playbook."""
    events: list[dict[str, Any]] = []
    result = _run(project, "local.yml", hosts=["h1", "h2"], extravars={"greeting": "hi there"}, on_event=events.append)
    assert result.ok and sorted(result.results) == ["h1", "h2"]
    oks = [e for e in events if e["event"] == "ok"]
    assert {e["host"] for e in oks} == {"h1", "h2"}
    assert all(e["task"] == "say" and e["ok"] and not e["failed"] for e in oks)
    assert events[-1]["event"] == "stats"


def test_failing_event_handler_stops_the_run(project: Path) -> None:
    """A consumer that raises ends the run and its error reaches the caller."""

    def broken(event: dict[str, Any]) -> None:
        raise OSError("journal disk full")

    with pytest.raises(OSError, match="journal disk full"):
        _run(project, "local.yml", extravars={"greeting": "x"}, on_event=broken)


def test_cancel_stops_a_running_playbook(project: Path) -> None:
    """Setting the cancel event while a task runs ends the run; hosts report no result, canceled."""
    stop = threading.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "task_start":
            stop.set()

    started = time.monotonic()
    result = _run(project, "slow.yml", on_event=on_event, cancel=stop)
    assert time.monotonic() - started < 25
    assert result.detail["status"] == "canceled"
    assert result.results["h1"].message.startswith("no result: canceled")


def test_timeout_ends_a_running_playbook(project: Path) -> None:
    """A run past its timeout is stopped and its hosts fail with "timed out"."""
    result = _run(project, "slow.yml", timeout=1)
    assert result.detail["status"] == "timeout"
    assert result.results["h1"].message.startswith("no result: timed out after 1s")


def test_empty_host_list_runs_nothing(project: Path) -> None:
    """No hosts means no run: an empty --limit would select the whole inventory."""
    result = _run(project, "local.yml", hosts=[])
    assert result.results == {} and result.detail["status"] == "skipped"


def test_environment_keeps_local_state_in_work_dir(project: Path) -> None:
    """Host keys are checked, and temp files and SSH sockets live under the work dir."""
    env = ansible_environment(work_dir=project / "work", playbook=project / "ping.yml")
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert env["ANSIBLE_PIPELINING"] == "True"
    assert env["ANSIBLE_LOCAL_TEMP"].startswith(str(project / "work"))
    assert env["ANSIBLE_SSH_CONTROL_PATH_DIR"].startswith(str(project / "work"))


def test_project_ansible_cfg_is_used(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ansible.cfg next to the project's inventory/ is handed to Ansible unless ANSIBLE_CONFIG is set."""
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    (project / "ansible.cfg").write_text("[defaults]\n")
    env = ansible_environment(work_dir=project / "work", playbook=project / "ping.yml")
    assert env["ANSIBLE_CONFIG"] == str(project / "ansible.cfg")
    monkeypatch.setenv("ANSIBLE_CONFIG", "/elsewhere/ansible.cfg")
    assert "ANSIBLE_CONFIG" not in ansible_environment(work_dir=project / "work", playbook=project / "ping.yml")


def test_ssh_sessions_get_keepalives_unless_the_operator_chose_extra_args(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that stops answering mid-task is given up after keepalives; the operator's own ssh_extra_args win."""
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    monkeypatch.delenv("ANSIBLE_SSH_EXTRA_ARGS", raising=False)
    env = ansible_environment(work_dir=project / "work", playbook=project / "ping.yml")
    assert env["ANSIBLE_SSH_EXTRA_ARGS"] == SSH_KEEPALIVE and "ServerAliveInterval" in SSH_KEEPALIVE
    (project / "ansible.cfg").write_text("[ssh_connection]\nssh_extra_args = -o ServerAliveInterval=30\n")
    assert "ANSIBLE_SSH_EXTRA_ARGS" not in ansible_environment(work_dir=project / "work", playbook=project / "ping.yml")
    (project / "ansible.cfg").unlink()
    monkeypatch.setenv("ANSIBLE_SSH_EXTRA_ARGS", "-o ServerAliveInterval=60")
    assert "ANSIBLE_SSH_EXTRA_ARGS" not in ansible_environment(work_dir=project / "work", playbook=project / "ping.yml")


def test_long_work_dir_moves_control_sockets(tmp_path: Path) -> None:
    """A work dir too long for a Unix socket path gets a short control dir instead."""
    deep = tmp_path / ("x" * 90)
    assert len(str(control_dir(deep))) <= MAX_CONTROL_DIR


def _ev(kind: str, host: str, task: str = "t", **data: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": host, "task": task, **data}}


def _stats(**kinds: dict[str, int]) -> dict[str, Any]:
    return {"event": "playbook_on_stats", "event_data": kinds}


def test_collector_turns_events_into_host_results() -> None:
    """Stats decide ok/failed/unreachable; the failing task's message is kept; absent hosts have no result."""
    c = Collector(on_event=None, cancel=None)
    for ev in [
        _ev("runner_on_ok", "a", res={"changed": True}),
        _ev(
            "runner_on_failed",
            "b",
            task="migrate",
            res={"msg": "non-zero return code", "rc": 2, "stderr": "relation exists"},
        ),
        _ev("runner_on_failed", "c", task="probe", ignore_errors=True, res={"msg": "ignored"}),
        _ev("runner_on_ok", "c"),
        _ev("runner_on_unreachable", "d", res={"msg": "Failed to connect: Connection refused"}),
        _stats(ok={"a": 1, "c": 1}, changed={"a": 1}, failures={"b": 1}, dark={"d": 1}, ignored={"c": 1}),
    ]:
        c.handle(ev)
    res = c.results(["a", "b", "c", "d", "e"], status="failed", timeout=None)
    assert res["a"].ok and res["a"].changed
    assert not res["b"].ok and res["b"].message == "task 'migrate': non-zero return code: relation exists"
    assert res["b"].rc == 2 and "relation exists" in res["b"].output
    assert res["c"].ok
    assert res["d"].unreachable and "Connection refused" in res["d"].message
    assert not res["e"].ok and res["e"].message == "no result"


def test_timed_out_run_marks_hosts_without_results() -> None:
    """After a timeout every host lacks a final result and says why; changes seen so far are kept."""
    c = Collector(on_event=None, cancel=None)
    c.handle(_ev("runner_on_ok", "a", res={"changed": True}))
    res = c.results(["a", "b"], status="timeout", timeout=30)
    assert res["a"].message == "no result: timed out after 30s" and res["a"].changed
    assert not res["a"].ok
    assert not res["b"].ok and not res["b"].changed


def test_cancel_event_is_polled() -> None:
    """Setting the cancel event makes the runner's cancel callback say yes."""
    stop = threading.Event()
    c = Collector(on_event=None, cancel=stop)
    assert not c.should_cancel()
    stop.set()
    assert c.should_cancel()


def test_a_runs_gated_copies_left_by_a_killed_process_are_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    """The copies a run's processes wrote are listed in its work dir; tidy removes those whose writer died."""
    import os
    import subprocess

    from golive.drivers.ansible.driver import AnsibleDriver
    from golive.drivers.ansible.rolling import COPIES

    ended = subprocess.Popen(["true"])
    ended.wait()
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    dead = playbooks / f".golive-{ended.pid}-x-deploy.yml"
    live = playbooks / f".golive-{os.getpid()}-y-deploy.yml"
    other = playbooks / f".golive-{ended.pid}-z-other.yml"  # another run's: not listed here
    for copy in (dead, live, other):
        copy.write_text("- hosts: all\n")
    (tmp_path / "work" / "ansible").mkdir(parents=True)
    (tmp_path / "work" / "ansible" / COPIES).write_text(f"{dead}\n{live}\n")
    AnsibleDriver(inventory=tmp_path / "inventory", work_dir=tmp_path / "work").tidy()
    assert not dead.exists() and live.exists() and other.exists()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.parametrize("gated", [False, True], ids=["play", "gated-play"])
def test_a_play_ends_with_the_golive_that_started_it(project: Path, gated: bool) -> None:
    """golive SIGKILLed while a task runs: its ansible-playbook and the task's processes end with it.

    They used to run on (a task to its end, a gated play until its gate noticed), and the gated
    copy of the playbook stayed beside the playbooks.
    """
    import os
    import signal
    import subprocess
    import textwrap

    from tests.polling import eventually

    from golive_lab.process import descendants, is_alive

    if gated:
        call = """
        from golive.drivers.ansible import rolling_playbook
        rolling, why = rolling_playbook(playbook=p / "slow.yml", inventory=p / "inventory", batches=[(1, ["h1"])],
            match=lambda pattern: ["h1", "h2"], extravars={}, forks=1, tags=None, on_event=None, cancel=None,
            work_dir=p / "work")
        assert rolling is not None, why
        rolling.run_batch(1)
        """
    else:
        call = """
        from golive.drivers.ansible import run_playbook
        run_playbook(playbook=p / "slow.yml", inventory=p / "inventory", hosts=["h1"], extravars={},
            work_dir=p / "work")
        """
    script = f"from pathlib import Path\np = Path({str(project)!r})\n" + textwrap.dedent(call)
    golive = subprocess.Popen(
        [sys.executable, "-c", script], cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        eventually(
            lambda: any("sleep 30" in _cmdline(pid) for pid in descendants(golive.pid)),
            timeout=60,
            what="the play's task to start",
        )
        below = descendants(golive.pid)
        golive.send_signal(signal.SIGKILL)
        golive.wait()
        try:
            eventually(
                lambda: not any(is_alive(pid, start) for pid, start in below.items()),
                timeout=15,
                what="the play to end",
            )
        finally:
            left = [pid for pid, start in below.items() if is_alive(pid, start)]
            for pid in left:
                os.kill(pid, signal.SIGKILL)
        assert not left
        eventually(
            lambda: not list(project.glob(".golive-*")),
            timeout=5,
            what="the gated copy to go",
        )
    finally:
        if golive.poll() is None:
            golive.kill()
            golive.wait()


def test_no_ansible_playbook_says_how_to_get_it(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ansible-playbook on PATH a play fails at once saying what to install, not 'no output'."""
    import shutil

    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(PermanentError, match=r"ansible-playbook is not on PATH: install ansible-core"):
        _run(project, "local.yml", extravars={"greeting": "x"})
