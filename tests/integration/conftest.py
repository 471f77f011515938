"""Fixtures of the integration tests that talk to a Kubernetes API emulator of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kit import free_port
from kubernetes import client, config

from golive.lab.kube_emulator import EmulatorProcess, start


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


@pytest.fixture(scope="module")
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture(scope="module")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)
