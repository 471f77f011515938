"""Logging set-up: settings given before structlog is imported take effect when it is."""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = """
import sys
from golive.log import configure

configure(json=True, level="warning")
assert "structlog" not in sys.modules, "configure imported structlog eagerly"
import structlog

log = structlog.get_logger("t")
log.info("hidden_event")
log.warning("shown_event", n=1)
"""


def test_configure_before_structlog_import_applies_on_import() -> None:
    """A command that never logs skips importing structlog; the first logger still obeys level and format."""
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    assert [(e["event"], e["level"], e["n"]) for e in lines] == [("shown_event", "warning", 1)]
    assert proc.stdout == ""


def test_configure_after_structlog_import_applies_at_once() -> None:
    """With structlog already loaded, configure changes the level immediately."""
    script = "import structlog\n" + _SCRIPT.replace(
        'assert "structlog" not in sys.modules, "configure imported structlog eagerly"\n', ""
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line)["event"] for line in proc.stderr.splitlines() if line.strip()]
    assert events == ["shown_event"]
