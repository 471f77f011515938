"""Drivers and probes against the lab: real sshd hosts, real Ansible runs, the lab's Prometheus."""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kit import eventually

from golive.checks.base import Outcome, Verdict
from golive.checks.command import probe_command
from golive.checks.http import make_client, probe_http
from golive.checks.prometheus import probe_prometheus, query_prometheus
from golive.checks.tcp import probe_tcp
from golive.drivers.ansible import run_playbook
from golive.drivers.base import ActionResult
from golive.drivers.ssh import run_commands
from golive.engine.services import command_runner
from golive.errors import PermanentError, TransientError
from golive.inventory import Inventory, load_inventory
from golive_lab.lab import Lab, LabState

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "playbooks" / "deploy.yml"
APP_PORT = 8080
T = TypeVar("T")


@pytest.fixture(scope="module")
def st(lab: Lab) -> LabState:
    return lab.require()


@pytest.fixture(scope="module")
def inventory_path(st: LabState) -> Path:
    # The lab writes an inventory matching its own host count and addresses.
    return Path(st.inventory)


@pytest.fixture(scope="module")
def inv(inventory_path: Path) -> Inventory:
    return load_inventory(root=REPO, env="lab", path=inventory_path)


@pytest.fixture(scope="module")
def names(st: LabState) -> list[str]:
    apps = [h.name for h in st.hosts if "app" in h.groups]
    others = [h.name for h in st.hosts if "app" not in h.groups]
    return apps + others


@pytest.fixture
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Short: ssh control sockets live in here.
    return tmp_path_factory.mktemp("drv")


def version(st: LabState, name: str) -> str:
    ip = st.host(name).ip
    try:
        return httpx.get(f"http://{ip}:{APP_PORT}/version", timeout=3.0).text.strip()
    except httpx.HTTPError as exc:
        return f"unreachable: {exc}"


def deploy(*, inventory: Path, hosts: list[str], ver: str, work_dir: Path, check: bool = False) -> ActionResult:
    return run_playbook(
        playbook=DEPLOY,
        inventory=inventory,
        hosts=hosts,
        extravars={"version": ver},
        check=check,
        timeout=120,
        work_dir=work_dir,
    )


def test_deploy_v2_on_two_hosts_then_back(st: LabState, inventory_path: Path, names: list[str], work_dir: Path) -> None:
    """deploy.yml switches exactly the limited hosts to v2 and back to v1, with a changed result per host."""
    pair, bystander = names[:2], names[2]
    events: list[dict[str, object]] = []
    try:
        up = run_playbook(
            playbook=DEPLOY,
            inventory=inventory_path,
            hosts=pair,
            extravars={"version": "v2"},
            timeout=120,
            work_dir=work_dir,
            on_event=events.append,
        )
        assert up.ok, up.summary()
        assert sorted(up.results) == sorted(pair)
        assert all(r.changed for r in up.results.values())
        assert [version(st, n) for n in pair] == ["v2", "v2"]
        assert version(st, bystander) == "v1"
        assert {e.get("host") for e in events if e["event"] == "ok"} == set(pair)
    finally:
        down = deploy(inventory=inventory_path, hosts=pair, ver="v1", work_dir=work_dir)
    assert down.ok, down.summary()
    assert [version(st, n) for n in pair] == ["v1", "v1"]


def test_check_mode_changes_nothing(
    lab: Lab, st: LabState, inventory_path: Path, names: list[str], work_dir: Path
) -> None:
    """--check reports what would change but installs and switches nothing."""
    host = names[0]
    result = deploy(inventory=inventory_path, hosts=[host], ver="v9-check", work_dir=work_dir, check=True)
    assert result.ok, result.summary()
    assert result.detail["check"] is True
    assert version(st, host) == "v1"
    assert not (lab.dir / "hosts" / host / "opt" / "demo" / "releases" / "v9-check").exists()


def test_missing_playbook_is_permanent(inventory_path: Path, names: list[str], work_dir: Path) -> None:
    """A playbook path that does not exist raises PermanentError."""
    with pytest.raises(PermanentError, match="not found"):
        run_playbook(
            playbook=REPO / "playbooks" / "no-such.yml",
            inventory=inventory_path,
            hosts=names[:1],
            extravars={},
            work_dir=work_dir,
        )


def test_shell_metacharacters_arrive_as_one_argument(inv: Inventory, names: list[str], tmp_path: Path) -> None:
    """A parameter quoted with shlex reaches the remote command as one literal argument, unexpanded."""
    marker = tmp_path / "pwned"
    param = f"a b; touch {marker} $(touch {marker}) `id` 'q\" | & > * $HOME"
    result = run_commands(
        connections=[inv.connection(names[0])], commands=[f"printf '<%s>\\n' {shlex.quote(param)}"], timeout=10
    )
    host = result.results[names[0]]
    assert host.ok, host.message
    assert host.output == f"<{param}>\n"
    assert not marker.exists()


def test_changed_host_key_is_refused(inv: Inventory, st: LabState, names: list[str], tmp_path: Path) -> None:
    """A known_hosts entry that no longer matches the host makes the driver refuse the host."""
    name = names[0]
    host = st.host(name)
    fake = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    known = tmp_path / "known_hosts"
    lines = [
        ln for ln in Path(st.known_hosts).read_text().splitlines() if not ln.startswith(f"[{host.ip}]:{host.port} ")
    ]
    known.write_text("\n".join([*lines, f"[{host.ip}]:{host.port} {fake}"]) + "\n")
    conn = dataclasses.replace(inv.connection(name), known_hosts=str(known))
    result = run_commands(connections=[conn], commands=["touch /srv/should-not-exist"], timeout=10)
    hr = result.results[name]
    assert not hr.ok and hr.unreachable
    assert f"host key for {name}" in hr.message and "does not match known_hosts" in hr.message


@pytest.fixture
def stopped_host(lab: Lab, names: list[str]) -> Iterator[str]:
    name = names[-1]
    lab.sshd_stop(name)
    try:
        yield name
    finally:
        lab.host_up(name)


def test_stopped_host_is_unreachable(
    inv: Inventory, inventory_path: Path, names: list[str], stopped_host: str, work_dir: Path
) -> None:
    """A host whose sshd is down is unreachable for SSH and Ansible; the others still run."""
    alive = names[0]
    conns = [inv.connection(alive), inv.connection(stopped_host)]
    result = run_commands(connections=conns, commands=["true"], timeout=10, attempts=2, sleep_fn=lambda _s: None)
    assert result.results[alive].ok
    dead = result.results[stopped_host]
    assert dead.unreachable and "connection refused" in dead.message
    with pytest.raises(TransientError):
        run_commands(connections=[inv.connection(stopped_host)], commands=["true"], attempts=1)
    ans = deploy(inventory=inventory_path, hosts=[alive, stopped_host], ver="v1", work_dir=work_dir)
    assert ans.results[alive].ok
    assert ans.results[stopped_host].unreachable


def _http(st: LabState, name: str, path: str = "/health") -> tuple[str, str]:
    return name, f"http://{st.host(name).ip}:{APP_PORT}{path}"


async def _probe_health(st: LabState, name: str) -> Verdict:
    host, url = _http(st, name)
    async with make_client() as client:
        return await probe_http(
            url=url, host=host, method="GET", expect_status=200, body_regex=None, max_latency=2.0, client=client
        )


def test_http_probe_passes_on_v1_fails_on_v2_bad(
    st: LabState, inventory_path: Path, names: list[str], work_dir: Path
) -> None:
    """/health passes on v1; on v2-bad it answers 200 too slowly and the 2s latency limit fails it."""
    host = names[1]
    v1 = asyncio.run(_probe_health(st, host))
    assert v1.outcome is Outcome.PASS, v1.summary()
    try:
        bad = deploy(inventory=inventory_path, hosts=[host], ver="v2-bad", work_dir=work_dir)
        assert bad.ok, bad.summary()
        verdict = asyncio.run(_probe_health(st, host))
        assert verdict.outcome is Outcome.FAIL, verdict.summary()
        assert verdict.observed.startswith("status 200 in 2.")
        assert verdict.limit == "status 200, latency <= 2s"
    finally:
        back = deploy(inventory=inventory_path, hosts=[host], ver="v1", work_dir=work_dir)
    assert back.ok, back.summary()


def test_http_probe_body_matches_version(st: LabState, names: list[str]) -> None:
    """The body pattern is checked against what the service says."""
    host, url = _http(st, names[0], "/version")

    async def go(pattern: str) -> Verdict:
        async with make_client() as client:
            return await probe_http(
                url=url, host=host, method="GET", expect_status=200, body_regex=pattern, max_latency=2.0, client=client
            )

    assert asyncio.run(go(r"^v1$")).outcome is Outcome.PASS
    assert asyncio.run(go(r"^v2$")).outcome is Outcome.FAIL


def test_tcp_probe(st: LabState, names: list[str]) -> None:
    """The demo service port accepts connections; a port nobody listens on is refused."""
    ip = st.host(names[0]).ip
    ok = asyncio.run(probe_tcp(address=f"{ip}:{APP_PORT}", host=names[0]))
    closed = asyncio.run(probe_tcp(address=f"{ip}:9", host=names[0]))
    assert ok.outcome is Outcome.PASS
    assert (closed.outcome, closed.observed) == (Outcome.FAIL, "connection refused")


def test_command_probe(inv: Inventory, names: list[str]) -> None:
    """A command probe checks rc and stdout on the host itself."""
    run, host = command_runner(inv.connection), names[0]
    ok = asyncio.run(
        probe_command(run=run, host=host, command="cat /srv/demo/current", expect_rc=0, stdout_regex=r"^v1", timeout=10)
    )
    bad = asyncio.run(
        probe_command(
            run=run, host=host, command="test -e /srv/demo/nothing-here", expect_rc=0, stdout_regex=None, timeout=10
        )
    )
    assert ok.outcome is Outcome.PASS, ok.summary()
    assert bad.outcome is Outcome.FAIL and bad.observed.startswith("rc 1")


def _prom(call: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def go() -> T:
        async with make_client() as client:
            return await call(client)

    return asyncio.run(go())


def test_prometheus_value_for_up(st: LabState, names: list[str]) -> None:
    """The lab's Prometheus gives 1 for a scraped host's `up` and PASSes a min-1 gate on it."""
    url = st.prometheus.url or ""
    ip = st.host(names[0]).ip
    query = f'up{{instance="{ip}:{APP_PORT}"}}'

    def value() -> float | None:
        return _prom(lambda c: query_prometheus(base_url=url, query=query, client=c))

    assert eventually(value, timeout=15, what=f"{query} == 1") == 1.0
    verdict = _prom(
        lambda c: probe_prometheus(
            base_url=url,
            query=f"sum({query})",
            max=None,
            min=1,
            baseline_query=None,
            max_ratio=None,
            max_delta=None,
            client=c,
        )
    )
    assert verdict.outcome is Outcome.PASS


def test_prometheus_empty_result_is_inconclusive(st: LabState) -> None:
    """A query with no series gives None and an INCONCLUSIVE verdict."""
    url = st.prometheus.url or ""
    query = 'up{job="no-such-job"}'
    assert _prom(lambda c: query_prometheus(base_url=url, query=query, client=c)) is None
    verdict = _prom(
        lambda c: probe_prometheus(
            base_url=url, query=query, max=1, min=None, baseline_query=None, max_ratio=None, max_delta=None, client=c
        )
    )
    assert verdict.outcome is Outcome.INCONCLUSIVE


def test_prometheus_bad_query(st: LabState) -> None:
    """A query Prometheus cannot parse raises PermanentError with its text; as a gate it is INCONCLUSIVE."""
    url = st.prometheus.url or ""
    with pytest.raises(PermanentError, match="parse error"):
        _prom(lambda c: query_prometheus(base_url=url, query="sum(up", client=c))
    verdict = _prom(
        lambda c: probe_prometheus(
            base_url=url, query="sum(up", max=1, min=None, baseline_query=None, max_ratio=None, max_delta=None, client=c
        )
    )
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "parse error" in verdict.message
