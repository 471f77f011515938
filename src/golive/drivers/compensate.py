"""Undo by compensation: a driver whose changes have no intrinsic undo runs the saved rollback change.

Ansible plays and shell commands cannot be taken back by the driver itself; the runbook says
what puts things back (``rollback:``), the engine renders it, and the driver saves it as an
``UndoRecord(what="rollback", kind=<driver kind>, spec=<the change as a dict>)`` before the
change runs.  Undo runs those changes, newest first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from golive.drivers.base import ActionResult, UndoRecord
from golive.errors import PermanentError

__all__ = ["run_rollbacks"]


def run_rollbacks(
    records: list[UndoRecord], *, kind: str, run: Callable[[dict[str, Any]], ActionResult]
) -> ActionResult:
    """``run`` each record's spec, newest first; a host's result is its worst one across the records.

    Every record is checked before any runs: one this driver cannot undo changes nothing.
    """
    for record in records:
        if record.what != "rollback" or record.kind != kind or not record.spec:
            raise PermanentError(f"the {kind} driver cannot undo {record.what} {record.kind} {record.name!r}")
    total = ActionResult(detail={"rollbacks": []})
    for record in reversed(records):
        assert record.spec is not None
        part = run(record.spec)
        total.detail["rollbacks"].append({"name": record.name, **part.detail})
        for host, result in part.results.items():
            before = total.results.get(host)
            if before is None or (before.ok and not result.ok):
                total.results[host] = result
            elif before.ok == result.ok and result.changed and not before.changed:
                total.results[host] = dataclasses.replace(before, changed=True)
    return total
