"""Where a lab may live: loopback addresses and ports nothing else on this machine holds.

Two labs share one machine (the demo's, the tests'): a lab takes host addresses whose SSH
and demo-service ports are free, and service ports free on 127.0.0.1. Choosing and binding
are not atomic, so labs starting at once take turns through a machine-wide lock held while
one of them chooses and starts (see :func:`claim`). A service that binds late (the Prefect
server needs seconds) keeps its port through a claim file the next lab respects for
:data:`CLAIM_S` seconds.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from golive_lab.errors import LabError
from golive_lab.hosts import APP_PORT, SSH_PORT, HostSpec

DEFAULT_IP_BASE = 10
LOCK_FILE = Path(tempfile.gettempdir()) / "golive-lab-addresses.lock"
CLAIMS_DIR = Path(tempfile.gettempdir()) / "golive-lab-ports"
CLAIM_S = 180.0


def bindable(address: str, port: int) -> bool:
    """Whether nothing listens on ``address:port`` (a socket lingering in TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                return False
            raise
    return True


def _claimed(port: int, claims: Path) -> bool:
    try:
        return time.time() - (claims / str(port)).stat().st_mtime < CLAIM_S
    except FileNotFoundError:
        return False


def pick_port(preferred: int, *, claims: Path = CLAIMS_DIR) -> int:
    """``preferred`` when free on 127.0.0.1 and unclaimed, else a free port the kernel chooses; claimed for us.

    Call it under :func:`claim`.
    """
    port = preferred
    while _claimed(port, claims) or not bindable("127.0.0.1", port):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
    claims.mkdir(parents=True, exist_ok=True)
    (claims / str(port)).touch()
    return port


def release(ports: list[int | None], *, claims: Path = CLAIMS_DIR) -> None:
    """Drop our claims on ports now bound (or no longer wanted)."""
    for port in ports:
        if port:
            (claims / str(port)).unlink(missing_ok=True)


def taken_addresses(specs: list[HostSpec]) -> list[str]:
    """The host addresses on which something already listens on the SSH or demo-service port."""
    return [s.ip for s in specs if not (bindable(s.ip, s.port) and bindable(s.ip, APP_PORT))]


def free_ip_base(count: int, *, prefer: int = DEFAULT_IP_BASE) -> int | None:
    """A base B such that 127.0.0.(B+1)..(B+count) are all free; ``prefer`` first, None when none is."""
    candidates = [prefer, *range(DEFAULT_IP_BASE, 254 - count, count)]
    for base in dict.fromkeys(candidates):
        if base < DEFAULT_IP_BASE or base + count > 254:
            continue
        ips = [f"127.0.0.{base + i}" for i in range(1, count + 1)]
        if all(bindable(ip, SSH_PORT) and bindable(ip, APP_PORT) for ip in ips):
            return base
    return None


@contextlib.contextmanager
def claim(*, timeout: float = 180.0, lock_file: Path = LOCK_FILE) -> Iterator[None]:
    """Hold the machine-wide lock under which a lab chooses its addresses and ports and starts on them.

    The kernel drops the lock when its holder dies, so a killed ``lab up`` never blocks the next.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LabError(
                        f"another lab has been starting for {timeout:.0f} s (lock {lock_file}); try again"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
