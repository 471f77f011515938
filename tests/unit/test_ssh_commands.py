"""The SSH driver against an in-process paramiko server on loopback: output, rc, order, host keys."""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)

from golive.checks.base import Outcome, Verdict
from golive.checks.command import probe_command
from golive.drivers import ssh
from golive.drivers.ssh import transport
from golive.engine.services import command_runner
from golive.inventory import Connection


class _Server(paramiko.ServerInterface):
    """Accepts one public key; runs exec requests with /bin/sh on this machine."""

    def __init__(self, allowed: paramiko.PKey) -> None:
        self.allowed = allowed

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = key.asbytes() == self.allowed.asbytes()
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        # paramiko answers the exec request only after this returns; a command that finished and
        # closed the channel before that answer would look like a refused request to the client.
        timer = threading.Timer(0.1, _run, args=(channel, command.decode()))
        timer.daemon = True
        timer.start()
        return True


def _run(channel: paramiko.Channel, command: str) -> None:
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, timeout=10, check=False)
    channel.sendall(proc.stdout)
    channel.sendall_stderr(proc.stderr)
    channel.send_exit_status(proc.returncode)
    channel.close()


@dataclass
class FakeHost:
    port: int
    key_file: Path
    known_hosts: Path
    host_key: paramiko.PKey

    def conn(self, name: str = "h1", known_hosts: Path | None = None) -> Connection:
        return Connection(
            name=name,
            address="127.0.0.1",
            port=self.port,
            user="root",
            key_file=str(self.key_file),
            known_hosts=str(known_hosts or self.known_hosts),
        )


@pytest.fixture(scope="module")
def fake_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHost]:
    tmp = tmp_path_factory.mktemp("ssh")
    client_key = paramiko.RSAKey.generate(2048)
    client_key.write_private_key_file(str(tmp / "id_rsa"))
    host_key = paramiko.RSAKey.generate(2048)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(32)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    (tmp / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
    stop = threading.Event()
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                sock, _ = srv.accept()
            except OSError:
                continue
            t = paramiko.Transport(sock)
            t.add_server_key(host_key)
            transports.append(t)
            try:
                t.start_server(server=_Server(client_key))
            except (paramiko.SSHException, EOFError, OSError):
                t.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield FakeHost(port=port, key_file=tmp / "id_rsa", known_hosts=tmp / "known_hosts", host_key=host_key)
    stop.set()
    thread.join(timeout=2)
    for t in transports:
        t.close()
    srv.close()


def test_commands_run_in_order_and_capture_output(fake_host: FakeHost) -> None:
    """Every command runs in order; stdout and stderr are kept, rc is the last command's."""
    result = ssh.run_commands(connections=[fake_host.conn()], commands=["echo one", "echo two >&2; echo three"])
    host = result.results["h1"]
    assert host.ok and host.rc == 0
    assert host.output.index("one") < host.output.index("three")
    assert "[stderr]\ntwo" in host.output


def test_host_stops_at_first_failing_command(fake_host: FakeHost, tmp_path: Path) -> None:
    """After a non-zero exit the host runs nothing more and reports which command failed."""
    marker = tmp_path / "ran"
    result = ssh.run_commands(
        connections=[fake_host.conn()], commands=["true", "echo boom >&2; exit 3", f"touch {shlex.quote(str(marker))}"]
    )
    host = result.results["h1"]
    assert not host.ok and host.rc == 3
    assert host.message == "command 2/3 exited with rc 3: boom"
    assert not marker.exists()


def test_output_is_capped_and_marked(fake_host: FakeHost) -> None:
    """Output past max_output is dropped and the drop is said in the output."""
    out = ssh.exec_on_host(fake_host.conn(), "head -c 5000 /dev/zero | tr '\\0' x", max_output=1000)
    assert out.rc == 0 and out.truncated
    assert out.stdout.startswith("x" * 1000)
    assert "[... truncated 4000 bytes]" in out.stdout


def test_command_timeout_is_reported(fake_host: FakeHost) -> None:
    """A command running past its timeout fails the host with no rc."""
    result = ssh.run_commands(connections=[fake_host.conn()], commands=["sleep 5"], timeout=0.3)
    host = result.results["h1"]
    assert not host.ok and host.rc is None
    assert "timed out" in host.message


def test_changed_host_key_is_refused(fake_host: FakeHost, tmp_path: Path) -> None:
    """A host whose key differs from known_hosts is refused, with a message that says so."""
    other = paramiko.RSAKey.generate(2048)
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{fake_host.port} {other.get_name()} {other.get_base64()}\n")
    result = ssh.run_commands(connections=[fake_host.conn(known_hosts=kh)], commands=["true"])
    host = result.results["h1"]
    assert not host.ok and host.unreachable
    assert "host key for h1 (127.0.0.1" in host.message
    assert "does not match known_hosts" in host.message


def test_unknown_host_is_refused(fake_host: FakeHost, tmp_path: Path) -> None:
    """A host missing from known_hosts is refused rather than trusted on first use."""
    kh = tmp_path / "empty_known_hosts"
    kh.write_text("")
    result = ssh.run_commands(connections=[fake_host.conn(known_hosts=kh)], commands=["true"])
    assert "is not in known_hosts" in result.results["h1"].message
    assert kh.read_text() == ""


def test_hosts_run_concurrently_with_own_results(fake_host: FakeHost) -> None:
    """Several hosts each get their own result, keyed by inventory name."""
    conns = [fake_host.conn(f"h{i}") for i in range(5)]
    result = ssh.run_commands(connections=conns, commands=["echo hi"], max_workers=5)
    assert sorted(result.results) == [f"h{i}" for i in range(5)]
    assert result.ok


def test_run_on_host_returns_host_result(fake_host: FakeHost) -> None:
    """run_on_host wraps one command as a HostResult with rc and output."""
    hr = ssh.run_on_host(fake_host.conn(), "printf '%s' hello; exit 1", 5, 1024)
    assert hr.rc == 1 and hr.output == "hello" and not hr.ok


def test_command_probe_judges_rc_and_stdout(fake_host: FakeHost) -> None:
    """probe_command passes on the expected rc and stdout, and fails otherwise with what it saw."""
    conn = fake_host.conn()

    def probe(command: str, rc: int = 0, pattern: str | None = None) -> Verdict:
        return asyncio.run(
            probe_command(
                run=command_runner(lambda _: conn),
                host=conn.name,
                command=command,
                expect_rc=rc,
                stdout_regex=pattern,
                timeout=5,
            )
        )

    assert probe("echo v1", pattern=r"^v1$").outcome is Outcome.PASS
    mismatch = probe("echo v2", pattern=r"^v1$")
    assert mismatch.outcome is Outcome.FAIL and "'v2' does not match" in mismatch.observed
    wrong_rc = probe("echo nope >&2; exit 4")
    assert (wrong_rc.outcome, wrong_rc.observed) == (Outcome.FAIL, "rc 4: nope")
    assert probe("exit 4", rc=4).outcome is Outcome.PASS


def test_command_probe_on_dead_host_fails(fake_host: FakeHost, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that cannot be reached fails the probe rather than leaving it undecided."""
    waits: list[float] = []
    monkeypatch.setattr(transport, "sleep", waits.append)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = dataclasses.replace(fake_host.conn(), port=port)
    run = command_runner(lambda _: conn)
    verdict = asyncio.run(
        probe_command(run=run, host=conn.name, command="true", expect_rc=0, stdout_regex=None, timeout=2)
    )
    assert (verdict.outcome, verdict.observed) == (Outcome.FAIL, "unreachable")
    assert "connection refused" in verdict.message
    assert len(waits) == 1  # retried once, without sleeping for real
