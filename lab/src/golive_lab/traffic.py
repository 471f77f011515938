"""A small, bounded traffic generator so the lab's request metrics move.

Every second it rereads the Prometheus file_sd files (hosts and the emulator's pods)
and sends ``--rate`` GET /work requests to each target, never more than ``--max-total``
per second in all, and stops by itself after ``--max-seconds``. Only loopback targets
are ever contacted.

Run: ``python -m golive_lab.traffic --sd-dir <labdir>/prometheus/sd``
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MAX_RATE_PER_TARGET = 50.0
MAX_TOTAL_PER_SECOND = 500
MAX_LIFETIME_S = 24 * 3600.0


def is_loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_targets(sd_dir: Path) -> list[str]:
    """Loopback ``host:port`` targets listed in the file_sd JSON files of ``sd_dir``."""
    found: list[str] = []
    for path in sorted(sd_dir.glob("*.json")):
        try:
            groups = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a file being rewritten is read again next second
        for group in groups if isinstance(groups, list) else []:
            found += [t for t in group.get("targets", []) if isinstance(t, str) and is_loopback(t)]
    return sorted(set(found))


def hit(target: str, *, timeout: float) -> int:
    try:
        with urllib.request.urlopen(f"http://{target}/work", timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (OSError, ValueError):
        return 0


def run(*, sd_dir: Path, rate: float, max_total: int, max_seconds: float, timeout: float, stop: threading.Event) -> int:
    """Send traffic until ``stop`` is set or ``max_seconds`` pass; return the number of requests sent."""
    rate = max(0.0, min(rate, MAX_RATE_PER_TARGET))
    max_total = max(0, min(max_total, MAX_TOTAL_PER_SECOND))
    deadline = time.monotonic() + min(max_seconds, MAX_LIFETIME_S)
    sent = 0
    in_flight = threading.BoundedSemaphore(64)
    with ThreadPoolExecutor(max_workers=16) as pool:
        while not stop.is_set() and time.monotonic() < deadline:
            second_start = time.monotonic()
            targets = read_targets(sd_dir)
            per_target = int(rate) if targets else 0
            budget = min(per_target * len(targets), max_total)
            if budget:
                gap = 1.0 / budget
                for i in range(budget):
                    if stop.is_set():
                        break
                    # A slow target must not make the generator pile up requests.
                    if in_flight.acquire(timeout=gap):
                        future = pool.submit(hit, targets[i % len(targets)], timeout=timeout)
                        future.add_done_callback(lambda _f: in_flight.release())
                        sent += 1
                    stop.wait(max(0.0, second_start + (i + 1) * gap - time.monotonic()))
            stop.wait(max(0.0, second_start + 1.0 - time.monotonic()))
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sd-dir", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second per target")
    parser.add_argument("--max-total", type=int, default=200, help="cap on requests per second in all")
    parser.add_argument("--max-seconds", type=float, default=4 * 3600.0, help="stop after this long")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run(
        sd_dir=args.sd_dir,
        rate=args.rate,
        max_total=args.max_total,
        max_seconds=args.max_seconds,
        timeout=args.timeout,
        stop=stop,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
