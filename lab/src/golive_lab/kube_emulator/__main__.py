"""Command line: ``python -m golive_lab.kube_emulator --port P --state-dir DIR ...``."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from golive import log as golive_log

from .server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m golive_lab.kube_emulator",
        description="Kubernetes API emulator for the golive lab (not a real cluster).",
    )
    parser.add_argument("--port", type=int, required=True, help="API port on --host (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--state-dir", type=Path, required=True, help="state snapshot, pod logs, emulator.json")
    parser.add_argument("--sd-file", type=Path, help="Prometheus file_sd JSON file listing running pods")
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig to write (contexts lab, staging, prod)")
    parser.add_argument("--log-json", action="store_true", help="log JSON lines")
    args = parser.parse_args(argv)
    if not args.host.startswith("127."):
        parser.error("--host must be a loopback address")
    golive_log.configure(json=args.log_json)
    emulator = Emulator(
        port=args.port, host=args.host, state_dir=args.state_dir, sd_file=args.sd_file, kubeconfig=args.kubeconfig
    )

    def on_signal(signum: int, _frame: object) -> None:
        emulator.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.start()
    emulator.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
