"""Every driver applies, checks and undoes a change on the lab through the driver contract alone.

Each case is data: the driver, a change (carrying its rendered rollback), and a shell command
that prints the state the change alters on each host.  Adding a driver adds a case, not a test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from golive.drivers.ansible import AnsibleChange, AnsibleDriver
from golive.drivers.base import ActionResult, Driver, UndoRecord
from golive.drivers.ssh import SshChange, SshDriver, run_command
from golive.errors import PermanentError
from golive.inventory import Inventory, load_inventory
from golive_lab.lab import Lab, LabState

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
FREEZE = REPO / "playbooks" / "freeze.yml"
UNFREEZE = REPO / "playbooks" / "unfreeze.yml"
MARKER = "/srv/demo/contract-marker"


@dataclass(frozen=True)
class Env:
    inventory: Inventory
    work_dir: Path


@dataclass(frozen=True)
class Case:
    id: str
    group: str  # the change touches the first two hosts of this inventory group
    driver: Callable[[Env], Driver[Any]]
    change: Callable[[list[str]], Any]  # hosts -> the change, its rollback attached
    observe: str  # prints the state on a host
    before: str  # what ``observe`` prints before the change and after its undo ({host} is filled in)
    after: str  # what it prints once the change is applied
    check_changed: bool  # what check reports as ``changed`` per host (a prediction, or just the rendering)
    check_output: Callable[[str], str] | None = None  # host -> the output check must give


def _marker_commands(host: str) -> list[str]:
    return [f"echo applied-on-{host} > {MARKER}"]


CASES = [
    Case(
        id="ansible",
        group="db",
        driver=lambda env: AnsibleDriver(inventory=env.inventory.path, work_dir=env.work_dir),
        change=lambda hosts: AnsibleChange(
            playbook=FREEZE,
            hosts=hosts,
            timeout=120,
            rollback=AnsibleChange(playbook=UNFREEZE, hosts=hosts, timeout=120).as_rollback("freeze"),
        ),
        observe="cat /srv/db/frozen 2>/dev/null || echo absent",
        before="absent",
        after="frozen",
        check_changed=True,
    ),
    Case(
        id="ssh",
        group="app",
        driver=lambda env: SshDriver(env.inventory.connection),
        change=lambda hosts: SshChange(
            # A command list per host: the driver runs each distinct list as its own group.
            commands={h: _marker_commands(h) for h in hosts},
            timeout=30,
            rollback=SshChange(commands={h: [f"rm -f {MARKER}"] for h in hosts}).as_rollback("marker"),
        ),
        observe=f"cat {MARKER} 2>/dev/null || echo absent",
        before="absent",
        after="applied-on-{host}",
        check_changed=False,
        check_output=lambda host: "\n".join(_marker_commands(host)),
    ),
]


@pytest.fixture(scope="module")
def st(lab: Lab) -> LabState:
    return lab.require()


@pytest.fixture(scope="module")
def inv(st: LabState) -> Inventory:
    return load_inventory(root=REPO, env="lab", path=Path(st.inventory))


@pytest.fixture
def env(inv: Inventory, tmp_path_factory: pytest.TempPathFactory) -> Env:
    # Short: ssh control sockets live in here.
    return Env(inventory=inv, work_dir=tmp_path_factory.mktemp("dc"))


def hosts_of(st: LabState, group: str) -> list[str]:
    return [h.name for h in st.hosts if group in h.groups][:2]


def observed(inv: Inventory, case: Case, hosts: list[str]) -> dict[str, str]:
    outs = {h: run_command(inv.connection(h), case.observe, timeout=30) for h in hosts}
    assert all(o.ok for o in outs.values()), {h: o.error or o.stderr for h, o in outs.items()}
    return {h: o.stdout.strip() for h, o in outs.items()}


def expected(template: str, hosts: list[str]) -> dict[str, str]:
    return {h: template.format(host=h) for h in hosts}


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request: pytest.FixtureRequest, st: LabState, env: Env) -> Iterator[Case]:
    case: Case = request.param
    hosts = hosts_of(st, case.group)
    assert observed(env.inventory, case, hosts) == expected(case.before, hosts), "a previous test left its mark"
    yield case
    # Whatever happened, put the hosts back through the case's own rollback.
    rollback = case.change(hosts).rollback
    assert rollback is not None
    case.driver(env).undo([rollback])


def test_check_changes_nothing(case: Case, st: LabState, env: Env) -> None:
    """check answers for every host of the change and leaves the state as it was."""
    hosts = hosts_of(st, case.group)
    result = case.driver(env).check(case.change(hosts))
    assert result.ok, result.summary()
    assert sorted(result.results) == sorted(hosts)
    assert {h: r.changed for h, r in result.results.items()} == dict.fromkeys(hosts, case.check_changed)
    if case.check_output is not None:
        assert {h: r.output for h, r in result.results.items()} == {h: case.check_output(h) for h in hosts}
    assert observed(env.inventory, case, hosts) == expected(case.before, hosts)


def test_apply_saves_its_undo_first_and_undo_restores(case: Case, st: LabState, env: Env) -> None:
    """apply saves the undo record before changing anything; undo of exactly those records puts the state back."""
    hosts = hosts_of(st, case.group)
    driver = case.driver(env)
    saved: list[UndoRecord] = []
    states_when_saved: list[dict[str, str]] = []

    def save(record: UndoRecord) -> None:
        saved.append(UndoRecord.from_dict(record.as_dict()))  # as the journal keeps it: JSON only
        states_when_saved.append(observed(env.inventory, case, hosts))

    applied: ActionResult = driver.apply(case.change(hosts), save=save)
    assert applied.ok, applied.summary()
    assert sorted(applied.results) == sorted(hosts)
    assert all(r.changed for r in applied.results.values())
    assert states_when_saved == [expected(case.before, hosts)]
    assert observed(env.inventory, case, hosts) == expected(case.after, hosts)

    undone = driver.undo(saved)
    assert undone.ok, undone.summary()
    assert sorted(undone.results) == sorted(hosts)
    assert observed(env.inventory, case, hosts) == expected(case.before, hosts)


def test_undo_refuses_a_record_of_another_kind_before_running_any(case: Case, st: LabState, env: Env) -> None:
    """A record the driver cannot undo fails the whole undo up front: the records beside it do not run."""
    hosts = hosts_of(st, case.group)
    driver = case.driver(env)
    saved: list[UndoRecord] = []
    assert driver.apply(case.change(hosts), save=saved.append).ok
    foreign = UndoRecord(what="saved", kind="Deployment", name="web", namespace="default", spec={"replicas": 1})
    with pytest.raises(PermanentError, match="cannot undo"):
        driver.undo([*saved, foreign])
    assert observed(env.inventory, case, hosts) == expected(case.after, hosts)
