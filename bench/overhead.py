"""What golive adds per step on top of Prefect: 50 no-op steps vs a bare flow of 50 tasks.

Run: ``python bench/overhead.py``. Starts one ``prefect server start`` (sqlite in a temp
dir, stopped by PID), then a child process that, against that server, runs in turn

- a golive run of 50 ``notify`` steps through the engine with Prefect,
- a bare Prefect flow of 50 no-op tasks, made the way golive makes its task runs
  (heartbeat off, no result persistence, no cache),
- the same golive run without Prefect (the engine and its fsynced journal alone).

Per step is the time from the first step starting to the last one ending, over 50
(golive: the journal's ``step_started`` and ``step_done``; the bare flow: clocks read
inside the flow), so a run's fixed costs (flow creation, run directory, plan) stay out.
Target: golive's per-step cost beyond Prefect <= 10 ms.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from benchkit import Sample, child_env, journal_of, prefect_server, read_journal, run_timed, table, ts, verdict

MANY = 50
REPS = 5
TARGET_MS = 10.0
MARK = "RESULT "


def write_runbook(path: Path, steps: int) -> Path:
    body = {"name": f"noop-{steps}", "steps": [{"id": f"step-{i:02d}", "notify": f"no-op {i}"} for i in range(steps)]}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def child(work: Path) -> int:
    """Runs inside the child, whose environment points Prefect at the bench's server."""
    import os

    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from golive.context import prepare
    from golive.engine.execute import execute_new
    from golive.log import configure

    configure(level="warning")

    def noop() -> None:
        return None

    def bare(n: int) -> tuple[float, float]:
        span: list[float] = []

        @flow(name=f"bare-{n}", persist_result=False, log_prints=False, validate_parameters=False)
        def bare_flow() -> None:
            t0 = time.time()
            for i in range(n):
                name = f"step-{i:02d}"
                task(noop, name=name, task_run_name=name, persist_result=False, cache_policy=NO_CACHE)()  # type: ignore[call-overload]
            span.append(time.time() - t0)

        t0 = time.perf_counter()
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            bare_flow(return_state=True)
        return span[0], time.perf_counter() - t0

    def golive(n: int, *, use_prefect: bool) -> Callable[[], tuple[float, float]]:
        path = write_runbook(work / f"noop-{n}.yml", n)
        runs = work / ("runs-prefect" if use_prefect else "runs-engine")

        def go() -> tuple[float, float]:
            os.environ["GOLIVE_RUNS_DIR"] = str(runs)
            t0 = time.perf_counter()
            ctx = prepare(path, env=None, params={})
            _, code = execute_new(ctx, use_prefect=use_prefect, initiator="bench")
            whole = time.perf_counter() - t0
            if code != 0:
                raise SystemExit(f"golive run of {path} exited {code}")
            entries = read_journal(journal_of(runs))
            started = [ts(e) for e in entries if e["event"] == "step_started"]
            done = [ts(e) for e in entries if e["event"] == "step_done"]
            return done[-1] - started[0], whole

        return go

    cases: dict[str, Callable[[], tuple[float, float]]] = {
        "bare": lambda: bare(MANY),
        "golive": golive(MANY, use_prefect=True),
        "engine": golive(MANY, use_prefect=False),
    }
    bare(1)  # warm-up: client, settings, flow registration
    golive(1, use_prefect=True)()
    spans: dict[str, list[float]] = {k: [] for k in cases}
    wholes: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(REPS):  # interleaved, so load drift on a shared machine hits every case alike
        for name, fn in cases.items():
            span, whole = fn()
            spans[name].append(span)
            wholes[name].append(whole)
    print(MARK + json.dumps({"spans": spans, "wholes": wholes}))
    return 0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="golive-bench-overhead-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        with prefect_server(work / "server") as url:
            ready = time.perf_counter() - t0
            env = child_env(PREFECT_API_URL=url, PREFECT_HOME=str(work / "client"), PREFECT_LOGGING_LEVEL="WARNING")
            _, proc = run_timed([sys.executable, __file__, "--child", work], env=env, timeout=600)
        line = next(x for x in proc.stdout.splitlines() if x.startswith(MARK))
        result = json.loads(line[len(MARK) :])
    spans = {k: Sample(v) for k, v in result["spans"].items()}
    wholes = {k: Sample(v) for k, v in result["wholes"].items()}

    def ms(seconds: float) -> str:
        return f"{seconds / MANY * 1000:.1f}"

    labels = {
        "bare": "bare Prefect flow, no-op tasks",
        "golive": "golive run, notify steps, Prefect",
        "engine": "golive run, notify steps, --no-prefect",
    }
    print(f"Prefect server ready in {ready:.1f} s; {REPS} interleaved runs of {MANY} steps per case")
    table(
        ("case", "per step ms (best)", "per step ms (median)", "whole run s (median)"),
        [(labels[k], ms(spans[k].best), ms(spans[k].median), wholes[k].median) for k in labels],
    )
    over_best = (spans["golive"].best - spans["bare"].best) / MANY * 1000
    over_median = (spans["golive"].median - spans["bare"].median) / MANY * 1000
    print(
        f"golive beyond Prefect: {over_median:.1f} ms/step median, {over_best:.1f} best "
        f"(target <= {TARGET_MS:g}: {verdict(over_median <= TARGET_MS)}); "
        f"ratio golive/bare per step {spans['golive'].median / spans['bare'].median:.2f}"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(child(Path(sys.argv[2])))
    sys.exit(main())
