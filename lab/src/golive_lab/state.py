"""What a lab records of itself in ``<labdir>/lab.json``, and what ``status`` reports."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

from golive_lab import hosts as lab_hosts
from golive_lab import process
from golive_lab.errors import LabError

STATE_FILE = "lab.json"


class Proc(BaseModel):
    pid: int | None = None
    started: int | None = Field(default=None, description="kernel start time, guards against PID reuse")

    def alive(self) -> bool:
        return process.is_alive(self.pid, self.started)


class HostState(Proc):
    name: str
    ip: str
    port: int = lab_hosts.SSH_PORT
    groups: list[str]

    def spec(self) -> lab_hosts.HostSpec:
        return lab_hosts.HostSpec(name=self.name, ip=self.ip, port=self.port, groups=tuple(self.groups))


class ServiceState(Proc):
    url: str | None = None
    port: int | None = None


class KubeState(ServiceState):
    kubeconfig: str | None = None
    skipped: str | None = None


class LabState(BaseModel):
    """Contents of ``<labdir>/lab.json``."""

    dir: str
    hosts: list[HostState]
    prometheus: ServiceState = ServiceState()
    kube: KubeState = KubeState()
    prefect: ServiceState = ServiceState()
    traffic: Proc = Proc()
    inbox: ServiceState = ServiceState()
    worker: Proc = Proc()  # the Prefect worker of the lab's work pool (golive schedule)
    inventory: str = ""
    known_hosts: str = ""
    ssh_key: str = ""
    env_file: str = ""
    settings_file: str = Field(default="", description="golive's settings file the lab wrote its keys into")
    faults: list[dict[str, object]] = []

    def host(self, name: str) -> HostState:
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabError(f"no host {name!r} in the lab; hosts: {', '.join(h.name for h in self.hosts)}")

    def pids(self) -> list[int]:
        """Every PID the lab recorded, for checks that they are all gone after ``down``."""
        procs: list[Proc] = [
            *self.hosts,
            self.prometheus,
            self.kube,
            self.prefect,
            self.traffic,
            self.inbox,
            self.worker,
        ]
        return [p.pid for p in procs if p.pid]


class ComponentStatus(BaseModel):
    name: str
    kind: str
    pid: int | None
    running: bool
    ready: bool
    url: str | None = None
    detail: str = ""


class LabStatus(BaseModel):
    dir: str
    up: bool
    components: list[ComponentStatus]
    faults: list[dict[str, object]] = []


def default_lab_dir() -> Path:
    """``$GOLIVE_LAB_DIR`` or ``<cwd>/.golive/lab``."""
    env = os.environ.get("GOLIVE_LAB_DIR")
    return Path(env).resolve() if env else (Path.cwd() / ".golive" / "lab").resolve()


def load_state(lab_dir: Path | str | None = None) -> LabState | None:
    """The recorded state of the lab in ``lab_dir``, or None when no lab was brought up there."""
    path = Path(lab_dir or default_lab_dir()) / STATE_FILE
    if not path.exists():
        return None
    return LabState.model_validate_json(path.read_text())


class LabDir:
    """A lab's directory and the state recorded in it."""

    def __init__(self, lab_dir: Path | str | None = None) -> None:
        self.dir = Path(lab_dir).resolve() if lab_dir else default_lab_dir()
        for hidden in ("/opt", "/srv"):
            if self.dir == Path(hidden) or Path(hidden) in self.dir.parents:
                raise LabError(f"lab dir {self.dir} is under {hidden}, which every lab host replaces")

    @property
    def state_path(self) -> Path:
        return self.dir / STATE_FILE

    def load(self) -> LabState | None:
        return load_state(self.dir)

    def require(self) -> LabState:
        state = self.load()
        if state is None:
            raise LabError(f"no lab in {self.dir}; run `golive lab up` first")
        return state

    def save(self, state: LabState) -> None:
        tmp = self.state_path.with_suffix(".json.tmp")
        tmp.write_text(state.model_dump_json(indent=2))
        tmp.replace(self.state_path)
