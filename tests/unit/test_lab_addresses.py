"""A lab takes loopback addresses and ports nothing else holds, and keeps a late-binding port claimed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from golive_lab import addresses
from golive_lab.hosts import APP_PORT, plan_hosts


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """Something listening on 127.0.0.252's demo-service port, as another lab's host would."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.252", APP_PORT))
    except OSError:
        sock.close()
        pytest.skip(f"127.0.0.252:{APP_PORT} is in use already")
    sock.listen()
    try:
        yield sock
    finally:
        sock.close()


def test_an_address_block_with_a_listener_is_passed_over(listener: socket.socket) -> None:
    """The preferred block is refused when one of its addresses is held; another block is offered."""
    assert addresses.taken_addresses(plan_hosts(2, ip_base=250)) == ["127.0.0.252"]
    base = addresses.free_ip_base(2, prefer=250)
    assert base is not None and base != 250
    assert addresses.taken_addresses(plan_hosts(2, ip_base=base)) == []


def test_a_claimed_port_is_not_handed_out_again_until_released(tmp_path: Path) -> None:
    """Two labs asking for the same usual port in turn get different ones; a released claim frees it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        usual = sock.getsockname()[1]
    first = addresses.pick_port(usual, claims=tmp_path)
    second = addresses.pick_port(usual, claims=tmp_path)
    assert first == usual and second != usual
    addresses.release([first, second], claims=tmp_path)
    assert addresses.pick_port(usual, claims=tmp_path) == usual


def test_labs_take_turns_choosing(tmp_path: Path) -> None:
    """The choosing lock is exclusive: a second claimant gives up with a clear error after its timeout."""
    lock = tmp_path / "lock"
    with (
        addresses.claim(lock_file=lock),
        pytest.raises(addresses.LabError, match="another lab"),
        addresses.claim(lock_file=lock, timeout=0.2),
    ):
        pass
