"""The hybrid example's rollback drill matrix on a lab: drills, wall time, median detect and restore.

Run: ``python bench/rehearsal.py``. Brings up a 10-host lab of its own (with the Kubernetes API
emulator and demo/demo-api) in a temp dir and runs
``golive rehearse runbooks/core-migration.yml --matrix`` against it: a gate-fail drill at every
failure point of the plan (apply-fail where a point has no gate), each from the state the
previous one restored. Printed: the number of drills, the wall time of the whole matrix, the
median time to detect (fault to step failed) and to restore (rollback start to end), and
whether every drill restored the env. No target yet beyond "every drill restored".
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchkit import GOLIVE, ROOT, child_env, lab, table

HOSTS = 10


def main() -> int:
    from golive_lab.kube_seed import seed_demo_api

    with tempfile.TemporaryDirectory(prefix="golive-bench-rehearsal-") as tmp:
        work = Path(tmp)
        with lab(work / "lab", hosts=HOSTS, prefect=False) as (_, state):
            labdir = work / "lab"
            seed_demo_api(labdir / "kubeconfig")
            env = child_env(
                ANSIBLE_CONFIG=str(labdir / "ansible.cfg"),
                GOLIVE_RUNS_DIR=str(work / "runs"),
                GOLIVE_LAB_DIR=str(labdir),
                GOLIVE_ENV_FILE=str(labdir / "env"),
            )
            argv = [str(GOLIVE), "rehearse", str(ROOT / "runbooks" / "core-migration.yml"), "-i", state.inventory]
            argv += ["-e", "lab", "-p", "version=v2", "--matrix", "--json", "--no-prefect"]
            started = time.perf_counter()
            done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600)
            wall = time.perf_counter() - started
    try:
        report = json.loads(done.stdout)
    except ValueError:
        print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"golive rehearse printed no report (exit {done.returncode})") from None
    drills = report["drills"]
    detect = [d["detect_s"] for d in drills if d["detect_s"] is not None]
    restore = [d["restore_s"] for d in drills if d["restore_s"] is not None]
    print("hybrid example (core-migration.yml) rollback drill matrix on a 10-host lab, no Prefect; seconds")
    table(
        ("drills", "matrix wall", "median detect", "median restore", "all restored"),
        [
            (
                len(drills),
                wall,
                statistics.median(detect) if detect else "-",
                statistics.median(restore) if restore else "-",
                "yes" if report["ok"] else "NO",
            )
        ],
    )
    for d in drills:
        print(f"  {', '.join(d['faults'])}: {'restored' if d['expected'] else 'NOT AS EXPECTED: ' + d['why']}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
