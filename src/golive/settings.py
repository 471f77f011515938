"""Settings from a dotenv file: ``$GOLIVE_ENV_FILE``, else ``<project>/.golive/env``.

A value from the file applies only when the environment does not already set it, so an
exported variable always wins. ``PREFECT_API_URL`` from the file applies only once that
server answers ``/api/health`` (bounded wait: a server started a moment ago needs 5-12 s);
otherwise golive goes on as if none were configured. See docs/settings.md.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

__all__ = ["ENV_FILE_VAR", "PREFECT_WAIT_S", "Settings", "apply_settings", "settings_file"]

log = structlog.get_logger(__name__)

ENV_FILE_VAR = "GOLIVE_ENV_FILE"
PREFECT_WAIT_S = 25.0


@dataclass(frozen=True)
class Settings:
    """What was read: the file (None when there is none) and the Prefect server it names, if it did not answer."""

    path: Path | None
    applied: tuple[str, ...] = ()
    prefect_unanswered: str | None = None


def settings_file(root: Path) -> Path:
    """The settings file for the project at ``root``: ``$GOLIVE_ENV_FILE`` or ``<root>/.golive/env``."""
    named = os.environ.get(ENV_FILE_VAR)
    return Path(named) if named else root / ".golive" / "env"


def apply_settings(root: Path, *, prefect: bool = True, wait_s: float = PREFECT_WAIT_S) -> Settings:
    """Apply the settings file's values the environment does not set; ``prefect=False`` leaves PREFECT_API_URL."""
    path = settings_file(root)
    if not path.is_file():
        return Settings(path=None)
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    url = values.pop("PREFECT_API_URL", None)
    applied = [key for key in values if key not in os.environ]
    for key in applied:
        os.environ[key] = values[key]
    unanswered = None
    if prefect and url and "PREFECT_API_URL" not in os.environ:
        if prefect_answers(url, timeout=wait_s):
            os.environ["PREFECT_API_URL"] = url
            applied.append("PREFECT_API_URL")
        else:
            unanswered = url
    log.debug("settings_applied", file=str(path), keys=applied, prefect_unanswered=unanswered)
    return Settings(path=path, applied=tuple(applied), prefect_unanswered=unanswered)


def prefect_answers(url: str, *, timeout: float) -> bool:
    """Whether the Prefect server at ``url`` (its API URL) answers /api/health within ``timeout`` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url.rstrip("/") + "/health", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
