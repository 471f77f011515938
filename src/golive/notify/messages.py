"""What golive tells people: journal entries turned into short messages, by Jinja2 templates.

``event_of`` names the notification a journal entry is (or None: most entries notify no
one); ``render`` fills the channel's template for it, or the default below. Messages are
short enough for chat; the journal and the report hold the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import jinja2

__all__ = ["DEFAULTS", "Message", "event_of", "prefect_link", "render"]

# journal event -> notification event (journal events named like notifications map to themselves)
_FROM_JOURNAL = {
    "run_started": "run_started",
    "approval_requested": "approval_needed",
    "gate_failed": "gate_failed",
    "rollback_started": "rollback_started",
    "rollback_done": "rollback_finished",
    "rollback_failed": "rollback_failed",
    "run_finished": "run_finished",
    "break_glass": "break_glass",
    "watch_alert": "watch_alert",
    "rehearsal_finished": "rehearsal_finished",
}

# (title, body) per event; the context is the journal entry's fields plus run_id, runbook, env.
DEFAULTS: dict[str, tuple[str, str]] = {
    "run_started": (
        "golive: {{ runbook }} started on {{ env }}",
        "run {{ run_id }} by {{ initiator }}, plan {{ digest[:12] }}{% if link %}\n{{ link }}{% endif %}",
    ),
    "approval_needed": (
        "golive: {{ runbook }} on {{ env }} waits for approval at {{ step }}",
        "{% if message %}{{ message }}\n{% endif %}{{ approvers }} approver(s), plan {{ digest[:12] }}\n"
        "{{ howto }}{% if link %}\nor in the Prefect UI: {{ link }}{% endif %}",
    ),
    "gate_failed": (
        "golive: gate failed at {{ step }}{% if batch %} batch {{ batch }}{% endif %} ({{ runbook }} on {{ env }})",
        "run {{ run_id }}: {{ reason }}",
    ),
    "rollback_started": (
        "golive: rolling back {{ runbook }} on {{ env }}",
        "run {{ run_id }}: {{ reason }}; {{ units | length }} unit(s) to restore",
    ),
    "rollback_finished": (
        "golive: {{ runbook }} on {{ env }} rolled back",
        "run {{ run_id }}: restored {{ restored | join(', ') or 'nothing to restore' }}",
    ),
    "rollback_failed": (
        "ROLLBACK FAILED: {{ runbook }} on {{ env }} is NOT restored",
        "run {{ run_id }}: not restored: {{ not_restored | join(', ') }}; {{ reason }}\n"
        "restored: {{ restored | join(', ') or 'nothing' }}. Owner: {{ owner or initiator or 'the initiator' }}."
        " golive status {{ run_id }}",
    ),
    "run_finished": (
        "golive: {{ runbook }} on {{ env }} {{ status | replace('_', ' ') }}",
        "run {{ run_id }} exit {{ exit_code }}{% if reason %}: {{ reason }}{% endif %}",
    ),
    "watch_alert": (
        "golive: watch alert on {{ runbook }} ({{ env }})",
        "run {{ run_id }}: {{ reason | default(check) }}",
    ),
    "break_glass": (
        "golive: BREAK GLASS, {{ runbook }} on {{ env }} outside its window",
        "by {{ by }}: {{ reason }} (window {{ window }})",
    ),
    "rehearsal_finished": (
        "golive: rehearsal of {{ runbook }} on {{ env }} {{ outcome | default('ended') }}",
        "run {{ run_id }}",
    ),
    "message": ("golive: {{ runbook }} on {{ env }}", "{{ message }}"),
    "test": ("golive: test message", "a test from golive notify test for channel {{ channel }} of env {{ env }}"),
}

_JINJA = jinja2.Environment(autoescape=False, undefined=jinja2.ChainableUndefined)


@dataclass(frozen=True)
class Message:
    event: str
    title: str
    body: str
    loud: bool = False  # a failure people must act on


def event_of(entry: dict[str, Any]) -> str | None:
    """The notification a journal entry is, or None."""
    name = str(entry.get("event"))
    if name == "notified" and entry.get("to"):
        return "message"
    if name == "gate_failed" and entry.get("outcome") == "inconclusive":
        return "gate_failed"
    return _FROM_JOURNAL.get(name)


def prefect_link(flow_run_id: str | None) -> str | None:
    """The Prefect UI page of a flow run, where the server is known."""
    if not flow_run_id:
        return None
    ui = os.environ.get("PREFECT_UI_URL")
    if not ui:
        api = os.environ.get("PREFECT_API_URL", "")
        ui = api[: -len("/api")] if api.endswith("/api") else ""
    return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}" if ui else None


def render(event: str, context: dict[str, Any], *, override: str | None = None) -> Message:
    title, body = DEFAULTS[event]
    ctx = {**context, "link": context.get("link") or prefect_link(context.get("flow_run_id"))}
    text = _JINJA.from_string(override or body).render(**ctx)
    return Message(
        event=event,
        title=_JINJA.from_string(title).render(**ctx),
        body=text.strip(),
        loud=event in ("rollback_failed", "gate_failed", "watch_alert", "break_glass"),
    )
