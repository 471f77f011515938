"""Loopback address pools for pod IPs and service cluster IPs."""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from collections.abc import Sequence

POD_NETWORK = "127.1.0.0/16"
SERVICE_NETWORK = "127.2.0.0/16"


class IpPool:
    """Hands out addresses of a loopback network round-robin, so a freed address rests a while."""

    def __init__(self, network: str) -> None:
        self._network = ipaddress.IPv4Network(network)
        if not self._network.is_loopback:
            raise ValueError(f"{network} is not a loopback network")
        self._hosts = [str(ip) for ip in self._network.hosts() if int(ip) & 0xFF not in (0, 255)]
        self._used: set[str] = set()
        self._next = 0
        self._lock = threading.Lock()

    def allocate(self, *, ports: Sequence[int] = ()) -> str:
        """The next free address; with ``ports``, one where nothing on this machine listens on them.

        Another emulator (a second lab, a test's own) hands out the same addresses, so an
        address in use elsewhere is skipped rather than handed to a pod that cannot bind it.
        """
        with self._lock:
            for offset in range(len(self._hosts)):
                candidate = self._hosts[(self._next + offset) % len(self._hosts)]
                if candidate not in self._used and all(_bindable(candidate, p) for p in ports):
                    self._used.add(candidate)
                    self._next = (self._next + offset + 1) % len(self._hosts)
                    return candidate
        raise RuntimeError(f"address pool {self._network} is exhausted")

    def reserve(self, address: str) -> bool:
        """Claim a specific address; False when it is outside the pool or taken."""
        with self._lock:
            if not self.contains(address) or address in self._used:
                return False
            self._used.add(address)
            return True

    def release(self, address: str | None) -> None:
        with self._lock:
            self._used.discard(address or "")

    def contains(self, address: str) -> bool:
        try:
            return ipaddress.IPv4Address(address) in self._network
        except ValueError:
            return False


def _bindable(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True
