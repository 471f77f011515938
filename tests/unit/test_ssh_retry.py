"""Connect retries in the SSH driver: only transient faults, bounded, and never a real sleep."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import paramiko
import pytest
from paramiko.ssh_exception import NoValidConnectionsError

from golive.drivers import ssh
from golive.drivers.ssh import transport
from golive.errors import PermanentError, TransientError
from golive.inventory import Connection


def _conn(port: int = 2222, name: str = "app-1") -> Connection:
    return Connection(name=name, address="127.0.0.1", port=port, user="root", key_file=None, known_hosts=None)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr(transport, "sleep", waits.append)
    return waits


@pytest.fixture
def closing_server() -> Iterator[int]:
    """A TCP server that accepts and hangs up at once, like an sshd past MaxStartups."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    srv.close()


def _flaky_open(failures: list[BaseException]) -> tuple[list[int], object]:
    calls: list[int] = []
    client = object()

    def fake_open(conn: Connection, timeout: float) -> object:
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return client

    return calls, fake_open


def test_refused_connect_is_retried_then_transient(sleeps: list[float]) -> None:
    """A port nobody listens on is tried `attempts` times with growing waits, then TransientError."""
    with pytest.raises(TransientError, match="connection refused"):
        ssh.connect(_conn(_closed_port()), timeout=1.0, attempts=3)
    assert len(sleeps) == 2
    assert sleeps[0] <= sleeps[1]


def test_banner_hangup_is_retried(sleeps: list[float], closing_server: int) -> None:
    """A server that hangs up before its banner counts as transient and is retried."""
    with pytest.raises(TransientError):
        ssh.connect(_conn(closing_server), timeout=1.0, attempts=2)
    assert len(sleeps) == 1


def test_transient_faults_then_success(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    """Refused, reset and banner faults are retried until the connect succeeds within the attempts."""
    calls, fake = _flaky_open(
        [
            NoValidConnectionsError({("127.0.0.1", 2222): ConnectionRefusedError(111, "refused")}),
            ConnectionResetError(104, "reset"),
            paramiko.SSHException("Error reading SSH protocol banner"),
        ]
    )
    monkeypatch.setattr(transport, "_open", fake)
    client = ssh.connect(_conn(), attempts=4)
    assert client is not None
    assert len(calls) == 4
    assert len(sleeps) == 3


def test_connect_timeout_is_transient(monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    """A socket timeout on connect is retried and reported as transient."""
    calls, fake = _flaky_open([TimeoutError("timed out")] * 5)
    monkeypatch.setattr(transport, "_open", fake)
    with pytest.raises(TransientError, match="timed out"):
        ssh.connect(_conn(), attempts=2)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "exc",
    [
        ssh.HostKeyError("host key for app-1 does not match known_hosts", host="app-1"),
        paramiko.AuthenticationException("Authentication failed."),
        paramiko.SSHException("No existing session"),
    ],
)
def test_permanent_faults_are_not_retried(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float], exc: BaseException
) -> None:
    """Host key, authentication and other SSH errors fail on the first attempt without waiting."""
    calls, fake = _flaky_open([exc] * 5)
    monkeypatch.setattr(transport, "_open", fake)
    with pytest.raises(PermanentError):
        ssh.connect(_conn(), attempts=5)
    assert len(calls) == 1
    assert sleeps == []


def test_injected_sleep_parameter_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sleep function passed in is used instead of the module's."""
    waits: list[float] = []
    monkeypatch.setattr(transport, "sleep", lambda s: pytest.fail("module sleep used"))
    with pytest.raises(TransientError):
        ssh.connect(_conn(_closed_port()), timeout=1.0, attempts=2, sleep_fn=waits.append)
    assert len(waits) == 1


def test_all_hosts_refusing_raises_transient(sleeps: list[float]) -> None:
    """run_commands raises TransientError when no host could be reached for a transient reason."""
    port = _closed_port()
    conns = [_conn(port, "a"), _conn(port, "b")]
    with pytest.raises(TransientError, match="no host answered"):
        ssh.run_commands(connections=conns, commands=["true"], attempts=2)
    assert len(sleeps) == 2  # one wait per host


def test_transient_classification() -> None:
    """Only connect-level faults count as transient."""
    assert ssh.is_transient_connect_error(ConnectionRefusedError())
    assert ssh.is_transient_connect_error(paramiko.SSHException("Error reading SSH protocol banner[Errno 104]"))
    assert not ssh.is_transient_connect_error(paramiko.AuthenticationException("no"))
    assert not ssh.is_transient_connect_error(paramiko.SSHException("Server 'x' not found in known_hosts"))
    assert not ssh.is_transient_connect_error(ValueError("x"))
