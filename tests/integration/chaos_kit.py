"""What the chaos matrix needs beside kit.py: the rolling example on a few hosts, kill points, the end checks.

A scenario ends converged when every app host serves one version (the new one after exit 0,
the old one after a rollback), the journal's hash chain verifies (``golive status`` says so),
and nothing golive started is left: no process naming the project's directory (ansible-playbook,
ssh control masters) and no gated play copy beside the playbooks.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from kit import BIN, REPO, Project

from golive.engine.journal import Journal
from golive_lab.hosts import APP_PORT
from golive_lab.lab import Lab, load_state
from polling import eventually

# Three hosts: the example's batches [1, 25%, 100%] are then three batches of one host each.
APP_HOSTS = ("app-4", "app-5", "app-6")
# The seed of every random choice the matrix makes; a failure names it, GOLIVE_CHAOS_SEED replays another.
SEED = int(os.environ.get("GOLIVE_CHAOS_SEED", "17"))

Entries = list[dict[str, Any]]


# ------------------------------------------------------------------ the project


def use_app_hosts(project: Project, lab: Lab, hosts: tuple[str, ...] = APP_HOSTS) -> None:
    """The project's ``lab`` env is the lab's inventory with only ``hosts`` in group app."""
    state = load_state(lab.dir)
    assert state is not None, "the lab has no state"
    inv = project.root / "inventory" / "lab"
    inv.unlink()
    inv.mkdir()
    for entry in (lab.dir / "inventory").iterdir():
        if entry.name != "hosts.yml":
            (inv / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    app = {h: {"ansible_host": state.host(h).ip} for h in hosts}
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"app": {"hosts": app}}}}))


def brisk(body: dict[str, Any]) -> dict[str, Any]:
    """The rolling example's body without its bake and with one health probe per host: for tests of
    the path a run takes (drills, the watch), not of its waits (the chaos matrix keeps the bake it kills in)."""
    roll = next(s for s in body["steps"] if s["id"] == "roll-app")
    roll.pop("bake", None)
    for check in roll["verify"]:
        check.pop("count", None)
    return body


def rolling_runbook(project: Project, *, approval: bool = False) -> Path:
    """runbooks/rolling-demo.yml as it is; with ``approval``, one sign-off after the release."""
    body = yaml.safe_load((REPO / "runbooks" / "rolling-demo.yml").read_text())
    body.pop("watch", None)  # the matrix kills the release's phases; the watch has its own tests
    if approval:
        at = [s["id"] for s in body["steps"]].index("announce")
        body["steps"].insert(at, {"id": "sign-off", "approval": {"approvers": 1, "timeout": "10m"}})
    return project.runbook("rolling-approval" if approval else "rolling-demo", body)


def canary_runbook(project: Project) -> Path:
    """runbooks/k8s-canary.yml as it is (its approval is answered by the test)."""
    body = yaml.safe_load((REPO / "runbooks" / "k8s-canary.yml").read_text())
    return project.runbook("k8s-canary", body)


# ------------------------------------------------------------------ what the hosts serve


def version_of(lab: Lab, host: str) -> str:
    state = load_state(lab.dir)
    assert state is not None
    try:
        return httpx.get(f"http://{state.host(host).ip}:{APP_PORT}/version", timeout=3.0).text.strip()
    except httpx.HTTPError as exc:
        return f"no answer: {type(exc).__name__}"


def versions(lab: Lab, hosts: tuple[str, ...] = APP_HOSTS) -> dict[str, str]:
    return {h: version_of(lab, h) for h in hosts}


def deploy_v1(lab: Lab, hosts: tuple[str, ...] = APP_HOSTS) -> None:
    """Put every host that does not serve v1 back on v1 with the lab's own deploy playbook."""
    off = [h for h in hosts if version_of(lab, h) != "v1"]
    if not off:
        return
    env = {**os.environ, "GOLIVE_LAB_DIR": str(lab.dir), "ANSIBLE_CONFIG": str(lab.dir / "ansible.cfg")}
    cmd = [str(BIN / "ansible-playbook"), "-i", str(lab.dir / "inventory"), str(REPO / "playbooks" / "deploy.yml")]
    cmd += ["-e", "version=v1", "-l", ",".join(off)]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"restoring v1 on {off} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


# ------------------------------------------------------------------ the journal


def first(entries: Entries, event: str, *, start: int = 0, **match: Any) -> int:
    """Index of the first entry from ``start`` of ``event`` whose fields include ``match``; -1 when none."""
    for i in range(start, len(entries)):
        e = entries[i]
        if e["event"] == event and all(e.get(k) == v for k, v in match.items()):
            return i
    return -1


def last_resume(entries: Entries) -> int:
    """Where the newest process's part of the journal starts (its run_resumed, else 0)."""
    found = [i for i, e in enumerate(entries) if e["event"] == "run_resumed"]
    return found[-1] if found else 0


def journal_of(project: Project) -> Journal:
    return project.wait_journal(lambda entries: bool(entries), timeout=120, what="the run's journal")


def wait_entry(project: Project, event: str, *, timeout: float = 120, **match: Any) -> Journal:
    """Wait for ``event`` (with ``match``) written by the newest process of the run."""
    return project.wait_journal(
        lambda entries: first(entries, event, start=last_resume(entries), **match) >= 0,
        timeout=timeout,
        what=f"{event} {match or ''} after the last resume",
    )


def chain_intact(project: Project, run_id: str) -> str:
    """``golive status`` of the run: exit 0 and its hash chain check intact (the text, for messages)."""
    status = project.golive("status", run_id)
    text = status.stdout + status.stderr
    assert status.returncode == 0 and "hash chain intact" in text, text
    return text


# ------------------------------------------------------------------ what is left behind


def processes_naming(path: Path) -> list[str]:
    """Processes (other than this one) whose command line names ``path``: what a run left running."""
    found = []
    needle = str(path).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            text = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name}: {text[:200]}")
    return found


def play_copies() -> list[Path]:
    """Gated play copies golive writes beside the playbooks (``.golive-PID-...``)."""
    return sorted((REPO / "playbooks").glob(".golive-*"))


def nothing_left(project: Project) -> None:
    """No process of the project's runs and no play copy stays once the scenario is over."""
    deadline = time.monotonic() + 30
    while processes_naming(project.root) or play_copies():
        assert time.monotonic() < deadline, f"left behind: {processes_naming(project.root)} {play_copies()}"
        time.sleep(0.25)


# ------------------------------------------------------------------ kill points


@dataclass(frozen=True)
class Point:
    """Where in a run to SIGKILL golive: after ``event`` (with ``match``) plus ``delay`` seconds."""

    phase: str
    event: str
    match: tuple[tuple[str, Any], ...]
    delay: float = 0.0
    # A rollback point is met again after a resume (the rollback starts over with what is left).
    again: bool = False

    def label(self) -> str:
        where = ",".join(f"{k}={v}" for k, v in self.match)
        return f"{self.phase}:{self.event}{'[' + where + ']' if where else ''}+{self.delay:.2f}s"


def _p(phase: str, event: str, *, again: bool = False, **match: Any) -> Point:
    return Point(phase=phase, event=event, match=tuple(sorted(match.items())), again=again)


# Where the rolling example (with its sign-off) can be killed, in the order a run meets them.
RELEASE_POINTS = [
    point
    for batch in (1, 2, 3)
    for point in (
        _p("apply", "batch_started", step="roll-app", batch=batch),
        _p("gate", "action_result", step="roll-app", batch=batch),
        _p("bake", "bake_started", step="roll-app", batch=batch),
    )
] + [_p("approval", "approval_requested", step="sign-off")]
# A bad release (v2-bad) fails its first gate and rolls back.
ROLLBACK_POINTS = [
    _p("apply", "batch_started", step="roll-app", batch=1),
    _p("gate", "action_result", step="roll-app", batch=1),
    _p("rollback", "rollback_started", again=True),
    _p("rollback", "compensation_started", again=True),
]


def kill_points(rng: random.Random, candidates: list[Point], count: int) -> list[Point]:
    """``count`` points in run order, each with a random delay; rollback points may repeat."""
    chosen: list[Point] = []
    at = 0
    for _ in range(count):
        choices = [i for i in range(at, len(candidates))]
        if not choices:
            break
        i = rng.choice(choices[: max(1, len(choices) // 2 + 1)])
        point = candidates[i]
        chosen.append(Point(point.phase, point.event, point.match, round(rng.uniform(0.0, 1.0), 2), point.again))
        at = i if point.again else i + 1
    return chosen


def kill_at(project: Project, proc: subprocess.Popen[bytes], point: Point, *, timeout: float = 180) -> bool:
    """SIGKILL ``proc`` at ``point``; False when the process ended before it got there."""

    def reached() -> bool | None:
        for j in project.journals():
            entries = j.read()
            if first(entries, point.event, start=last_resume(entries), **dict(point.match)) >= 0:
                return True
        return True if proc.poll() is not None else None

    eventually(reached, timeout=timeout, what=f"kill point {point.label()}", interval=0.05)
    # The delay is part of the fault: a kill point somewhere within the phase, not at its first line.
    time.sleep(point.delay)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return True


def until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    eventually(lambda: True if predicate() else None, timeout=timeout, what=what)
