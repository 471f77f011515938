"""The ``golive_*`` settings an environment's inventory may set, and their checks.

Inventories also hold the project's own ``golive_``-prefixed variables for playbooks
(the lab's ``golive_app_port``), so an unknown name is not an error by itself; a name
one typo away from a setting is, because the setting it was meant to be would be
silently left at its default. A known setting of the wrong type is an error too.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from golive.errors import Issue

__all__ = ["SETTINGS", "check_settings", "settings_files"]


class _Cluster(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kubeconfig: str | None = None
    context: str | None = None


class _RealFault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inject: str
    heal: str | None = None


class EnvSettings(BaseModel):
    """Every setting golive reads from group ``all`` of an environment's inventory."""

    model_config = ConfigDict(extra="ignore")

    golive_clusters: dict[str, _Cluster] = {}
    golive_prometheus_url: str | None = None
    golive_approvers: list[str] | None = None
    golive_min_approvers: StrictInt = Field(1, ge=1, le=10)
    golive_protected: StrictBool | None = None
    golive_change_approvers: StrictInt | None = Field(None, ge=0, le=10)
    golive_require_change: StrictBool | None = None
    golive_known_hosts: str | None = None
    golive_allowed_signers: str | None = None
    # golive rehearse: real faults, by name -> a command, or {inject, heal} ({host} filled in)
    golive_faults: dict[str, str | _RealFault] = {}
    golive_require_signed_approvals: StrictBool | None = None
    # checked, with their own messages, by golive.notify.channels
    golive_notify: Any = None
    # checked, with their own messages, by golive.schedule
    golive_timezone: Any = None
    golive_windows: Any = None
    golive_freezes: Any = None


SETTINGS: frozenset[str] = frozenset(EnvSettings.model_fields)
# How close a name must be to a setting to be taken for a misspelling of it.
TYPO_CUTOFF = 0.88


def settings_files(inventory_dir: Path) -> list[Path]:
    """The files that hold group ``all``'s variables, in the order Ansible reads them."""
    gv = inventory_dir / "group_vars"
    if not gv.is_dir():
        return []
    files = [gv / "all.yml", gv / "all.yaml", *sorted((gv / "all").glob("*.y*ml"))]
    return [f for f in files if f.is_file()]


def check_settings(inventory_dir: Path, values: dict[str, Any]) -> list[Issue]:
    """Misspelt and mistyped settings, at their file and line.

    ``values`` are the settings as Ansible resolved them (templates expanded); the
    files are read again only to say where each key is.
    """
    where = _where(inventory_dir)
    issues: list[Issue] = []
    for key in sorted(values):
        if key in SETTINGS:
            continue
        near = difflib.get_close_matches(key, SETTINGS, n=1, cutoff=TYPO_CUTOFF)
        if near:
            file, line = where.get(key, (str(inventory_dir), None))
            issues.append(
                Issue(
                    file, line, f"unknown setting {key!r}", f"did you mean {near[0]!r}? (golive reads only that name)"
                )
            )
    try:
        EnvSettings.model_validate({k: v for k, v in values.items() if k in SETTINGS})
    except ValidationError as exc:
        for problem in exc.errors():
            key = str(problem["loc"][0])
            file, line = where.get(key, (str(inventory_dir), None))
            at = ".".join(str(p) for p in problem["loc"])
            issues.append(Issue(file, line, f"{at}: {problem['msg']}", f"see docs/inventory.md for {key}"))
    if "golive_notify" in values:
        from golive.notify.channels import notify_issues

        file, line = where.get("golive_notify", (str(inventory_dir), None))
        issues += notify_issues(
            values, file=file, line=line, base=inventory_dir if inventory_dir.is_dir() else inventory_dir.parent
        )
    return issues


def _where(inventory_dir: Path) -> dict[str, tuple[str, int | None]]:
    from golive.runbook.yamlmap import load_yaml

    out: dict[str, tuple[str, int | None]] = {}
    for f in settings_files(inventory_dir):
        data, lines, _ = load_yaml(f.read_text(), file=str(f))
        if isinstance(data, dict):
            for key in data:
                out[str(key)] = (str(f), lines.line_of((str(key),)))
    return out
