"""docs/journal.md lists every journal event and every field, exactly as the models declare them."""

from __future__ import annotations

import re
from pathlib import Path

from golive.engine.events import EVENTS, Event

DOCS = Path(__file__).resolve().parents[2] / "docs" / "journal.md"
COMMON = "Every entry"


def documented() -> dict[str, dict[str, bool]]:
    """Per ``### heading`` under ``## Events``: each bulleted `field` and whether it is marked (optional)."""
    text = DOCS.read_text()
    events = text[text.index("\n## Events\n") :]
    out: dict[str, dict[str, bool]] = {}
    current: dict[str, bool] | None = None
    for line in events.splitlines():
        if line.startswith("## ") and line != "## Events":
            break  # the next section of the page
        if line.startswith("### "):
            current = out.setdefault(line[4:].strip(), {})
        elif current is not None and (m := re.match(r"- `(\w+)`( \(optional\))?:", line)):
            current[m.group(1)] = m.group(2) is not None
    return out


def declared(model: type[Event]) -> dict[str, bool]:
    common = Event.model_fields.keys()
    return {name: not f.is_required() for name, f in model.model_fields.items() if name not in common}


def test_the_docs_list_every_event_the_journal_takes_and_no_other() -> None:
    docs = set(documented()) - {COMMON}
    assert sorted(docs - EVENTS.keys()) == [], "documented, but no model: remove from docs/journal.md or declare it"
    assert sorted(EVENTS.keys() - docs) == [], "a model nobody documented: add a ### section to docs/journal.md"


def test_each_events_fields_and_which_are_optional_match_its_model() -> None:
    docs = documented()
    wrong = {
        event: (docs.get(event), declared(model))
        for event, model in EVENTS.items()
        if docs.get(event) != declared(model)
    }
    assert wrong == {}, "docs/journal.md (left) and the model (right) differ"


def test_the_fields_every_entry_has_are_documented_once() -> None:
    assert documented()[COMMON] == dict.fromkeys(Event.model_fields, False)
