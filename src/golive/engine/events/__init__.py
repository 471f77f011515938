"""Typed journal events: one pydantic model per event, named after it, in a registry.

``Journal.append`` has every entry checked by its event's model before it is written (an
unknown event or an unknown or ill-typed field is a programming error: it raises, nothing
is written), and ``parse`` turns an entry read back into its model. The line on disk is the
writer's dict as before; the models only say what it may hold. docs/journal.md lists the
same events and fields, and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from golive.engine.events import approvals, k8s, locks, notify, rollback, run, steps, window
from golive.engine.events.approvals import *  # noqa: F403
from golive.engine.events.base import ENVELOPE, Event, HostOutcome, InputRef, StepRef
from golive.engine.events.k8s import *  # noqa: F403
from golive.engine.events.locks import *  # noqa: F403
from golive.engine.events.notify import *  # noqa: F403
from golive.engine.events.rollback import *  # noqa: F403
from golive.engine.events.run import *  # noqa: F403
from golive.engine.events.steps import *  # noqa: F403
from golive.engine.events.window import *  # noqa: F403

__all__ = [
    "ENVELOPE",
    "EVENTS",
    "Event",
    "HostOutcome",
    "InputRef",
    "InvalidEvent",
    "StepRef",
    "check",
    "parse",
    *approvals.__all__,
    *k8s.__all__,
    *locks.__all__,
    *notify.__all__,
    *rollback.__all__,
    *run.__all__,
    *steps.__all__,
    *window.__all__,
]


class InvalidEvent(ValueError):
    """An entry its event's model refuses: an unknown event, or a field unknown, missing or of the wrong type."""

    def __init__(self, event: object, problem: str) -> None:
        super().__init__(f"journal event {event!r}: {problem}")
        self.event = event
        self.problem = problem


def _registry() -> dict[str, type[Event]]:
    out: dict[str, type[Event]] = {}
    for module in (run, steps, approvals, rollback, k8s, window, locks, notify):
        for name in module.__all__:
            cls = getattr(module, name)
            event = cls.model_fields["event"].default
            assert event not in out, f"two models for event {event!r}"
            out[event] = cls
    return out


EVENTS: dict[str, type[Event]] = _registry()

# What a writer hands to Journal.append lacks the envelope the journal adds under its lock;
# stand-ins let the same model check the rest (the envelope's own values are the journal's).
_STAND_IN = {"seq": 0, "ts": "", "prev": ""}


def _model(event: object) -> type[Event]:
    cls = EVENTS.get(event) if isinstance(event, str) else None
    if cls is None:
        raise InvalidEvent(event, "unknown event; declare it in golive.engine.events and docs/journal.md")
    return cls


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}" for err in exc.errors(include_url=False)
    )


def check(event: str, fields: Mapping[str, Any]) -> None:
    """Raise InvalidEvent unless ``fields`` are what ``event``'s model declares (before it is written)."""
    cls = _model(event)
    clash = ENVELOPE & fields.keys()
    if clash:
        raise InvalidEvent(event, f"{', '.join(sorted(clash))}: written by the journal itself, not by a writer")
    try:
        cls.model_validate({**fields, **_STAND_IN, "event": event})
    except ValidationError as exc:
        raise InvalidEvent(event, _problems(exc)) from None


def parse(entry: Mapping[str, Any]) -> Event:
    """The typed event of a journal entry as read; InvalidEvent names what does not fit."""
    cls = _model(entry.get("event"))
    try:
        return cls.model_validate(entry)
    except ValidationError as exc:
        raise InvalidEvent(entry.get("event"), _problems(exc)) from None
