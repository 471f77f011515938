"""The change schedule of one run: the runbook's window, the env's windows and freezes.

The runbook says ``window: {allow: [...], tz: ...}``; the env's ``group_vars/all.yml``
says ``golive_windows`` (same specs, in ``golive_timezone``, default UTC) and
``golive_freezes`` (``{from, to, reason}`` in the same zone). Parsing and validation with
file:line live here; what is open when is golive.windows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from golive.errors import Issue
from golive.inventory import Inventory
from golive.runbook.load import LoadedRunbook
from golive.runbook.yamlmap import load_yaml
from golive.windows import Freeze, Schedule, WindowError, WindowSet, parse_freeze, parse_tz, parse_window

__all__ = ["schedule_issues", "schedule_of"]


def schedule_of(loaded: LoadedRunbook, inventory: Inventory | None) -> Schedule:
    """The schedule of a validated runbook in an env (raises WindowError on what validation refuses)."""
    sets: list[WindowSet] = []
    window = loaded.runbook.window
    if window is not None:
        specs = tuple(parse_window(s) for s in window.allow)
        sets.append(WindowSet(specs=specs, tz=parse_tz(window.tz), source="runbook"))
    freezes: list[Freeze] = []
    if inventory is not None:
        tz = parse_tz(inventory.settings.get("golive_timezone") or "UTC")
        raw = inventory.settings.get("golive_windows") or []
        if raw:
            sets.append(WindowSet(specs=tuple(parse_window(s) for s in raw), tz=tz, source=f"env {inventory.env}"))
        freezes = [parse_freeze(f, tz) for f in inventory.settings.get("golive_freezes") or []]
    return Schedule(windows=tuple(sets), freezes=tuple(freezes))


def schedule_issues(loaded: LoadedRunbook, inventory: Inventory | None) -> list[Issue]:
    return _runbook_issues(loaded) + (_env_issues(inventory) if inventory is not None else [])


def _runbook_issues(loaded: LoadedRunbook) -> list[Issue]:
    window = loaded.runbook.window
    if window is None:
        return []
    file = str(loaded.path)
    out = []
    try:
        parse_tz(window.tz)
    except WindowError as exc:
        out.append(Issue(file, loaded.line_of("window", "tz"), exc.message, exc.fix))
    for i, spec in enumerate(window.allow):
        try:
            parse_window(spec)
        except WindowError as exc:
            out.append(Issue(file, loaded.line_of("window", "allow", i), exc.message, exc.fix))
    return out


def _env_issues(inventory: Inventory) -> list[Issue]:
    settings = inventory.settings
    out: list[Issue] = []
    tz: ZoneInfo = ZoneInfo("UTC")
    if settings.get("golive_timezone"):
        try:
            tz = parse_tz(settings["golive_timezone"])
        except WindowError as exc:
            out.append(_issue(inventory, ("golive_timezone",), exc))
    out += _listed(inventory, "golive_windows", lambda v: parse_window(v))
    out += _listed(inventory, "golive_freezes", lambda v: parse_freeze(v, tz))
    return out


def _listed(inventory: Inventory, key: str, parse: Any) -> list[Issue]:
    raw = inventory.settings.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        fix = f"make {key} a list" + (
            ' of "<days> HH:MM-HH:MM"' if key == "golive_windows" else " of {from, to, reason}"
        )
        return [_issue(inventory, (key,), WindowError(f"{key} must be a list", fix))]
    out = []
    for i, value in enumerate(raw):
        try:
            parse(value)
        except WindowError as exc:
            out.append(_issue(inventory, (key, i), exc))
    return out


def _issue(inventory: Inventory, path: tuple[str | int, ...], exc: WindowError) -> Issue:
    file, line = _where(inventory.path, path)
    return Issue(file, line, f"{exc.message} (env {inventory.env})", exc.fix)


def _where(inv_path: Path, path: tuple[str | int, ...]) -> tuple[str, int | None]:
    """The group_vars file of group ``all`` that sets ``path[0]``, and the line of ``path``."""
    gv = inv_path / "group_vars"
    files = [gv / "all.yml", gv / "all.yaml", *sorted((gv / "all").glob("*.y*ml"))] if gv.is_dir() else []
    for f in files:
        if not f.is_file():
            continue
        data, lmap, _ = load_yaml(f.read_text(), file=str(f))
        if isinstance(data, dict) and path[0] in data:
            return str(f), lmap.line_of(path)
    return str(inv_path), None
