"""Everything a command needs about one runbook in one environment, loaded once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from golive.errors import Issue
from golive.history import previous_from_history
from golive.inventory import Inventory, find_project_root, load_inventory
from golive.runbook.load import LoadedRunbook, load_runbook
from golive.runbook.validate import validate

if TYPE_CHECKING:
    from golive.plan import Plan

__all__ = ["RunContext", "prepare"]


@dataclass
class RunContext:
    loaded: LoadedRunbook
    root: Path
    env: str | None
    inventory: Inventory | None
    params: dict[str, Any]
    previous: dict[str, Any] = field(default_factory=dict)
    history: dict[str, float] = field(default_factory=dict)
    inventory_path: Path | None = None

    def journal_meta(self) -> dict[str, Any]:
        """What a later process needs to rebuild exactly this context (resume, abort)."""
        return {
            "file_abs": str(self.loaded.path.resolve()),
            "inventory_path": str(self.inventory_path.resolve()) if self.inventory_path else None,
            "cli_params": self.params,
        }

    def issues(self) -> list[Issue]:
        return validate(self.loaded, root=self.root, inventory=self.inventory, params=self.params)

    def plan(self) -> Plan:
        from golive.plan import build_plan  # `golive validate` needs no plan

        return build_plan(
            self.loaded,
            root=self.root,
            inventory=self.inventory,
            params=self.params,
            previous=self.previous,
            history=self.history,
        )


def prepare(
    runbook: Path,
    *,
    env: str | None,
    params: dict[str, Any],
    inventory_path: Path | None = None,
    previous: dict[str, Any] | None = None,
    history: dict[str, float] | None = None,
    with_history: bool = False,
) -> RunContext:
    """Load the runbook and, when an env is named, its inventory. Raises RunbookError.

    ``with_history`` takes ``previous`` from the last successful run of this runbook in this
    env (``golive.history``), as every command that plans a real run must: ``plan``, ``run``,
    deployments and ``resume`` then build the same plan, digest included. ``previous`` given
    explicitly wins.
    """
    loaded = load_runbook(runbook)
    root = find_project_root(runbook.parent)
    inventory = None
    if env is not None or inventory_path is not None:
        inventory = load_inventory(root=root, env=env or "custom", path=inventory_path)
    if previous is None and with_history:
        previous = previous_from_history(root, runbook=loaded.runbook.name, env=inventory.env if inventory else None)
    return RunContext(
        loaded=loaded,
        root=root,
        env=env,
        inventory=inventory,
        params=params,
        previous=previous or {},
        history=history or {},
        inventory_path=inventory_path,
    )
