"""Label and field selector parsing and matching of the kube emulator, as data cases."""

from __future__ import annotations

from typing import Any

import pytest

from golive_lab.kube_emulator.selectors import (
    SelectorError,
    from_label_selector,
    matches_fields,
    matches_labels,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "web", "tier": "front", "track": "canary"}

# (selector string, labels, expected match)
LABEL_CASES: list[tuple[str, dict[str, str], bool]] = [
    ("", LABELS, True),
    ("app=web", LABELS, True),
    ("app==web", LABELS, True),
    ("app=api", LABELS, False),
    ("app!=api", LABELS, True),
    ("app!=web", LABELS, False),
    ("missing!=x", LABELS, True),
    ("app=web,tier=front", LABELS, True),
    ("app=web,tier=back", LABELS, False),
    ("tier in (front, back)", LABELS, True),
    ("tier in (back)", LABELS, False),
    ("tier notin (back,middle)", LABELS, True),
    ("missing notin (x)", LABELS, True),
    ("track", LABELS, True),
    ("!track", LABELS, False),
    ("!missing", LABELS, True),
    ("app=web,tier in (front,back),!missing", LABELS, True),
    ("pod-template-hash=abc", {"pod-template-hash": "abc"}, True),
    ("example.com/role=db", {"example.com/role": "db"}, True),
]


@pytest.mark.parametrize(("selector", "labels", "expected"), LABEL_CASES)
def test_label_selector_string_matches(selector: str, labels: dict[str, str], expected: bool) -> None:
    """A label selector string matches exactly the label sets the API would match."""
    assert matches_labels(labels, parse_label_selector(selector)) is expected


@pytest.mark.parametrize("selector", ["app in (a", "app=(x)", "=web", "app in a,b)"])
def test_malformed_label_selector_is_refused(selector: str) -> None:
    """A malformed label selector raises SelectorError rather than matching anything."""
    with pytest.raises(SelectorError):
        parse_label_selector(selector)


STRUCTURED_CASES: list[tuple[dict[str, Any], dict[str, str], bool]] = [
    ({"matchLabels": {"app": "web"}}, LABELS, True),
    ({"matchLabels": {"app": "web", "tier": "back"}}, LABELS, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}, LABELS, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, LABELS, False),
    ({"matchExpressions": [{"key": "track", "operator": "Exists"}]}, LABELS, True),
    ({"matchExpressions": [{"key": "track", "operator": "DoesNotExist"}]}, LABELS, False),
    (
        {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]},
        LABELS,
        True,
    ),
]


@pytest.mark.parametrize(("selector", "labels", "expected"), STRUCTURED_CASES)
def test_structured_label_selector_matches(selector: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    """matchLabels and matchExpressions combine with AND like the API's LabelSelector."""
    assert matches_labels(labels, from_label_selector(selector)) is expected


POD = {"metadata": {"name": "web-1", "namespace": "default"}, "status": {"phase": "Running"}}
FIELD_CASES: list[tuple[str, bool]] = [
    ("metadata.name=web-1", True),
    ("metadata.name==web-1", True),
    ("metadata.name=web-2", False),
    ("metadata.name!=web-2", True),
    ("metadata.namespace=default,status.phase=Running", True),
    ("status.phase=Pending", False),
    ("spec.nodeName=", True),
]


@pytest.mark.parametrize(("selector", "expected"), FIELD_CASES)
def test_field_selector_matches(selector: str, expected: bool) -> None:
    """Field selectors compare dotted paths, an absent field counting as empty."""
    assert matches_fields(POD, parse_field_selector(selector)) is expected
