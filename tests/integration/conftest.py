"""Fixtures shared by the integration tests: a throw-away golive project on the lab, an emulator of their own."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from kit import REPO, Project, free_port
from kubernetes import client, config

from golive_lab.kube_emulator import EmulatorProcess, start
from golive_lab.lab import Lab


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """An emulator in a temporary dir for the module; always stopped by its PID."""
    root = tmp_path_factory.mktemp("kube")
    handle = start(
        port=free_port(), state_dir=root / "state", sd_file=root / "sd" / "pods.json", kubeconfig=root / "kubeconfig"
    )
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def api_client(emulator: EmulatorProcess) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(emulator.kubeconfig), context="lab")
    try:
        yield api
    finally:
        api.close()


@pytest.fixture()
def faults(emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    """The emulator with no injected faults before and after the test."""
    emulator.clear_faults()
    try:
        yield emulator
    finally:
        emulator.clear_faults()


@pytest.fixture(scope="module")
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture(scope="module")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def _project(lab: Lab, lab_env: dict[str, str], root: Path) -> Project:
    """A project dir with its own runs dir, on the session lab."""
    # The lab starts its Prefect server without waiting for it; a run needs it to answer.
    assert lab.wait_prefect(timeout=90), "the lab's Prefect server did not answer /api/health"
    state = lab.load()
    assert state is not None and state.prefect.alive(), (
        f"the lab's Prefect server is not running (another server on its port?): see {lab.dir}/prefect/server.log"
    )
    root.mkdir(exist_ok=True)
    (root / "inventory").mkdir()
    (root / "inventory" / "lab").symlink_to(lab.dir / "inventory", target_is_directory=True)
    (root / "playbooks").symlink_to(REPO / "playbooks", target_is_directory=True)
    (root / "runbooks").mkdir()
    (root / "extra").mkdir()
    env = {
        **os.environ,
        **lab_env,
        "GOLIVE_LAB_DIR": str(lab.dir),
        "GOLIVE_RUNS_DIR": str(root / "runs"),
        "GOLIVE_USER": "tester",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return Project(root=root, lab=lab, env=env)


def _stop_started(proj: Project) -> None:
    """Kill what the test left running; a killed runner's env lease is given back so the next test can start."""
    killed = False
    for proc in proj.started:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            killed = True
    if killed:
        proj.golive("unlock", "lab", "--reason", "test teardown killed its runner")


@pytest.fixture
def project(lab: Lab, lab_env: dict[str, str], tmp_path: Path) -> Iterator[Project]:
    """A project dir per test with its own runs dir; background runners it started are stopped."""
    proj = _project(lab, lab_env, tmp_path)
    try:
        yield proj
    finally:
        _stop_started(proj)


@pytest.fixture
def second_project(lab: Lab, lab_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """Another project dir on the same lab and Prefect server, as on a second machine: nothing on disk shared."""
    proj = _project(lab, lab_env, tmp_path_factory.mktemp("second"))
    try:
        yield proj
    finally:
        _stop_started(proj)
