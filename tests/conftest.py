"""Shared fixtures: one lab per test session, always taken down again."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest
from hypothesis import settings

if TYPE_CHECKING:
    from golive_lab.lab import Lab, LabState

# Properties draw new examples on every local run (that is how they find bugs); in CI (CI set)
# they draw the same ones each time and have no deadline, so a red CI is a change's doing,
# never the draw or a loaded machine. A counterexample found locally becomes an @example.
settings.register_profile("ci", derandomize=True, deadline=None, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

LAB_HOSTS = 10
# The session lab takes the first free block of loopback addresses, 127.0.0.11-20 (which
# inventory/lab describes) when free: a lab already up on this machine (the demo's) keeps
# its own, and the inventory/lab test is skipped. GOLIVE_TEST_LAB_IP_BASE fixes the base.
LAB_IP_BASE: int | Literal["free"] = (
    int(os.environ["GOLIVE_TEST_LAB_IP_BASE"]) if os.environ.get("GOLIVE_TEST_LAB_IP_BASE") else "free"
)


def _lab_missing() -> str | None:
    from golive_lab.prometheus import PrometheusNotFound, find_binary

    if not Path("/usr/sbin/sshd").exists() or shutil.which("unshare") is None:
        return "sshd or unshare missing: run scripts/install-system.sh"
    if os.geteuid() != 0:
        return "the lab needs root (mount and PID namespaces)"
    try:
        find_binary()
    except PrometheusNotFound as exc:
        return str(exc)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Of the chaos matrix only its subset runs unless GOLIVE_CHAOS_FULL=1 (``make chaos``)."""
    if os.environ.get("GOLIVE_CHAOS_FULL") == "1":
        return
    keep = [i for i in items if i.get_closest_marker("chaos") is None or i.get_closest_marker("chaos_subset")]
    dropped = [i for i in items if i not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Lab]:
    """A running 10-host lab in a temporary dir, on addresses and ports no other lab holds.

    GOLIVE_LAB_DIR points at it for the session; the line "test lab: ..." says where it runs.
    Teardown stops every process the lab recorded and fails if one is left.
    """
    from golive_lab import process
    from golive_lab.lab import Lab

    reason = _lab_missing()
    if reason:
        pytest.skip(reason)
    lab_dir = tmp_path_factory.mktemp("lab")
    previous = os.environ.get("GOLIVE_LAB_DIR")
    os.environ["GOLIVE_LAB_DIR"] = str(lab_dir)
    the_lab = Lab(lab_dir)
    pids: list[int] = []
    try:
        # Tests that need no Prefect server start while it starts; the `project` fixture waits for it.
        state = the_lab.up(hosts=LAB_HOSTS, ip_base=LAB_IP_BASE, prefect=True, prefect_timeout=None)
        pids = state.pids()
        _say(pytestconfig, _where(state))
        not_serving = the_lab.wait_apps(timeout=60)
        assert not not_serving, f"demo service not answering on {not_serving}"
        yield the_lab
    finally:
        # The state on disk also lists processes started after the fixture began (host-up).
        current = the_lab.load()
        pids = sorted(set(pids) | set(current.pids() if current else []))
        left = the_lab.down()
        if previous is None:
            os.environ.pop("GOLIVE_LAB_DIR", None)
        else:
            os.environ["GOLIVE_LAB_DIR"] = previous
        alive = [pid for pid in pids if process.is_alive(pid)]
        if left or alive:
            pytest.fail(f"lab processes still running after down: {sorted(set(left) | set(alive))}")


def _where(state: LabState) -> str:
    where = f"test lab: hosts {state.hosts[0].ip}..{state.hosts[-1].ip}, Prometheus {state.prometheus.url}"
    return where + f", kube API {state.kube.url}, Prefect {state.prefect.url}, dir {state.dir}"


def _say(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


@pytest.fixture(scope="session")
def lab_env(lab: Lab) -> dict[str, str]:
    """The lab's ``env`` file (PREFECT_API_URL, KUBECONFIG, GOLIVE_LAB_DIR, ...)."""
    from golive_lab.lab import read_env

    return read_env(lab.dir)
