"""Secrets: values a runbook needs and nobody may read in what golive writes.

A runbook names them under ``secrets:`` (``{name: {env: VAR}}``, ``{file: PATH}`` or, where a
Prefect server is configured, ``{prefect_block: NAME}``, a Prefect Secret block); templates
read them as ``{{ secrets.NAME }}``. Their values are registered here, in one process-wide
registry, the moment they are read, and ``redact`` replaces each of them (longest first) by
``***`` in whatever golive writes: journal entries (so the live board, status, reports,
Prefect logs and notifications, which are all made from the journal), log lines, printed
commands and error messages. Values shorter than 4 characters are not redacted (they would
blank out ordinary words); they are refused instead.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from golive.errors import Issue, RunbookError

if TYPE_CHECKING:
    from golive.runbook.load import LoadedRunbook

__all__ = ["MASK", "MIN_LENGTH", "redact", "redact_tree", "register", "resolve", "secret_issues"]

MASK = "***"
MIN_LENGTH = 4
_VALUES: set[str] = set()
_LOCK = threading.Lock()
_ORDER: list[str] = []


def register(value: str) -> None:
    """From now on ``value`` is written as ``***`` wherever golive writes."""
    if len(value) < MIN_LENGTH:
        return
    with _LOCK:
        if value in _VALUES:
            return
        _VALUES.add(value)
        forms = {value, value.strip()}
        _ORDER[:] = sorted(set(_ORDER) | {f for f in forms if len(f) >= MIN_LENGTH}, key=len, reverse=True)


def redact(text: str) -> str:
    if not _ORDER or not isinstance(text, str):
        return text
    for value in _ORDER:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_tree(value: Any) -> Any:
    """``value`` with every string in it (dict keys and values, list items) redacted."""
    if not _ORDER:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_tree(k): redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_tree(v) for v in value)
    return value


def _read(name: str, ref: Any, *, root: Path) -> str:
    """The value of one secret; ValueError saying what is missing and how to provide it."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None:
            raise ValueError(f"secret {name!r} reads ${ref.env}, which is not set; export it before golive starts")
        return value
    if ref.file is not None:
        path = Path(ref.file) if Path(ref.file).is_absolute() else root / ref.file
        try:
            return path.read_text().rstrip("\n")
        except OSError as exc:
            raise ValueError(f"secret {name!r} reads {path}: {exc.strerror}; check the path and its mode") from None
    return _prefect_block(name, str(ref.prefect_block))


def _prefect_block(name: str, block: str) -> str:
    if not os.environ.get("PREFECT_API_URL"):
        raise ValueError(
            f"secret {name!r} is the Prefect Secret block {block!r}, and no Prefect server is configured "
            "(PREFECT_API_URL)"
        )
    try:
        from prefect.blocks.system import Secret

        loaded: Any = Secret.load(block)  # sync here (Prefect's async_dispatch)
        value = loaded.get()
    except Exception as exc:
        raise ValueError(f"secret {name!r}: Prefect Secret block {block!r} could not be read: {exc}") from None
    return str(value)


def resolve(loaded: LoadedRunbook, *, root: Path) -> dict[str, str]:
    """Every secret's value, registered for redaction; RunbookError (exit 2) naming each one missing."""
    out: dict[str, str] = {}
    issues = []
    for name, ref in loaded.runbook.secrets.items():
        try:
            value = _read(name, ref, root=root)
        except ValueError as exc:
            issues.append(Issue(str(loaded.path), loaded.line_of("secrets", name), str(exc), "nothing was executed"))
            continue
        if len(value) < MIN_LENGTH:
            issues.append(
                Issue(
                    str(loaded.path),
                    loaded.line_of("secrets", name),
                    f"secret {name!r} is shorter than {MIN_LENGTH} characters: golive could not keep it out of "
                    "what it writes",
                    "use a real secret",
                )
            )
            continue
        register(value)
        out[name] = value
    if issues:
        raise RunbookError(issues)
    return out


def secret_issues(loaded: LoadedRunbook, *, root: Path) -> list[Issue]:
    """What validate says of the secrets: warnings where a value is not there now (a run refuses then)."""
    out = []
    for name, ref in loaded.runbook.secrets.items():
        if ref.prefect_block is not None:
            continue  # read from the server when the run starts
        try:
            _read(name, ref, root=root)
        except ValueError as exc:
            out.append(
                Issue(
                    str(loaded.path),
                    loaded.line_of("secrets", name),
                    f"{exc} (a run would be refused)",
                    "provide it where golive runs",
                    severity="warning",
                )
            )
    return out
