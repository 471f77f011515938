"""Resume after a SIGKILL: time from ``golive resume`` to the run's end vs the same release uninterrupted.

Run: ``python bench/resume.py``. Brings up a 5-host lab of its own (three app hosts, with its
Prefect server) in a temp dir and releases the demo service with runbooks/rolling-demo.yml
(batches [1, 25%, 100%]: three batches of one host, each gated and baked 2 s).

Each round: one uninterrupted release (v1 -> v2, then back to v1 the same way, not timed),
then one release killed with SIGKILL at a random point (seeded: GOLIVE_BENCH_SEED, default 17)
between 10% and 90% of the uninterrupted run's median, and resumed with ``golive resume``.
Printed: the medians of the uninterrupted run, of the resume (its whole process, to the run's
end), the ratio of the two, and the resume against what was left of the run when it was
killed (uninterrupted time minus the kill offset): what a crash costs beyond lost work.
No target yet.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchkit import GOLIVE, ROOT, Sample, child_env, journal_of, lab, read_journal, run_timed, table, wait_lab_prefect

ROUNDS = 5
HOSTS = 5  # app-1..app-3, db-1, db-2
SEED = int(os.environ.get("GOLIVE_BENCH_SEED", "17"))


def write_runbook(path: Path) -> Path:
    body = yaml.safe_load((ROOT / "runbooks" / "rolling-demo.yml").read_text())
    body.pop("watch", None)  # the release itself, as the uninterrupted baseline times it
    for step in body["steps"]:
        for key in ("ansible",):
            if key in step:
                step[key]["playbook"] = str(ROOT / step[key]["playbook"])
            if key in step.get("rollback", {}):
                step["rollback"][key]["playbook"] = str(ROOT / step["rollback"][key]["playbook"])
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def main() -> int:
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="golive-bench-resume-") as tmp:
        work = Path(tmp)
        runbook = write_runbook(work / "rolling.yml")
        with lab(work / "lab", hosts=HOSTS, prefect=True) as (the_lab, state):
            labdir = work / "lab"
            runs = work / "runs"
            env = child_env(
                ANSIBLE_CONFIG=str(labdir / "ansible.cfg"),
                GOLIVE_RUNS_DIR=str(runs),
                GOLIVE_LAB_DIR=str(labdir),
                GOLIVE_ENV_FILE=str(labdir / "env"),
            )
            inv = Path(state.inventory)

            def release(version: str) -> float:
                elapsed, _ = run_timed([GOLIVE, "run", runbook, "-i", inv, "-p", f"version={version}"], env=env)
                return elapsed

            def killed_and_resumed(after: float) -> tuple[float, float]:
                """SIGKILL ``after`` s into a release to v2; return (kill offset, resume wall time)."""
                argv = [str(GOLIVE), "run", str(runbook), "-i", str(inv), "-p", "version=v2"]
                proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                started = time.perf_counter()
                try:
                    proc.wait(timeout=after)
                    raise SystemExit(f"the release ended before its kill point ({after:.1f}s)")
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
                offset = time.perf_counter() - started
                run_id = read_journal(journal_of(runs))[0]["run_id"]
                elapsed, _ = run_timed([GOLIVE, "resume", run_id], env=env)
                ends = [e for e in read_journal(journal_of(runs)) if e["event"] == "run_finished"]
                if not ends or ends[-1].get("status") != "succeeded":
                    raise SystemExit(f"the resumed run {run_id} did not succeed")
                return offset, elapsed

            wait_lab_prefect(the_lab)
            release("v2"), release("v1")  # warm-up
            whole = Sample()
            resumed = Sample()
            beyond = Sample()
            for _ in range(ROUNDS):
                whole.append(release("v2"))
                release("v1")
                offset, elapsed = killed_and_resumed(rng.uniform(0.1, 0.9) * whole.median)
                resumed.append(elapsed)
                beyond.append(elapsed / max(whole.median - offset, 0.1))
                release("v1")
    print(
        f"rolling example on {HOSTS - 2} app hosts (3 batches, bake 2 s), lab's Prefect; whole-process wall time, s, "
        f"median of {ROUNDS}, kill points seeded {SEED}"
    )
    table(
        ("uninterrupted", "resume to the end", "resume / uninterrupted", "resume / work left at the kill"),
        [(whole.median, resumed.median, f"{resumed.median / whole.median:.2f}", f"{beyond.median:.2f}")],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
