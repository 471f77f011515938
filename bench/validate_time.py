"""How long `golive validate` takes as a whole process; target under 0.5 s.

Run: ``python bench/validate_time.py``. Times ``python -c pass`` (the floor),
``golive validate runbooks/rolling-demo.yml`` and the same with ``-e lab`` (which also
reads the inventory through Ansible), best of 5 and median, then lists the largest
top-level imports of the plain validate as ``python -X importtime`` reports them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from benchkit import GOLIVE, ROOT, Sample, child_env, run_timed, table, verdict

RUNS = 5
TARGET_S = 0.5
RUNBOOK = "runbooks/rolling-demo.yml"


def top_imports(argv: list[str], *, n: int = 5) -> list[tuple[str, float]]:
    """Top-level modules the command imports, by cumulative import time (seconds)."""
    _, proc = run_timed([sys.executable, "-X", "importtime", *argv], env=child_env())
    found: list[tuple[str, float]] = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if m:  # no indent after the bar: imported by the program itself, not by another module
            found.append((m.group(2).strip(), int(m.group(1)) / 1e6))
    return sorted(found, key=lambda x: -x[1])[:n]


def main() -> int:
    env = child_env()
    commands: dict[str, list[str | Path]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        f"golive validate {RUNBOOK}": [GOLIVE, "validate", RUNBOOK],
        f"golive validate {RUNBOOK} -e lab": [GOLIVE, "validate", RUNBOOK, "-e", "lab"],
    }
    samples = {name: Sample() for name in commands}
    run_timed(commands[f"golive validate {RUNBOOK}"], env=env)  # warm the page cache once
    for _ in range(RUNS):  # interleaved, so load drift on a shared machine hits all alike
        for name, argv in commands.items():
            elapsed, _ = run_timed(argv, env=env)
            samples[name].append(elapsed)
    floor = samples["python -c pass"].median
    rows = []
    for name, s in samples.items():
        target = "" if name.startswith("python") else verdict(s.median < TARGET_S)
        rows.append((name, s.best, s.median, f"{s.median / floor:.0f}x", target))
    print(f"whole-process wall time, s ({RUNS} runs each, cwd {ROOT}); target < {TARGET_S} s (median)")
    table(("command", "best", "median", "vs python", "target"), rows)
    plain = samples[f"golive validate {RUNBOOK}"].median
    with_env = samples[f"golive validate {RUNBOOK} -e lab"].median
    print(f"-e lab adds {with_env - plain:.3f} s (Ansible's inventory)")
    print()
    print(f"largest top-level imports of `golive validate {RUNBOOK}` (python -X importtime, one run):")
    table(
        ("module", "cumulative s"),
        [(m, t) for m, t in top_imports(["-m", "golive.cli", "validate", RUNBOOK])],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
