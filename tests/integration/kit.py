"""Helpers shared by the integration tests."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from golive.engine.journal import Journal
from golive_lab.lab import Lab
from polling import eventually

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 300.0
CLI_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster_env(root: Path, env: str, *, kubeconfig: str | Path, context: str, host: str) -> Path:
    """An inventory env under ``root`` whose default cluster is ``context`` of ``kubeconfig``, and one host."""
    inv = root / "inventory" / env
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text(f"all:\n  hosts:\n    {host}: {{ansible_host: 127.0.0.1}}\n")
    (inv / "group_vars" / "all.yml").write_text(
        f"golive_clusters:\n  default: {{kubeconfig: {kubeconfig}, context: {context}}}\n"
    )
    return root


def deployment(
    name: str,
    *,
    image: str = "registry.local/demo:v1",
    replicas: int = 3,
    labels: dict[str, str] | None = None,
    deadline: int = 30,
) -> dict[str, Any]:
    """A Deployment of the demo service, one container on port 8080, rolling one pod at a time."""
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": deadline,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]},
            },
        },
    }


@dataclass
class Project:
    """A throw-away golive project: inventory/lab is the lab's, playbooks/ is the repo's."""

    root: Path
    lab: Lab
    env: dict[str, str]
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def runbook(self, name: str, body: dict[str, Any]) -> Path:
        path = self.root / "runbooks" / f"{name}.yml"
        path.write_text(yaml.safe_dump(body, sort_keys=False))
        return path

    def golive(self, *args: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "golive"), *args],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run(self, runbook: Path, *args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return self.golive("run", str(runbook), "-e", "lab", *args, timeout=timeout)

    def start(self, runbook: Path, *args: str, log_name: str = "runner") -> subprocess.Popen[bytes]:
        """``golive run`` in the background; its output goes to a file next to the runs."""
        return self.launch("run", str(runbook), "-e", "lab", *args, log_name=log_name)

    def launch(self, *args: str, log_name: str) -> subprocess.Popen[bytes]:
        """Any golive command in the background, output to ``<log_name>.log``; stopped at teardown."""
        out = (self.root / f"{log_name}.log").open("wb")
        proc = subprocess.Popen(
            [str(BIN / "golive"), *args],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        self.started.append(proc)
        return proc

    def output(self, log_name: str = "runner") -> str:
        path = self.root / f"{log_name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def journals(self) -> list[Journal]:
        return [Journal(p) for p in sorted(self.runs.glob("*/journal.jsonl"))]

    def only_journal(self) -> Journal:
        found = self.journals()
        assert len(found) == 1, f"expected one run under {self.runs}, found {[j.run_dir.name for j in found]}"
        return found[0]

    def wait_journal(self, predicate: Callable[[list[dict[str, Any]]], bool], *, timeout: float, what: str) -> Journal:
        def probe() -> Journal | None:
            for j in self.journals():
                if predicate(j.read()):
                    return j
            return None

        found: Journal = eventually(probe, timeout=timeout, what=what)
        return found

    def wait_exit(self, proc: subprocess.Popen[bytes], *, timeout: float = RUN_TIMEOUT_S) -> int:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"golive run (pid {proc.pid}) still running after {timeout:g}s:\n{self.output()}")


def run_end(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The journal's last entry of the run itself: notification outcomes may follow its run_finished."""
    return next(e for e in reversed(entries) if not str(e["event"]).startswith("notification_"))
