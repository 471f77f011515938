"""The lab's settings for its users: ``<labdir>/env`` for a shell, and golive's settings file.

``<labdir>/env`` holds everything a shell or a test needs (``set -a; . <labdir>/env``).
golive reads its own settings from ``$GOLIVE_ENV_FILE``, else ``<project>/.golive/env``
(docs/settings.md); the lab writes there what golive needs to find it (GOLIVE_* and
PREFECT_API_URL) when that file is the lab's own: ``$GOLIVE_ENV_FILE`` when set, else
``<project>/.golive/env`` for a lab in ``<project>/.golive/lab``. A lab elsewhere (a test's
temporary one) leaves golive's settings alone. ``down`` takes its keys out again.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values, set_key, unset_key

ENV_FILE = "env"
GOLIVE_ENV_FILE_VAR = "GOLIVE_ENV_FILE"
# What golive needs of the lab; KUBECONFIG and ANSIBLE_CONFIG stay in <labdir>/env only.
GOLIVE_KEYS = ("GOLIVE_LAB_DIR", "GOLIVE_PROMETHEUS_URL", "GOLIVE_KUBE_URL", "PREFECT_API_URL")


def read_env(lab_dir: Path) -> dict[str, str]:
    """The KEY=VALUE pairs of ``<labdir>/env`` (PREFECT_API_URL, KUBECONFIG, GOLIVE_LAB_DIR, ...)."""
    path = lab_dir / ENV_FILE
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def write_env(lab_dir: Path, values: dict[str, str]) -> Path:
    path = lab_dir / ENV_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    tmp.replace(path)
    return path


def golive_settings_file(lab_dir: Path) -> Path | None:
    """golive's settings file this lab may write, or None when golive would not read it for this lab."""
    named = os.environ.get(GOLIVE_ENV_FILE_VAR)
    if named:
        path = Path(named).resolve()
    elif lab_dir.name == "lab" and lab_dir.parent.name == ".golive":
        path = lab_dir.parent / ENV_FILE
    else:
        return None
    return None if path == (lab_dir / ENV_FILE).resolve() else path


def publish(path: Path, values: dict[str, str]) -> None:
    """Write the lab's GOLIVE_* and PREFECT_API_URL into golive's settings file, keeping its other keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    for key in GOLIVE_KEYS:
        if values.get(key):
            set_key(path, key, values[key], quote_mode="never")
        elif key in dotenv_values(path):
            unset_key(path, key, quote_mode="never")


def withdraw(path: Path, lab_dir: Path) -> None:
    """Take the lab's keys out of golive's settings file, if they are still this lab's; drop it when empty."""
    if not path.is_file() or dotenv_values(path).get("GOLIVE_LAB_DIR") != str(lab_dir):
        return
    for key in GOLIVE_KEYS:
        if key in dotenv_values(path):
            unset_key(path, key, quote_mode="never")
    if not dotenv_values(path):
        path.unlink()
