"""Checks that need more than one step, the inventory or the file system.

The model catches shape errors; here we catch what only the whole picture shows:
duplicate ids, host patterns that match nothing, missing playbooks, templates that
name undefined params, approvals weaker than the environment requires, state changes
with no way back, change windows and freezes golive cannot read.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from golive.envsettings import check_settings
from golive.errors import Issue
from golive.inventory import Inventory
from golive.kinds import kind_of
from golive.runbook.load import LoadedRunbook
from golive.runbook.models import RollbackAction, StepBase
from golive.runbook.render import analyse
from golive.schedule import schedule_issues
from golive.secrets import secret_issues

__all__ = ["check_params", "validate"]


def _strings(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, (*path, i))


def check_params(loaded: LoadedRunbook, given: dict[str, Any]) -> list[Issue]:
    declared = loaded.runbook.params
    out = []
    for key in given:
        if key not in declared:
            near = difflib.get_close_matches(key, list(declared), n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            out.append(
                Issue(
                    str(loaded.path),
                    loaded.line_of("params"),
                    f"unknown param {key!r} given with -p",
                    f"{hint}declare it under params: (declared: {', '.join(declared) or 'none'})",
                )
            )
    return out


def validate(
    loaded: LoadedRunbook,
    *,
    root: Path,
    inventory: Inventory | None = None,
    params: dict[str, Any] | None = None,
) -> list[Issue]:
    """Every issue beyond the model's own, errors and warnings, in file order."""
    rb = loaded.runbook
    file = str(loaded.path)
    issues: list[Issue] = []
    all_params = {**rb.params, **(params or {})}
    issues += check_params(loaded, params or {})
    seen: dict[str, int] = {}
    for i, step in enumerate(rb.steps):
        line = loaded.step_line(i, "id")
        if step.id in seen:
            issues.append(
                Issue(
                    file,
                    line,
                    f"duplicate step id {step.id!r} (first at line {seen[step.id]})",
                    "give every step its own id",
                )
            )
        else:
            seen[step.id] = line or 0
        issues += _templates(loaded, i, all_params, frozenset(rb.secrets))
        issues += _files(loaded, i, step, root)
        issues += _rollback(loaded, i, step)
        issues += _unstaged(loaded, i, step)
        if inventory is not None:
            issues += _hosts(loaded, i, step, inventory)
            issues += kind_of(step).validate_env(loaded, i, step, inventory)
    if inventory is not None:
        issues += check_settings(inventory.path, inventory.settings)
    issues += schedule_issues(loaded, inventory)
    issues += secret_issues(loaded, root=root)
    if inventory is not None and rb.envs is not None and inventory.env not in rb.envs:
        issues.append(
            Issue(
                file,
                loaded.line_of("envs"),
                f"runbook is not meant for env {inventory.env!r}",
                f"run it in one of: {', '.join(rb.envs)}, or add {inventory.env} to envs:",
            )
        )
    return sorted(issues, key=lambda x: (x.line or 0, x.severity))


def _templates(
    loaded: LoadedRunbook, index: int, params: dict[str, Any], secrets: frozenset[str] = frozenset()
) -> list[Issue]:
    raw = loaded.data["steps"][index]
    out = []
    for path, text in _strings(raw, ("steps", index)):
        in_check_step = len(path) >= 4 and path[2] == "check"
        has_hosts = in_check_step and isinstance(raw["check"][path[3]], dict) and "hosts" in raw["check"][path[3]]
        for p in analyse(text, params=params, uses_host_ok=not in_check_step or has_hosts, secrets=secrets):
            out.append(Issue(str(loaded.path), loaded.lines.line_of(path), p.message, p.fix))
    return out


def _files(loaded: LoadedRunbook, index: int, step: StepBase, root: Path) -> list[Issue]:
    out = []
    for sub, rel in kind_of(step).files(step):
        if "{" in rel:
            continue
        if not (root / rel).is_file():
            near = (
                [str(p.relative_to(root)) for p in (root / Path(rel).parent).glob("*.y*ml")]
                if (root / Path(rel).parent).is_dir()
                else []
            )
            close = difflib.get_close_matches(rel, near, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            out.append(
                Issue(
                    str(loaded.path),
                    loaded.step_line(index, *sub),
                    f"file not found: {rel}",
                    f"{hint}paths are relative to the project root {root}",
                )
            )
    return out


# The keys every step may carry that only a staged kind (ansible, ssh, k8s) carries out.
_STAGE_KEYS = {
    "verify": "gate checks run after each stage of a change",
    "bake": "a bake follows each stage of a change",
    "retries": "retries repeat a change that failed on a transient fault",
    "timeout": "a timeout bounds a change",
}


def _unstaged(loaded: LoadedRunbook, index: int, step: StepBase) -> list[Issue]:
    """``verify``, ``bake``, ``retries``, ``timeout`` on a step that changes nothing would be ignored: refused."""
    kind = kind_of(step)
    if kind.staged:
        return []
    out = []
    for key, what in _STAGE_KEYS.items():
        if key not in step.model_fields_set or not getattr(step, key):
            continue
        fix = {
            "verify": "put the checks in a check step (check: [...]) or on the step that makes the change",
            "bake": "use a pause step (pause: {duration: ...}) to wait here",
            "retries": "remove it",
            "timeout": (
                "remove it (an approval's own timeout is approval: {timeout: ...})"
                if kind.name == "approval"
                else "remove it"
            ),
        }[key]
        out.append(
            Issue(
                str(loaded.path),
                loaded.step_line(index, key),
                f"{key} has no effect on {kind.name} step {step.id!r}: {what}, and a {kind.name} step makes none",
                fix,
            )
        )
    return out


def _rollback(loaded: LoadedRunbook, index: int, step: StepBase) -> list[Issue]:
    if kind_of(step).missing_rollback(step):
        return [
            Issue(
                str(loaded.path),
                loaded.step_line(index, "id"),
                f"step {step.id!r} changes state but has no rollback",
                "add rollback: {ansible: ...} or rollback: {none: <why no undo is needed>}",
                severity="warning",
            )
        ]
    return []


def _host_patterns(step: StepBase) -> Iterator[tuple[tuple[str | int, ...], str]]:
    pattern = kind_of(step).hosts_pattern(step)
    if pattern is not None:
        yield (step.kind, "hosts"), pattern
    checks = list(getattr(step, "check", []))
    for field_name, items in (("check", checks), ("verify", list(step.verify))):
        for j, c in enumerate(items):
            pattern = getattr(c, "hosts", None)
            if isinstance(pattern, str):
                yield (field_name, j, "hosts"), pattern
    if isinstance(step.rollback, RollbackAction):
        for kind in ("ansible", "ssh"):
            action = getattr(step.rollback, kind)
            if action is not None:
                yield ("rollback", kind, "hosts"), action.hosts


def _hosts(loaded: LoadedRunbook, index: int, step: StepBase, inv: Inventory) -> list[Issue]:
    out = []
    for sub, pattern in _host_patterns(step):
        if "{" in pattern:
            continue
        if not inv.match(pattern):
            out.append(
                Issue(
                    str(loaded.path),
                    loaded.step_line(index, *sub),
                    f"host pattern {pattern!r} matches no host in env {inv.env!r}",
                    inv.suggest(pattern),
                )
            )
    return out
