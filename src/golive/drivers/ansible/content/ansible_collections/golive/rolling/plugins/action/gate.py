"""Ansible action ``golive.rolling.gate``: holds a rolling play between two ``serial`` batches.

golive runs a batched Ansible step as one ``ansible-playbook`` process and appends this
task (``run_once``) to the play.  When a batch has done its tasks and handlers, the gate
writes ``arrived-<n>.json`` (the batch's hosts still in play) into ``dir`` and waits for
golive's verdict in ``decision-<n>`` (not after the ``last`` batch): ``go`` lets the next
batch start, ``stop`` fails the task, which (``any_errors_fatal``) ends the play before any other host is touched.  It
also stops when the golive process ``owner`` is gone or ``timeout`` seconds pass, so a
killed golive never leaves a play running; on stopping it writes ``stopped-<n>`` first.
With ``start: true`` (a pre-task) it is gate 0: a play golive started early waits there,
before its first batch, for ``decision-0``.  Runs on the controller: no connection.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase

POLL_S = 0.02


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        args = self._task.args
        gate_dir = Path(str(args["dir"]))
        owner = int(args["owner"])
        timeout = float(args.get("timeout", 86400))
        active = [str(h) for h in (task_vars or {}).get("ansible_play_batch", [])]
        if args.get("start"):
            if (gate_dir / "arrived-0.json").exists():
                result.update(changed=False, msg="the play was released before its first batch")
                return result
            number = 0  # before the first batch: golive holds a play it started early
        else:
            number = len([p for p in gate_dir.glob("arrived-*.json") if p.name != "arrived-0.json"]) + 1
        arrived = gate_dir / f"arrived-{number}.json"
        partial = arrived.with_suffix(".tmp")
        partial.write_text(json.dumps({"batch": number, "active": active}))
        os.replace(partial, arrived)
        if number >= int(args.get("last", 0) or 0) > 0:
            result.update(changed=False, msg=f"batch {number} was the last")
            return result
        decision_file = gate_dir / f"decision-{number}"
        deadline = time.monotonic() + timeout
        while True:
            if decision_file.exists():
                if decision_file.read_text().strip() == "go":
                    result.update(changed=False, msg=f"golive released the play at gate {number}")
                    return result
                return self._stop(result, gate_dir, number, f"golive stopped the play at gate {number}")
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                return self._stop(result, gate_dir, number, f"golive (pid {owner}) is gone: stopping the play")
            except PermissionError:
                pass
            if time.monotonic() > deadline:
                return self._stop(result, gate_dir, number, f"no verdict from golive within {timeout:g}s")
            time.sleep(POLL_S)

    @staticmethod
    def _stop(result: dict[str, Any], gate_dir: Path, number: int, msg: str) -> dict[str, Any]:
        """Fail the gate (ending the play); first tell golive no task of this play runs any more."""
        (gate_dir / f"stopped-{number}").write_text(msg)
        return {**result, "failed": True, "msg": msg}
