"""Shared pieces of the benchmarks: timing, tables, a Prefect server and a lab owned by PID.

The benchmarks live one level up and run as ``python bench/<name>.py``; Python puts
``bench/`` first on the path, so ``import benchkit`` finds this package. It sits in a
directory of its own so that ``make bench`` (which runs ``bench/*.py``) does not run it.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from golive.log import configure as configure_logging

__all__ = [
    "BIN",
    "GOLIVE",
    "ROOT",
    "Sample",
    "child_env",
    "first",
    "free_port",
    "journal_of",
    "lab",
    "prefect_server",
    "read_journal",
    "run_timed",
    "table",
    "ts",
    "verdict",
    "wait_lab_prefect",
]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GOLIVE = BIN / "golive"
# The lab and Prefect helpers log through structlog; only problems belong beside the figures.
configure_logging(level="warning")
# Lab host addresses 127.0.0.(base+1)...; far from the default lab (11-20) and from test labs.
LAB_BASES = (200, 215, 230)
# A Prefect server answers after 5-12 s on an idle machine, after more than a minute on a busy one.
PREFECT_WAIT_S = 240.0


class Sample(list[float]):
    """Timings of one thing, in seconds."""

    @property
    def best(self) -> float:
        return min(self)

    @property
    def median(self) -> float:
        return statistics.median(self)


def child_env(**extra: str) -> dict[str, str]:
    """This environment without settings that would point a child at someone else's lab or server."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "GOLIVE_")) and k not in ("ANSIBLE_CONFIG", "KUBECONFIG")
    }
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env.update(extra)
    return env


def run_timed(
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 300.0,
    ok_codes: tuple[int, ...] = (0,),
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run a whole process; return its wall time and result. A wrong exit code stops the benchmark."""
    start = time.perf_counter()
    proc = subprocess.run(
        [str(a) for a in argv],
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok_codes:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise SystemExit(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n" + "\n".join(tail))
    return elapsed, proc


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows as left-aligned columns (the first column) and right-aligned figures."""
    cells = [[str(c) for c in header], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
        print("  ".join(parts).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def prefect_server(work: Path, *, timeout: float = PREFECT_WAIT_S) -> Iterator[str]:
    """A ``prefect server start`` of our own (sqlite under ``work``); yields its API URL, stops it by PID."""
    from golive_lab import prefect_server as server
    from golive_lab import process

    port = free_port()
    pid, started = server.start(work, port=port)
    try:
        url = server.api_url(port)
        if not server.wait_healthy(url, timeout=timeout):
            raise SystemExit(f"Prefect server (pid {pid}) not healthy within {timeout:.0f}s; see {work}/prefect")
        yield url
    finally:
        if not process.stop(pid, started):
            print(f"warning: Prefect server pid {pid} did not stop", file=sys.stderr)


@contextmanager
def lab(work: Path, *, hosts: int, prefect: bool) -> Iterator[tuple[Any, Any]]:
    """A lab of our own in ``work`` on the first free address block of LAB_BASES; always taken down.

    Its Prefect server (``prefect=True``) may still be starting when this yields;
    :func:`wait_lab_prefect` waits for it.
    """
    from golive_lab.lab import Lab, LabError

    the_lab = Lab(work)
    state = None
    try:
        for base in LAB_BASES:
            try:
                state = the_lab.up(hosts=hosts, ip_base=base, prefect=prefect, traffic=False)
                break
            except LabError as exc:
                if "already answers" not in str(exc):
                    raise
        if state is None:
            raise SystemExit(f"no free lab address block among bases {LAB_BASES}")
        yield the_lab, state
    finally:
        left = the_lab.down()
        if left:
            print(f"warning: lab processes still alive: {left}", file=sys.stderr)


def wait_lab_prefect(the_lab: Any) -> None:
    if not the_lab.wait_prefect(timeout=PREFECT_WAIT_S):
        raise SystemExit(f"the lab's Prefect server did not answer; see {the_lab.dir}/prefect/server.log")


def read_journal(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def journal_of(runs: Path) -> Path:
    """The journal of the newest run under ``runs``."""
    journals = sorted(runs.glob("*/journal.jsonl"), key=lambda p: p.stat().st_mtime)
    if not journals:
        raise SystemExit(f"no run journal under {runs}")
    return journals[-1]


def ts(entry: Mapping[str, Any]) -> float:
    """A journal entry's wall-clock time in epoch seconds (the journal keeps milliseconds)."""
    return datetime.fromisoformat(str(entry["ts"])).timestamp()


def first(entries: Sequence[Mapping[str, Any]], event: str, **match: object) -> Mapping[str, Any]:
    for e in entries:
        if e.get("event") == event and all(e.get(k) == v for k, v in match.items()):
            return e
    raise SystemExit(f"no {event} {match or ''} entry in the journal")
