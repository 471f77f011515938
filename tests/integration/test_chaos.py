"""The chaos matrix: faults at each phase of the example runbooks on the lab, and how every run ends.

Each scenario is a row of a table: the runbook and release, where the fault strikes (a journal
event of the run), the fault, how it is mended, the exit code golive must return and the version
every host or object must serve at the end. Whatever the fault, a run ends converged: one version
everywhere (the new one, or the old one after a rollback), the exit code documented in
golive.exits, the journal's hash chain intact, no process or temp file of the run left.

All are marked ``chaos`` (``make chaos`` runs them); the rows marked ``SUBSET`` also run in
``make test``. The SIGKILL matrix kills the runner at seeded random points (GOLIVE_CHAOS_SEED,
default 17) and resumes it each time: 20 points under ``make chaos``, 5 in ``make test``.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chaos_kit import (
    APP_HOSTS,
    RELEASE_POINTS,
    ROLLBACK_POINTS,
    SEED,
    Point,
    canary_runbook,
    chain_intact,
    deploy_v1,
    first,
    journal_of,
    kill_at,
    kill_points,
    nothing_left,
    rolling_runbook,
    use_app_hosts,
    version_of,
    versions,
    wait_entry,
)
from kit import Project, run_end
from kubernetes import client, config

from golive.engine.journal import Journal
from golive.exits import ExitCode
from golive_lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.chaos, pytest.mark.timeout(900)]

SUBSET = pytest.mark.chaos_subset
# No scenario takes long; one that hangs fails here rather than at the run timeout of kit.py.
EXIT_S = 150.0
FULL_MATRIX = os.environ.get("GOLIVE_CHAOS_FULL") == "1"


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def rolling(project: Project, lab: Lab) -> Iterator[Project]:
    """The project on three app hosts, all serving v1; after the test every fault is mended and v1 is back."""
    use_app_hosts(project, lab)
    assert versions(lab) == dict.fromkeys(APP_HOSTS, "v1"), "a test before left the app hosts off v1"
    try:
        yield project
    finally:
        for host in APP_HOSTS:
            lab.host_up(host, timeout=20)
        deploy_v1(lab)


@pytest.fixture(scope="module")
def apps(lab: Lab) -> Iterator[client.AppsV1Api]:
    api = config.new_client_from_config(config_file=str(lab.dir / "kubeconfig"), context="lab")
    try:
        yield client.AppsV1Api(api)
    finally:
        api.close()


def image_of(apps: client.AppsV1Api) -> str:
    dep = apps.read_namespaced_deployment("demo-api", "demo")
    return str(dep.spec.template.spec.containers[0].image)


def rolled_out(apps: client.AppsV1Api) -> bool:
    dep = apps.read_namespaced_deployment("demo-api", "demo")
    want, st = dep.spec.replicas, dep.status
    return bool(st and st.available_replicas == want and st.updated_replicas == want and st.replicas == want)


def pod_images(lab: Lab) -> set[str]:
    api = config.new_client_from_config(config_file=str(lab.dir / "kubeconfig"), context="lab")
    try:
        pods = client.CoreV1Api(api).list_namespaced_pod("demo", label_selector="app=demo-api").items
        return {str(c.image) for p in pods for c in p.spec.containers}
    finally:
        api.close()


@pytest.fixture
def canary(project: Project, lab: Lab, apps: client.AppsV1Api) -> Iterator[Project]:
    """The project on the lab's demo-api at v1; after the test faults are cleared and v1 is back."""
    from test_hybrid import create_if_missing, demo_deployment, demo_service

    core = client.CoreV1Api(apps.api_client)
    create_if_missing(lambda: core.create_namespace({"metadata": {"name": "demo"}}))
    create_if_missing(lambda: apps.create_namespaced_deployment("demo", demo_deployment()))
    create_if_missing(lambda: core.create_namespaced_service("demo", demo_service()))
    lab.clear()
    if image_of(apps) != "registry.local/demo:v1":
        _set_image(apps, "registry.local/demo:v1")
    try:
        yield project
    finally:
        lab.clear()
        lab.up(prefect=True, prefect_timeout=120)  # a service a fault stopped
        if image_of(apps) != "registry.local/demo:v1":
            _set_image(apps, "registry.local/demo:v1")


def _set_image(apps: client.AppsV1Api, image: str) -> None:
    body = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    container = apps.read_namespaced_deployment("demo-api", "demo").spec.template.spec.containers[0]
    body["spec"]["template"]["spec"]["containers"][0]["name"] = container.name
    apps.patch_namespaced_deployment("demo-api", "demo", body)
    from polling import eventually

    eventually(lambda: rolled_out(apps), timeout=120, what="demo-api rolled out")


# ------------------------------------------------------------------ on-prem faults, as data


@dataclass
class Ctx:
    """What a fault acts on: the lab, the project, the run's process and the entry that triggered it."""

    lab: Lab
    project: Project
    proc: subprocess.Popen[bytes]
    entry: dict[str, Any]
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def batch_host(self) -> str:
        """The (first) host of the batch the triggering entry belongs to."""
        if "hosts" in self.entry:
            return str(self.entry["hosts"][0])
        entries = Journal(self.project.only_journal().path).read()
        started = first(entries, "batch_started", step=self.entry["step"], batch=self.entry["batch"])
        return str(entries[started]["hosts"][0])


def _host_down(c: Ctx) -> None:
    c.lab.host_down(c.batch_host)


def _sshd_stop(c: Ctx) -> None:
    c.lab.sshd_stop(c.batch_host)


def _partition(c: Ctx) -> None:
    c.lab.partition(c.batch_host)


def _app_crash(c: Ctx) -> None:
    c.lab.app_crash(c.batch_host)


def _prefect_down_and_back(c: Ctx) -> None:
    c.lab.service_down("prefect")
    c.lab.up(prefect=True, prefect_timeout=120)


def _mend_hosts(c: Ctx) -> None:
    """Every host back with its service answering (a booted host starts the release it has on disk)."""
    for host in APP_HOSTS:
        c.lab.host_up(host, timeout=20)
    from polling import eventually

    for host in APP_HOSTS:
        eventually(lambda h=host: version_of(c.lab, h).startswith("v"), timeout=30, what=f"{host}'s service back")


@dataclass(frozen=True)
class Scenario:
    id: str
    behaviour: str
    at: tuple[str, dict[str, Any]]
    fault: Callable[[Ctx], None]
    # The exit codes the run may end with, each with the version every host then serves.
    ends: dict[ExitCode, str]
    version: str = "v2"
    mend: Callable[[Ctx], None] = _mend_hosts


B2 = ("batch_started", {"step": "roll-app", "batch": 2})
ROLLED_BACK = {ExitCode.FAILED: "v1"}
RELEASED = {ExitCode.OK: "v2"}
SCENARIOS = [
    Scenario(
        "host-down-in-batch-2",
        "a host that dies as its batch starts fails the batch; batch 1 is rolled back, exit 1",
        B2,
        _host_down,
        ROLLED_BACK,
    ),
    Scenario(
        "sshd-stopped-in-batch-2",
        "sshd stopped as batch 2 starts: a session Ansible already holds goes on (exit 0, v2), "
        "else the batch fails and batch 1 is rolled back (exit 1, v1)",
        B2,
        _sshd_stop,
        {**ROLLED_BACK, **RELEASED},
    ),
    Scenario(
        "partition-in-batch-2",
        "a host cut off (connections hang, never refused) fails its batch after Ansible's timeout; rolled back",
        B2,
        _partition,
        ROLLED_BACK,
    ),
    Scenario(
        "app-crash-in-bake-1",
        "the new release crashing on the host of batch 1 during its bake fails the gate and rolls back",
        ("bake_started", {"step": "roll-app", "batch": 1}),
        _app_crash,
        ROLLED_BACK,
    ),
    Scenario(
        "prefect-restarted-in-batch-2",
        "the Prefect server killed and started again mid-run does not stop the release, which ends on v2",
        B2,
        _prefect_down_and_back,
        RELEASED,
    ),
]


# What the matrix found and is not fixed yet, each with why (none today; a row goes here with its reason).
KNOWN: dict[str, Any] = {}


@pytest.mark.parametrize(
    "sc", [pytest.param(s, id=s.id, marks=[KNOWN[s.id]] if s.id in KNOWN else []) for s in SCENARIOS]
)
def test_a_fault_in_the_rolling_example_ends_converged(rolling: Project, lab: Lab, sc: Scenario) -> None:
    """Each row: the fault strikes at its point; the run ends with its exit code, every host on one version."""
    rb = rolling_runbook(rolling)
    proc = rolling.start(rb, "-p", f"version={sc.version}")
    event, match = sc.at
    journal = wait_entry(rolling, event, **match)
    entries = journal.read()
    ctx = Ctx(lab=lab, project=rolling, proc=proc, entry=entries[first(entries, event, **match)])
    sc.fault(ctx)
    code = rolling.wait_exit(proc, timeout=EXIT_S)
    sc.mend(ctx)
    assert code in sc.ends, f"{sc.behaviour}: exit {code}\n{rolling.output()}"
    assert versions(lab) == dict.fromkeys(APP_HOSTS, sc.ends[ExitCode(code)]), sc.behaviour
    chain_intact(rolling, journal.read()[0]["run_id"])
    nothing_left(rolling)


# ------------------------------------------------------------------ SIGKILL and resume


@dataclass(frozen=True)
class Chain:
    """One run killed at several points in turn, resumed after each kill."""

    id: str
    version: str
    candidates: list[Point]
    exit: ExitCode
    final: str


CHAINS = [
    Chain("release", "v2", RELEASE_POINTS, ExitCode.OK, "v2"),
    Chain("rollback", "v2-bad", ROLLBACK_POINTS, ExitCode.FAILED, "v1"),
]
# make test: 5 points over the two chains; make chaos (GOLIVE_CHAOS_FULL=1): 20 over four runs.
KILLS = (
    [("release", 4, 0), ("rollback", 4, 1), ("release", 6, 2), ("rollback", 6, 3)]
    if FULL_MATRIX
    else [("release", 3, 0), ("rollback", 2, 1)]
)


@pytest.mark.parametrize(
    ("chain_id", "count", "salt"),
    [pytest.param(*k, marks=SUBSET, id=f"{k[0]}-{k[1]}-kills-{k[2]}") for k in KILLS],
)
def test_a_runner_killed_at_random_points_and_resumed_each_time_ends_as_if_never_killed(
    rolling: Project, lab: Lab, chain_id: str, count: int, salt: int
) -> None:
    """SIGKILL at seeded random points (apply, gate, bake, approval, rollback); `golive resume` after each:
    the run ends as an uninterrupted one would (release: exit 0 on v2; bad release: exit 1 on v1)."""
    chain = next(c for c in CHAINS if c.id == chain_id)
    rng = random.Random(f"{SEED}-{chain_id}-{salt}")
    points = kill_points(rng, chain.candidates, count)
    rb = rolling_runbook(rolling, approval=True)
    proc = rolling.start(rb, "-p", f"version={chain.version}")
    killed: list[str] = []
    for n, point in enumerate(points):
        if not kill_at(rolling, proc, point):
            break
        killed.append(point.label())
        run_id = journal_of(rolling).read()[0]["run_id"]
        proc = rolling.launch("resume", run_id, log_name=f"resume-{n}")
        # The next point (or the approval) is the new process's: wait until it has taken over.
        rolling.wait_journal(
            lambda entries, k=len(killed): sum(e["event"] == "run_resumed" for e in entries) >= k,
            timeout=120,
            what=f"resume {n} to take over",
        )
    run_id = journal_of(rolling).read()[0]["run_id"]
    if chain.version == "v2":
        wait_entry(rolling, "approval_requested", step="sign-off", timeout=240)
        approved = rolling.golive("approve", run_id, "--as", "bob")
        assert approved.returncode == 0, approved.stdout + approved.stderr
    code = rolling.wait_exit(proc, timeout=EXIT_S)
    where = f"seed {SEED}, killed at {killed}"
    assert code == chain.exit, f"{where}: exit {code}\n{rolling.output(f'resume-{len(killed) - 1}')}"
    assert versions(lab) == dict.fromkeys(APP_HOSTS, chain.final), where
    entries = journal_of(rolling).read()
    assert run_end(entries)["event"] == "run_finished", where
    applied_after_rollback = [
        e for e in entries[max(first(entries, "rollback_started"), 0) :] if e["event"] == "batch_started"
    ]
    if first(entries, "rollback_started") >= 0:
        assert not applied_after_rollback, f"{where}: the release was applied again after its rollback began"
    chain_intact(rolling, run_id)
    nothing_left(rolling)


def test_two_resumes_at_once_one_proceeds_and_the_other_is_refused(rolling: Project, lab: Lab) -> None:
    """Two `golive resume` of the same killed run started together: exactly one goes on, the other exits 4."""
    rb = rolling_runbook(rolling)
    proc = rolling.start(rb, "-p", "version=v2")
    assert kill_at(rolling, proc, Point("bake", "bake_started", (("batch", 1), ("step", "roll-app"))))
    run_id = journal_of(rolling).read()[0]["run_id"]
    first_resume = rolling.launch("resume", run_id, log_name="resume-a")
    second_resume = rolling.launch("resume", run_id, log_name="resume-b")
    codes = sorted([rolling.wait_exit(first_resume, timeout=EXIT_S), rolling.wait_exit(second_resume, timeout=EXIT_S)])
    assert codes == [ExitCode.OK, ExitCode.REFUSED], rolling.output("resume-a") + rolling.output("resume-b")
    entries = journal_of(rolling).read()
    assert sum(1 for e in entries if e["event"] == "run_resumed") == 1
    assert versions(lab) == dict.fromkeys(APP_HOSTS, "v2")
    chain_intact(rolling, run_id)
    nothing_left(rolling)


# ------------------------------------------------------------------ the journal's disk full


@pytest.fixture
def small_disk(rolling: Project) -> Iterator[Path]:
    """The project's runs dir on a 16 MiB tmpfs of its own; unmounted at teardown."""
    runs = rolling.runs
    runs.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "golive-chaos-runs", str(runs)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield runs
    finally:
        subprocess.run(["umount", "--lazy", str(runs)], capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte with one file; delete it to give the space back."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 4096, 1):  # down to the last byte: a journal line must find no room at all
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


@SUBSET
def test_a_full_disk_under_the_journal_stops_the_run_before_any_further_change_and_resume_finishes_it(
    rolling: Project, lab: Lab, small_disk: Path
) -> None:
    """The journal's disk fills during batch 1's bake: golive stops (exit 130, saying why) with batch 2 not applied;
    once space is back, `golive resume` finishes the release (exit 0, every host on v2)."""
    rb = rolling_runbook(rolling)
    proc = rolling.start(rb, "-p", "version=v2")
    journal = wait_entry(rolling, "bake_started", step="roll-app", batch=1)
    filler = fill(small_disk)
    code = rolling.wait_exit(proc, timeout=EXIT_S)
    assert code == ExitCode.INTERRUPTED, rolling.output()
    assert "cannot write the run's journal" in rolling.output() and "No space left" in rolling.output()
    entries = journal.read()
    assert versions(lab) == {"app-4": "v2", "app-5": "v1", "app-6": "v1"}
    assert journal.verify() == len(entries)

    filler.unlink()
    resumed = rolling.launch("resume", entries[0]["run_id"], log_name="resume")
    assert rolling.wait_exit(resumed, timeout=EXIT_S) == ExitCode.OK, rolling.output("resume")
    assert versions(lab) == dict.fromkeys(APP_HOSTS, "v2")
    chain_intact(rolling, entries[0]["run_id"])
    nothing_left(rolling)


# ------------------------------------------------------------------ Kubernetes and Prometheus


@dataclass(frozen=True)
class Storm:
    id: str
    behaviour: str
    fault: Callable[[Lab], None]


STORMS = [
    Storm("5xx", "a burst of 503s from the API is retried", lambda lab: lab.api_errors(code=503, count=6)),
    Storm("429", "a burst of 429s (Retry-After) is waited out", lambda lab: lab.api_errors(code=429, count=6)),
    Storm("latency", "every answer 0.3 s late slows the canary, nothing more", lambda lab: lab.api_latency(0.3)),
    Storm("409", "write conflicts are read again and retried", lambda lab: lab.api_conflicts(4)),
]


@pytest.mark.parametrize("storm", STORMS, ids=[s.id for s in STORMS])
def test_a_kubernetes_api_storm_during_the_canary_is_ridden_out(
    canary: Project, lab: Lab, apps: client.AppsV1Api, storm: Storm
) -> None:
    """The storm strikes as the canary's first stage starts; the release still ends on v2 (exit 0)."""
    rb = canary_runbook(canary)
    proc = canary.start(rb, "-p", "version=v2")
    journal = wait_entry(canary, "approval_requested", step="approve-canary")
    run_id = journal.read()[0]["run_id"]
    assert canary.golive("approve", run_id, "--as", "bob").returncode == 0
    wait_entry(canary, "stage_started", step="api-canary", stage=1)
    storm.fault(lab)
    code = canary.wait_exit(proc, timeout=EXIT_S)
    lab.clear()
    assert code == ExitCode.OK, f"{storm.behaviour}: exit {code}\n{canary.output()}"
    assert image_of(apps) == "registry.local/demo:v2" and pod_images(lab) == {"registry.local/demo:v2"}
    chain_intact(canary, run_id)
    nothing_left(canary)


def test_prometheus_down_mid_canary_pauses_the_run_and_an_abort_restores_v1(
    canary: Project, lab: Lab, apps: client.AppsV1Api
) -> None:
    """With Prometheus gone the canary's gate has no data: the run pauses (inconclusive, never passed);
    with Prometheus back, `golive abort` rolls the Deployment back to v1 and the run exits 1."""
    rb = canary_runbook(canary)
    proc = canary.start(rb, "-p", "version=v2")
    journal = wait_entry(canary, "approval_requested", step="approve-canary")
    run_id = journal.read()[0]["run_id"]
    assert canary.golive("approve", run_id, "--as", "bob").returncode == 0
    wait_entry(canary, "stage_started", step="api-canary", stage=1)
    lab.service_down("prometheus")
    wait_entry(canary, "paused", step="api-canary", timeout=180)
    entries = journal.read()
    assert first(entries, "gate_passed", step="api-canary") == -1
    lab.up(prefect=True, prefect_timeout=120)
    aborted = canary.golive("abort", run_id, "--as", "bob", "--reason", "prometheus was down")
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert canary.wait_exit(proc, timeout=EXIT_S) == ExitCode.FAILED, canary.output()
    assert image_of(apps) == "registry.local/demo:v1"
    from polling import eventually

    eventually(lambda: pod_images(lab) == {"registry.local/demo:v1"}, timeout=60, what="only v1 pods")
    chain_intact(canary, run_id)
    nothing_left(canary)
