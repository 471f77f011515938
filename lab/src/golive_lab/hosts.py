"""Lab hosts: one OpenSSH sshd per host in its own mount, UTS and PID namespaces.

Host ``i`` (1-based) is 127.0.0.(10+i):2222. Its files live in ``<labdir>/hosts/<name>/``;
``opt/`` and ``srv/`` there are what the host sees as /opt and /srv. The recorded PID of
a host is the ``unshare`` process: ending it ends every process inside the host,
including services Ansible started there.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from golive_lab import process

log = structlog.get_logger(__name__)

SSHD = "/usr/sbin/sshd"
SSH_PORT = 2222
APP_PORT = 8080
HOSTINIT = Path(__file__).with_name("hostinit.py")
DEMO_APP = Path(__file__).with_name("demo_app.py")


@dataclass(frozen=True)
class HostSpec:
    """Where one lab host lives and which inventory groups it belongs to."""

    name: str
    ip: str
    port: int = SSH_PORT
    groups: tuple[str, ...] = field(default=("app",))


def plan_hosts(count: int, *, ip_base: int = 10) -> list[HostSpec]:
    """Names, addresses and groups of a ``count``-host lab: app-1..app-(N-2), then db-1 and db-2.

    Host i (1-based) gets 127.0.0.(ip_base + i); tests use another base for a second lab.
    """
    if not count >= 1 or ip_base + count > 254:
        raise ValueError(f"host count {count} with ip base {ip_base} does not fit in 127.0.0.1-254")
    if count < 3:
        names = [(f"app-{i}", ("app",)) for i in range(1, count + 1)]
    else:
        names = [(f"app-{i}", ("app",)) for i in range(1, count - 1)]
        names += [("db-1", ("db",)), ("db-2", ("db",))]
    return [
        HostSpec(name=name, ip=f"127.0.0.{ip_base + i}", groups=groups)
        for i, (name, groups) in enumerate(names, start=1)
    ]


def host_dir(lab_dir: Path, name: str) -> Path:
    return lab_dir / "hosts" / name


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def ensure_keypair(private: Path, *, comment: str) -> str:
    """Create an ed25519 key pair at ``private`` (+ ``.pub``) unless present; return the public line."""
    public = private.with_name(private.name + ".pub")
    if private.exists() and public.exists():
        return public.read_text().strip()
    key = Ed25519PrivateKey.generate()
    _write_private(
        private,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
    )
    line = (
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        + f" {comment}"
    )
    public.write_text(line + "\n")
    return line


def client_key(lab_dir: Path) -> Path:
    return lab_dir / "ssh" / "id_ed25519"


def prepare_client_key(lab_dir: Path) -> Path:
    """The key Ansible and golive log in with, authorised for root on every host."""
    key = client_key(lab_dir)
    public = ensure_keypair(key, comment="golive-lab")
    (lab_dir / "ssh" / "authorized_keys").write_text(public + "\n")
    return key


def sshd_config(lab_dir: Path, spec: HostSpec) -> str:
    hdir = host_dir(lab_dir, spec.name)
    return "\n".join(
        [
            f"ListenAddress {spec.ip}:{spec.port}",
            f"HostKey {hdir / 'ssh_host_ed25519_key'}",
            f"PidFile {hdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {lab_dir / 'ssh' / 'authorized_keys'}",
            "UsePAM no",
            # The lab dir may sit in a world-writable tmp dir during tests.
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            # Ansible forks and ControlPersist open many sessions at once.
            "MaxStartups 200:30:400",
            "MaxSessions 100",
            "UseDNS no",
            "PrintMotd no",
            "LogLevel ERROR",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def prepare_host(lab_dir: Path, spec: HostSpec) -> str:
    """Write the host's directories, host key and sshd config; return its known_hosts line."""
    hdir = host_dir(lab_dir, spec.name)
    for sub in ("opt/demo/releases", "srv/demo", "srv/db"):
        (hdir / sub).mkdir(parents=True, exist_ok=True)
    public = ensure_keypair(hdir / "ssh_host_ed25519_key", comment=f"root@{spec.name}")
    (hdir / "sshd_config").write_text(sshd_config(lab_dir, spec))
    key_type, key_data = public.split()[:2]
    return f"[{spec.ip}]:{spec.port} {key_type} {key_data}"


def seed_release(lab_dir: Path, spec: HostSpec, version: str) -> None:
    """Install ``version`` of the demo service as the host's current release, as if deployed.

    The host's init starts it at boot, which is much faster than a first Ansible run.
    """
    hdir = host_dir(lab_dir, spec.name)
    release = hdir / "opt" / "demo" / "releases" / version
    release.mkdir(parents=True, exist_ok=True)
    (release / "app.py").write_bytes(DEMO_APP.read_bytes())
    current = hdir / "srv" / "demo" / "current"
    if not current.exists():
        current.write_text(f"{version}\n")


def write_known_hosts(lab_dir: Path, lines: list[str]) -> Path:
    path = lab_dir / "known_hosts"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_host(lab_dir: Path, spec: HostSpec, *, python: str = sys.executable) -> tuple[int, int]:
    """Start the host's namespaces with sshd (and its configured demo release); return (pid, start)."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    hdir = host_dir(lab_dir, spec.name)
    argv = [
        "unshare",
        "--mount",
        "--uts",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--propagation",
        "private",
        # -S: the init needs only the standard library, and skipping site is faster per host.
        python,
        "-S",
        str(HOSTINIT),
        "--name",
        spec.name,
        "--ip",
        spec.ip,
        "--hostdir",
        str(hdir),
        "--sshd-config",
        str(hdir / "sshd_config"),
        "--python",
        python,
        "--app-port",
        str(APP_PORT),
    ]
    pid, started = process.spawn(argv, log_file=hdir / "unshare.log")
    log.info("host_started", host=spec.name, ip=spec.ip, pid=pid)
    return pid, started


def init_pid(host_pid: int) -> int | None:
    """The outer PID of the host's namespace init (the only child of the recorded ``unshare``)."""
    kids = process.children(host_pid)
    return kids[0] if kids else None


def ssh_answers(ip: str, port: int = SSH_PORT, *, timeout: float = 0.5) -> bool:
    """Whether an SSH server greets on ip:port."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def wait_ssh(specs: list[HostSpec], *, timeout: float = 15.0) -> list[str]:
    """Wait until every host's sshd greets; return the names that did not in ``timeout``."""
    pending = {s.name: s for s in specs}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name, spec in list(pending.items()):
            if ssh_answers(spec.ip, spec.port, timeout=0.2):
                del pending[name]
        if pending:
            time.sleep(0.05)
    return sorted(pending)


def signal_init(host_pid: int, sig: int) -> bool:
    """Send ``sig`` to the host's namespace init; False when the host is not running."""
    init = init_pid(host_pid)
    if init is None:
        return False
    os.kill(init, sig)
    return True


def app_pid(lab_dir: Path, name: str, host_pid: int) -> int | None:
    """Outer PID of the demo service the host runs, from its pid file inside the host."""
    pidfile = host_dir(lab_dir, name) / "srv" / "demo" / "app.pid"
    init = init_pid(host_pid)
    if init is None or not pidfile.exists():
        return None
    try:
        inner = int(pidfile.read_text().split()[0])
    except (ValueError, IndexError):
        return None
    return process.outer_pid(init, inner)


PROMETHEUS_URL_FROM_ENV = "{{ lookup('env', 'GOLIVE_PROMETHEUS_URL') | default('http://127.0.0.1:9090', true) }}"


def _real_faults(lab_dir: Path) -> dict[str, dict[str, str]]:
    lab = f"{Path(sys.executable).with_name('golive')} lab fault"
    where = f"--dir {lab_dir}"
    return {
        "host-down": {"inject": f"{lab} host-down {{host}} {where}", "heal": f"{lab} host-up {{host}} {where}"},
        "sshd-stop": {"inject": f"{lab} sshd-stop {{host}} {where}", "heal": f"{lab} host-up {{host}} {where}"},
    }


def write_inventory(lab_dir: Path, specs: list[HostSpec], *, python: str = sys.executable) -> Path:
    """Write ``<labdir>/inventory`` (hosts.yml + group_vars/all.yml) with absolute paths."""
    inv = lab_dir / "inventory"
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    groups: dict[str, dict[str, dict[str, object]]] = {}
    for spec in specs:
        for group in spec.groups:
            groups.setdefault(group, {"hosts": {}})["hosts"][spec.name] = {"ansible_host": spec.ip}
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": groups}}, sort_keys=False))
    known_hosts = lab_dir / "known_hosts"
    all_vars = {
        "golive_lab_dir": str(lab_dir),
        "ansible_port": SSH_PORT,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(client_key(lab_dir)),
        "golive_known_hosts": str(known_hosts),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes",
        "ansible_python_interpreter": python,
        "golive_python": python,
        "golive_app_port": APP_PORT,
        # golive run loads GOLIVE_PROMETHEUS_URL from <labdir>/env; the port is only known once it runs.
        "golive_prometheus_url": PROMETHEUS_URL_FROM_ENV,
        "golive_min_approvers": 1,
        "golive_protected": False,
        "golive_clusters": {"default": {"kubeconfig": str(lab_dir / "kubeconfig"), "context": "lab"}},
        # Real faults for golive rehearse: {host} is the host the drill's point strikes.
        "golive_faults": _real_faults(lab_dir),
        # The lab's inbox (golive lab inbox) writes its URL there when it starts.
        "golive_notify": {"lab-inbox": {"url_file": str(lab_dir / "inbox.url")}},
    }
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(all_vars, sort_keys=False))
    return inv


def write_ansible_cfg(lab_dir: Path) -> Path:
    """An ansible.cfg for the lab dir's inventory; temp files and SSH sockets stay in the lab dir."""
    path = lab_dir / "ansible.cfg"
    (lab_dir / "ansible" / "tmp").mkdir(parents=True, exist_ok=True)
    (lab_dir / "ansible" / "cp").mkdir(parents=True, exist_ok=True)
    path.write_text(
        "\n".join(
            [
                "[defaults]",
                f"inventory = {lab_dir / 'inventory'}",
                "forks = 10",
                "host_key_checking = True",
                f"local_tmp = {lab_dir / 'ansible' / 'tmp'}",
                "interpreter_python = auto_silent",
                "retry_files_enabled = False",
                "",
                "[ssh_connection]",
                "pipelining = True",
                f"control_path_dir = {lab_dir / 'ansible' / 'cp'}",
                "ssh_args = -o ControlMaster=auto -o ControlPersist=60s",
                "",
            ]
        )
    )
    return path
