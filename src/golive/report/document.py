"""The go-live document: the runbook and its plan as the page people review and hand over.

Purpose, window and freezes, environment and hosts, owners and contacts, escalation, risk
register, prerequisites, the planned timeline, every step with its gates, bake, approvals
and rollback, the rollback path per failure point, and the digest an approval binds to.
HTML is one self-contained file (inline CSS and SVG, no script, prints well); Markdown
renders on a code-hosting site. Both come from Jinja2 templates shipped in ``templates/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from golive.plan import Plan, PlannedStep, action_summary
from golive.report.gantt import render_svg
from golive.report.plan_view import gate_text
from golive.report.planned_gantt import owner_colours, planned_gantt, planned_rows
from golive.runbook.load import load_runbook
from golive.runbook.models import Contact, Runbook
from golive.runbook.types import format_duration

if TYPE_CHECKING:
    from jinja2 import Environment

    from golive.context import RunContext
    from golive.inventory import Inventory

__all__ = ["DocFormat", "render_document"]

DocFormat = Literal["html", "md"]


@dataclass(frozen=True)
class StepView:
    step: PlannedStep
    action: str
    gates: list[str]
    contacts: list[Contact]
    rollback: str
    approval: str
    start_s: float


def _rollback_text(step: PlannedStep) -> str:
    detail = f": {step.rollback.detail}" if step.rollback.detail else ""
    return f"{step.rollback.kind}{detail}"


def _approval_text(step: PlannedStep) -> str:
    ap = step.approval
    if ap is None:
        return ""
    who = f"{ap.approvers} approver(s)" + (", not the initiator" if ap.exclude_initiator else "")
    return f"{who}; times out after {format_duration(ap.timeout_s)}, then {ap.on_timeout}"


def _contacts_of(owner: str | None, contacts: list[Contact]) -> list[Contact]:
    """A step's owner is a team or a person: the contacts whose role or name it is."""
    if not owner:
        return []
    return [c for c in contacts if owner in (c.role, c.name)]


def _steps(plan: Plan, runbook: Runbook) -> list[StepView]:
    starts = {r.step: r.start_s for r in planned_rows(plan)}
    return [
        StepView(
            step=s,
            action=action_summary(s),
            gates=[gate_text(g) for g in s.gates],
            contacts=_contacts_of(s.owner, runbook.contacts),
            rollback=_rollback_text(s),
            approval=_approval_text(s),
            start_s=starts[s.id],
        )
        for s in plan.steps
    ]


def _freezes(inventory: Inventory | None) -> list[str]:
    """Change freezes of the env, as the inventory states them (``golive_freezes``), one line each."""
    raw = inventory.settings.get("golive_freezes") if inventory is not None else None
    if not isinstance(raw, list):
        return []
    out = []
    for item in raw:
        if isinstance(item, dict):
            out.append(", ".join(f"{k}: {v}" for k, v in item.items()))
        else:
            out.append(str(item))
    return out


def _hosts(inventory: Inventory | None, plan: Plan) -> list[tuple[str, list[str]]]:
    """Groups of the env that the plan touches, with their hosts; all groups when it touches none."""
    if inventory is None:
        return []
    touched = {h for s in plan.steps for h in s.hosts} | {h for s in plan.steps for g in s.gates for h in g.hosts}
    groups = sorted((g, hs) for g, hs in inventory.groups.items() if g not in ("all", "ungrouped") and hs)
    used = [(g, hs) for g, hs in groups if touched & set(hs)]
    return used or groups


def _fmt_s(seconds: float) -> str:
    return format_duration(seconds) if seconds else "0s"


def _md_cell(value: Any) -> str:
    """A value that stays inside one Markdown table cell."""
    text = str(value if value is not None else "")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>") or "-"


@cache
def _env() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("golive.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["dur"] = _fmt_s
    env.filters["cell"] = _md_cell
    return env


def _sources(source: RunContext | Plan) -> tuple[Plan, Runbook, Inventory | None]:
    if isinstance(source, Plan):
        # A plan alone names its runbook file; the document's other sections come from it.
        return source, load_runbook(Path(source.file)).runbook, None
    return source.plan(), source.loaded.runbook, source.inventory


def render_document(source: RunContext | Plan, *, fmt: DocFormat = "html") -> str:
    """The go-live document of a prepared runbook (or of a plan, without inventory details).

    Raises RunbookError when the runbook does not plan, like ``golive plan``.
    """
    plan, runbook, inventory = _sources(source)
    rows = planned_rows(plan)
    chart = planned_gantt(rows, title=f"Planned timeline of {plan.runbook}")
    context = {
        "plan": plan,
        "runbook": runbook,
        "env": plan.env,
        "steps": _steps(plan, runbook),
        "rows": rows,
        "gantt_svg": render_svg(chart) if fmt == "html" else "",
        "freezes": _freezes(inventory),
        "hosts": _hosts(inventory, plan),
        "colours": owner_colours([r.owner for r in rows]),
        "protected": inventory.protected if inventory is not None else None,
    }
    template = _env().get_template("document.html" if fmt == "html" else "document.md")
    return template.render(**context)
