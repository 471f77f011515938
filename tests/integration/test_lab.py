"""The lab runs real protocols: verified SSH, Ansible, Prometheus, Prefect, and stops cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kit import eventually

from golive_lab import hosts as lab_hosts
from golive_lab import process, prometheus
from golive_lab.lab import Lab, LabState, emulator_available, load_state

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def state(lab: Lab) -> LabState:
    current = load_state(lab.dir)
    assert current is not None
    return current


def ssh(lab: Lab, host: str, command: str, *, known_hosts: Path | None = None) -> str:
    st = state(lab)
    h = st.host(host)
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts or st.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            h.ip,
            port=h.port,
            username="root",
            key_filename=st.ssh_key,
            timeout=5,
            allow_agent=False,
            look_for_keys=False,
        )
        _, stdout, _ = client.exec_command(command, timeout=10)
        return str(stdout.read().decode()).strip()
    finally:
        client.close()


def ansible(lab: Lab, *args: str, inventory: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOLIVE_LAB_DIR": str(lab.dir), "ANSIBLE_CONFIG": str(lab.dir / "ansible.cfg")}
    cmd = [str(BIN / args[0]), "-i", inventory or str(lab.dir / "inventory"), *args[1:]]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def version_of(ip: str) -> str:
    return httpx.get(f"http://{ip}:{lab_hosts.APP_PORT}/version", timeout=2).text.strip()


def serves(ip: str, version: str) -> bool:
    try:
        return version_of(ip) == version
    except httpx.HTTPError:
        return False


def test_every_host_answers_ssh_with_its_own_name_and_verified_key(lab: Lab) -> None:
    """Each host's sshd is reachable with host-key verification on and is a separate host."""
    for host in state(lab).hosts:
        out = ssh(lab, host.name, "hostname; cat /srv/demo/current; test -d /opt/demo && echo opt")
        assert out.split() == [host.name, "v1", "opt"]


def test_a_changed_host_key_is_refused(lab: Lab, tmp_path: Path) -> None:
    """A client whose known_hosts holds another key for the host refuses to connect."""
    st = state(lab)
    target = st.hosts[0]
    other = Ed25519PrivateKey.generate().public_key()
    line = other.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    forged = tmp_path / "known_hosts"
    forged.write_text(f"[{target.ip}]:{target.port} {line}\n")
    with pytest.raises(paramiko.BadHostKeyException):
        ssh(lab, target.name, "true", known_hosts=forged)
    openssh = subprocess.run(
        [
            "ssh",
            "-p",
            str(target.port),
            "-i",
            st.ssh_key,
            "-o",
            f"UserKnownHostsFile={forged}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            f"root@{target.ip}",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert openssh.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in openssh.stderr


def test_ansible_ping_passes_with_the_repo_inventory(lab: Lab) -> None:
    """`ansible all -i inventory/lab -m ping` reaches every host with host key checking on."""
    if state(lab).hosts[0].ip != "127.0.0.11":
        pytest.skip("the session lab is not at inventory/lab's 127.0.0.11-20 (another lab holds them, or set by env)")
    env = {**os.environ, "GOLIVE_LAB_DIR": str(lab.dir)}
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run(
        [str(BIN / "ansible"), "all", "-i", "inventory/lab", "-m", "ping", "-o"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(state(lab).hosts)


def test_ansible_ping_passes_with_the_lab_dir_inventory(lab: Lab) -> None:
    """The inventory `lab up` writes into the lab dir works on its own (db group shown)."""
    result = ansible(lab, "ansible", "db", "-m", "ping", "-o")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 2


def test_playbooks_move_a_host_to_v2_and_back(lab: Lab) -> None:
    """deploy.yml switches a host to v2 and records v1; restore.yml brings v1 back."""
    host = state(lab).host("app-1")
    deploy = ansible(lab, "ansible-playbook", "playbooks/deploy.yml", "-e", "version=v2", "-l", "app-1")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert version_of(host.ip) == "v2"
    assert ssh(lab, "app-1", "cat /srv/demo/previous") == "v1"
    again = ansible(lab, "ansible-playbook", "playbooks/deploy.yml", "-e", "version=v2", "-l", "app-1")
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout
    restore = ansible(lab, "ansible-playbook", "playbooks/restore.yml", "-l", "app-1")
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert version_of(host.ip) == "v1"


def test_db_playbooks_freeze_sync_and_unfreeze(lab: Lab) -> None:
    """freeze.yml, sync.yml and unfreeze.yml act on the db hosts' /srv/db."""
    run = ansible(lab, "ansible-playbook", "playbooks/freeze.yml", "playbooks/sync.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert ssh(lab, "db-1", "cat /srv/db/frozen") == "frozen"
    assert "state=frozen" in ssh(lab, "db-2", "cat /srv/db/synced")
    run = ansible(lab, "ansible-playbook", "playbooks/unfreeze.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert ssh(lab, "db-1", "test -e /srv/db/frozen && echo yes || echo no") == "no"


def test_prefect_server_answers_health(lab: Lab, lab_env: dict[str, str]) -> None:
    """The lab's Prefect server becomes healthy and its URL is in the lab's env file."""
    assert lab.wait_prefect(timeout=90)
    url = lab_env["PREFECT_API_URL"]
    assert httpx.get(f"{url}/health", timeout=5).status_code == 200


def test_prometheus_reports_every_host_target_up(lab: Lab) -> None:
    """Prometheus scrapes every host's demo service and finds it up."""
    st = state(lab)
    url = st.prometheus.url or ""

    def all_up() -> bool:
        found = {t["labels"]["host"]: t["health"] for t in prometheus.targets(url) if t["labels"]["job"] == "hosts"}
        return len(found) == len(st.hosts) and set(found.values()) == {"up"}

    eventually(all_up, timeout=30, what="all host targets up")


def test_prometheus_shows_more_errors_for_v2_bad_than_v1(lab: Lab) -> None:
    """With traffic flowing, v2-bad's 5xx ratio in Prometheus is above v1's."""
    st = state(lab)
    deploy = ansible(lab, "ansible-playbook", "playbooks/deploy.yml", "-e", "version=v2-bad", "-l", "app-2")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    # The demo service exports a zero 5xx series from the start, so v1's ratio exists as 0.
    ratio = (
        'sum by (version) (rate(http_requests_total{job="hosts",path="/work",code=~"5.."}[10s]))'
        ' / sum by (version) (rate(http_requests_total{job="hosts",path="/work"}[10s]))'
    )

    def ratios() -> dict[str, float] | None:
        result = prometheus.query(st.prometheus.url or "", ratio)
        found = {r["metric"]["version"]: float(r["value"][1]) for r in result}
        if "v2-bad" in found and "v1" in found and found["v2-bad"] > 0:
            return found
        return None

    try:
        found = eventually(ratios, timeout=40, what="error ratios for v1 and v2-bad")
        assert found["v2-bad"] > found["v1"]
    finally:
        ansible(lab, "ansible-playbook", "playbooks/restore.yml", "-l", "app-2")


def test_host_faults_stop_and_restore_a_host(lab: Lab) -> None:
    """app-crash, sshd-stop and host-down take away what they name; clear brings it back."""
    host = state(lab).host("db-2")
    crashed = lab.app_crash("db-2")
    assert not process.is_alive(crashed)
    lab.sshd_stop("db-2")
    assert not lab_hosts.ssh_answers(host.ip, host.port)
    lab.clear()
    assert lab_hosts.ssh_answers(host.ip, host.port)
    eventually(lambda: serves(host.ip, "v1"), timeout=15, what="db-2 serving after clear")
    lab.host_down("db-2")
    assert not lab_hosts.ssh_answers(host.ip, host.port)
    with pytest.raises(httpx.HTTPError):
        version_of(host.ip)
    lab.host_up("db-2")
    assert ssh(lab, "db-2", "hostname") == "db-2"
    eventually(lambda: serves(host.ip, "v1"), timeout=15, what="db-2 serving after host-up")


@pytest.mark.skipif(not emulator_available(), reason="kube emulator not installed")
def test_api_error_fault_reaches_the_emulator(lab: Lab) -> None:
    """api-errors makes the next requests to the Kubernetes API fail, then it answers again."""
    url = state(lab).kube.url
    lab.api_errors(code=503, count=2, retry_after=1)
    try:
        codes = [httpx.get(f"{url}/api/v1/namespaces/default/pods", timeout=5).status_code for _ in range(3)]
    finally:
        lab.clear()
    assert codes == [503, 503, 200]


def test_up_again_keeps_the_running_processes(lab: Lab) -> None:
    """A second `up` on a running lab starts nothing new."""
    before = state(lab).pids()
    after = lab.up().pids()
    assert after == before


def test_down_leaves_no_process_behind(tmp_path_factory: pytest.TempPathFactory, lab: Lab) -> None:
    """A second small lab (other addresses) stops every process it started, inside hosts too."""
    small = Lab(tmp_path_factory.mktemp("small-lab"))
    try:
        st = small.up(hosts=2, ip_base=_free_ip_base(2), prefect=False)
        assert small.wait_apps(timeout=30) == []
        started = [pid for root in st.pids() for pid in _tree(root)]
        assert len(started) > len(st.pids())  # the hosts' inits, sshd and apps are in there
    finally:
        left = small.down()
    assert left == []
    assert [pid for pid in started if process.is_alive(pid)] == []
    assert load_state(small.dir) is None


def _free_ip_base(count: int) -> int:
    """An address base whose hosts no SSH server answers on (other labs may share this machine)."""
    for base in range(240, 120, -count):
        if not any(lab_hosts.ssh_answers(f"127.0.0.{base + i}", timeout=0.1) for i in range(1, count + 1)):
            return base
    pytest.skip("no free loopback addresses for a second lab")


def _tree(pid: int) -> list[int]:
    return [pid, *(p for child in process.children(pid) for p in _tree(child))]
