"""What a SIGKILLed golive leaves running: time from the kill to its last ansible-playbook process gone.

Run: ``python bench/orphans.py``. No lab: a local-connection play whose task sleeps 30 s, started
by golive's Ansible driver in a child process (a plain play, and a gated rolling play), which is
SIGKILLed once the task runs. Printed per kind, median of ROUNDS: seconds until no process below
the killed one is left, and until the gated copy of the playbook is gone. Before the driver tied
its plays to golive's life (PR_SET_PDEATHSIG) the play outlived golive by ~1.5 s and the task ran
to its end. No target beyond "well under a second".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from benchkit import Sample, table
from golive_lab.process import descendants, is_alive

ROUNDS = 5
CALLS = {
    "play": """
        from golive.drivers.ansible import run_playbook
        run_playbook(playbook=p / "slow.yml", inventory=p / "inventory", hosts=["h1"], extravars={},
            work_dir=p / "work")
    """,
    "gated play": """
        from golive.drivers.ansible import rolling_playbook
        rolling, why = rolling_playbook(playbook=p / "slow.yml", inventory=p / "inventory", batches=[(1, ["h1"])],
            match=lambda pattern: ["h1", "h2"], extravars={}, forks=1, tags=None, on_event=None, cancel=None,
            work_dir=p / "work")
        assert rolling is not None, why
        rolling.run_batch(1)
    """,
}


def project(root: Path) -> Path:
    (root / "inventory").mkdir()
    (root / "inventory" / "hosts.yml").write_text("all:\n  hosts:\n    h1: {}\n    h2: {}\n")
    (root / "slow.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  connection: local\n"
        f"  vars: {{ansible_python_interpreter: {sys.executable}}}\n  tasks:\n    - name: wait\n"
        "      ansible.builtin.command: sleep 30\n"
    )
    return root


def until(probe: Callable[[], bool], *, since: float, limit: float) -> float:
    """Seconds from ``since`` until ``probe()`` is true, polled every 10 ms; ``limit`` when it never is."""
    while time.perf_counter() - since < limit:
        if probe():
            return time.perf_counter() - since
        time.sleep(0.01)
    return limit


def one(kind: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="golive-bench-orphans-") as tmp:
        p = project(Path(tmp))
        script = f"from pathlib import Path\np = Path({str(p)!r})\n" + textwrap.dedent(CALLS[kind])
        golive = subprocess.Popen([sys.executable, "-c", script], cwd=p, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not any(b"sleep\x0030" in _cmdline(pid) for pid in descendants(golive.pid)):
                if time.monotonic() > deadline or golive.poll() is not None:
                    raise SystemExit(f"{kind}: the play's task did not start")
                time.sleep(0.05)
            procs = descendants(golive.pid)
            golive.send_signal(signal.SIGKILL)
            golive.wait()
            t0 = time.perf_counter()
            gone = until(lambda: not any(is_alive(pid, s) for pid, s in procs.items()), since=t0, limit=40)
            copy = until(lambda: not list(p.glob(".golive-*")), since=t0, limit=40)
            for pid, s in procs.items():
                if is_alive(pid, s):  # bench ran past its limit: stop what it started
                    os.kill(pid, signal.SIGKILL)
            return gone, copy
        finally:
            if golive.poll() is None:
                golive.kill()
                golive.wait()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def main() -> int:
    rows = []
    for kind in CALLS:
        gone, copy = Sample(), Sample()
        for _ in range(ROUNDS):
            g, c = one(kind)
            gone.append(g)
            copy.append(c)
        rows.append((kind, f"{gone.median:.3f}", f"{max(gone):.3f}", f"{copy.median:.3f}"))
    print(f"golive SIGKILLed while its play's task runs (sleep 30); seconds after the kill, {ROUNDS} rounds")
    table(("play", "last process gone (median)", "(worst)", "gated copy gone (median)"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
