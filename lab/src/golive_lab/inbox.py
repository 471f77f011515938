"""The lab's inbox: a local HTTP receiver that keeps every notification golive sends it.

Apprise's ``json://`` posts ``{"version", "title", "message", "type", ...}``; each request is
one line of ``<labdir>/inbox/messages.jsonl`` (time, path, body), which ``golive lab inbox``
prints. The lab inventory's channel ``lab-inbox`` reads its URL from ``<labdir>/inbox.url``,
written when the inbox starts and removed when the lab goes down, so that a run without a
lab fails that channel at once (journaled) instead of trying a port nothing answers on.
"""

from __future__ import annotations

import argparse
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["URL_FILE", "messages", "messages_file", "url_of"]

URL_FILE = "inbox.url"
MAX_BODY = 1 << 20


def messages_file(lab_dir: Path) -> Path:
    return lab_dir / "inbox" / "messages.jsonl"


def url_of(port: int) -> str:
    return f"json://127.0.0.1:{port}/inbox"


def messages(lab_dir: Path) -> list[dict[str, Any]]:
    path = messages_file(lab_dir)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def serve(port: int, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            raw = self.rfile.read(size)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            line = json.dumps({"ts": datetime.now(UTC).isoformat(), "path": self.path, "body": body})
            with lock, out.open("a") as f:
                f.write(line + "\n")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"golive lab inbox\n")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="the golive lab's notification inbox")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.out)


if __name__ == "__main__":
    main()
