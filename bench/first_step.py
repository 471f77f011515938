"""From `golive run` to its first step, with a Prefect server up; target < 2 s and <= 0.5 s over a bare flow.

Run: ``python bench/first_step.py``. Starts one ``prefect server start`` (sqlite in a temp
dir, stopped by PID) and, against it, starts in turn as whole processes

- ``golive run`` of a two-step notify runbook: time from launching the process to the
  journal's ``step_started`` of the first step (and to ``notified``, written inside that
  step's Prefect task run);
- a bare Prefect flow script: time from launching it to the first line of its first task.

Both get the same environment. A warm-up run of each comes first, then 5 interleaved
runs; best and median are printed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchkit import GOLIVE, Sample, child_env, first, journal_of, prefect_server, read_journal, run_timed, table, ts

RUNS = 5
TARGET_S = 2.0
TARGET_OVER_BARE_S = 0.5
MARK = "FIRST_TASK "

BARE_FLOW = f'''
import time

from prefect import flow, task


@task(name="step-00", persist_result=False)
def step() -> None:
    print("{MARK}" + repr(time.time()), flush=True)


@flow(name="bare-first-step", persist_result=False)
def bare() -> None:
    step()
    step()


if __name__ == "__main__":
    bare()
'''


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="golive-bench-first-") as tmp:
        work = Path(tmp)
        runbook = work / "two.yml"
        steps = [{"id": "first", "notify": "first step"}, {"id": "second", "notify": "second step"}]
        runbook.write_text(yaml.safe_dump({"name": "first-step", "steps": steps}))
        script = work / "bare_flow.py"
        script.write_text(BARE_FLOW)
        with prefect_server(work / "server") as url:
            env = child_env(
                PREFECT_API_URL=url,
                PREFECT_HOME=str(work / "client"),
                PREFECT_LOGGING_LEVEL="WARNING",
                GOLIVE_RUNS_DIR=str(work / "runs"),
                GOLIVE_ENV_FILE=str(work / "no-settings"),  # so no lab's settings are picked up
            )

            def golive() -> tuple[float, float, float]:
                launched = time.time()
                elapsed, _ = run_timed([GOLIVE, "run", runbook], env=env, cwd=work)
                entries = read_journal(journal_of(work / "runs"))
                step = ts(first(entries, "step_started", step="first")) - launched
                inside = ts(first(entries, "notified", step="first")) - launched
                return step, inside, elapsed

            def bare() -> tuple[float, float]:
                launched = time.time()
                elapsed, proc = run_timed([sys.executable, script], env=env, cwd=work)
                line = next(x for x in proc.stdout.splitlines() if x.startswith(MARK))
                return float(line[len(MARK) :]) - launched, elapsed

            golive()
            bare()
            g_step, g_task, g_whole, b_task, b_whole = Sample(), Sample(), Sample(), Sample(), Sample()
            for _ in range(RUNS):
                step, inside, whole = golive()
                g_step.append(step)
                g_task.append(inside)
                g_whole.append(whole)
                first_task, whole = bare()
                b_task.append(first_task)
                b_whole.append(whole)
    over = g_step.median - b_task.median
    print(f"time from process launch, s ({RUNS} runs each after a warm-up; Prefect server up)")
    table(
        ("what", "best", "median", "whole process (median)"),
        [
            ("golive run: first step_started", g_step.best, g_step.median, g_whole.median),
            ("golive run: inside the first task (notified)", g_task.best, g_task.median, ""),
            ("bare Prefect flow: inside the first task", b_task.best, b_task.median, b_whole.median),
        ],
    )
    ok = g_step.median < TARGET_S and over <= TARGET_OVER_BARE_S
    print(
        f"golive first step {g_step.median:.2f} s (target < {TARGET_S:g}), {over:+.2f} s vs the bare flow "
        f"(target <= +{TARGET_OVER_BARE_S:g}): {'meets target' if ok else 'MISSES target'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
