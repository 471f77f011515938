"""Journal entries for tests that write a journal by hand: complete, as the runner writes them."""

from __future__ import annotations

from typing import Any


def run_started(run_id: str, **fields: Any) -> dict[str, Any]:
    """The fields of a run_started entry (journal events are typed: every declared field is needed)."""
    return {
        "run_id": run_id,
        "runbook": "demo",
        "file": "runbook.yml",
        "env": None,
        "params": {},
        "previous": {},
        "digest": "0" * 64,
        "initiator": "tester",
        "pid": 1,
        "machine": "localhost",
        "steps": [],
        **fields,
    }
