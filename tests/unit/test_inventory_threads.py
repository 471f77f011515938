"""Host variables asked for from several threads at once (probes run in worker threads) all come out templated."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from golive.inventory import load_inventory

REPO = Path(__file__).resolve().parents[2]


def test_connections_templated_from_many_threads_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every thread gets the key path with the lab dir filled in, never the raw template."""
    monkeypatch.setenv("GOLIVE_LAB_DIR", str(tmp_path))
    inv = load_inventory(root=REPO, env="lab")
    hosts = inv.host_names
    keys: list[str | None] = []
    threads = [threading.Thread(target=lambda h=h: keys.append(inv.connection(h).key_file)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert keys == [f"{tmp_path}/ssh/id_ed25519"] * len(hosts)
