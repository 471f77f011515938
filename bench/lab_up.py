"""How long a lab takes to be ready: hosts, Prometheus and the API emulator, then Prefect apart.

Run: ``python bench/lab_up.py [--hosts 30]``. Prints seconds to each readiness point
and takes the lab down again (checking by PID that nothing is left).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from golive_lab import hosts as lab_hosts
from golive_lab import prefect_server, process
from golive_lab.lab import Lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=30)
    parser.add_argument("--no-prefect", action="store_true", help="skip the Prefect server figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmp:
        lab = Lab(Path(tmp) / "lab")
        start = time.monotonic()
        state = lab.up(hosts=args.hosts, prefect=False, traffic=False, ip_base="free")
        ready = time.monotonic() - start
        sshd = sum(lab_hosts.ssh_answers(h.ip, h.port) for h in state.hosts)
        figures = {
            f"lab ready ({args.hosts} hosts, Prometheus, API emulator), s": f"{ready:.2f}",
            "sshd answering": f"{sshd}/{len(state.hosts)}",
            "kube emulator": "started" if state.kube.pid else f"skipped ({state.kube.skipped})",
        }
        try:
            before = set(state.pids())
            start = time.monotonic()
            state = lab.up(prefect=False, traffic=False)
            figures["second `up` on the running lab (idempotent), s"] = f"{time.monotonic() - start:.2f}"
            figures["processes the second `up` started"] = str(len(set(state.pids()) - before))
            if not args.no_prefect:
                start = time.monotonic()
                state = lab.up(prefect=True, traffic=False)
                spawned = time.monotonic() - start
                healthy = prefect_server.wait_healthy(state.prefect.url or "", timeout=60)
                figures["prefect server healthy, s"] = (
                    f"{time.monotonic() - start:.2f}" if healthy else "not within 60 s"
                )
                figures["`up` with Prefect returns (once it answers) after, s"] = f"{spawned:.2f}"
            pids = state.pids()
        finally:
            start = time.monotonic()
            left = lab.down()
            figures["down, s"] = f"{time.monotonic() - start:.2f}"
        alive = [p for p in pids if process.is_alive(p)]
        figures["processes left after down"] = str(len(alive) + len(left))
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    return 1 if alive or left else 0


if __name__ == "__main__":
    sys.exit(main())
