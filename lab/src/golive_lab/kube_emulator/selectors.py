"""Label and field selectors as the Kubernetes API understands them.

Two forms exist: the query-string form (``app=web,tier in (a,b),!canary``) used by
``labelSelector``/``fieldSelector`` parameters, and the structured ``LabelSelector``
(``matchLabels`` plus ``matchExpressions``) found in Deployment and ReplicaSet specs.
Both compile to a list of :class:`Requirement` so matching is one function.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")
_FIELD_RE = re.compile(r"^\s*(?P<key>[A-Za-z0-9_.]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*?)\s*$")


class SelectorError(ValueError):
    """A selector string or structure that cannot be parsed."""


@dataclass(frozen=True)
class Requirement:
    """One term of a selector: ``key op values``."""

    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "in":
            return present and labels[self.key] in self.values
        if self.op == "notin":
            return not present or labels[self.key] not in self.values
        raise SelectorError(f"unknown operator {self.op!r}")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside a parenthesised value set."""
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced parenthesis in {text!r}")
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise SelectorError(f"unbalanced parenthesis in {text!r}")
    terms.append("".join(current))
    return [term for term in terms if term.strip()]


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse the query-string form of a label selector; empty matches everything."""
    if not text or not text.strip():
        return []
    requirements: list[Requirement] = []
    for term in _split_terms(text):
        if match := _SET_RE.match(term):
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(Requirement(match["key"], match["op"], values))
        elif match := _EQ_RE.match(term):
            op = "notin" if match["op"] == "!=" else "in"
            requirements.append(Requirement(match["key"], op, frozenset({match["value"]})))
        elif match := _EXISTS_RE.match(term):
            requirements.append(Requirement(match["key"], "!exists" if match["neg"] else "exists"))
        else:
            raise SelectorError(f"unable to parse requirement {term.strip()!r}")
    return requirements


def parse_field_selector(text: str | None) -> list[tuple[str, str, str]]:
    """Parse a field selector into (field path, "=" or "!=", value) terms."""
    if not text or not text.strip():
        return []
    terms: list[tuple[str, str, str]] = []
    for term in text.split(","):
        if not term.strip():
            continue
        match = _FIELD_RE.match(term)
        if not match:
            raise SelectorError(f"invalid field selector term {term.strip()!r}")
        terms.append((match["key"], "!=" if match["op"] == "!=" else "=", match["value"]))
    return terms


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string value at a dotted path, empty when absent (as the API compares it)."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return ""
        current = current[part]
    return "" if current is None else str(current)


def matches_fields(obj: Mapping[str, Any], terms: list[tuple[str, str, str]]) -> bool:
    """Whether an object satisfies every field selector term."""
    for path, op, value in terms:
        equal = field_value(obj, path) == value
        if equal != (op == "="):
            return False
    return True


def matches_labels(labels: Mapping[str, str] | None, requirements: list[Requirement]) -> bool:
    """Whether a label set satisfies every requirement."""
    labels = labels or {}
    return all(req.matches(labels) for req in requirements)


_EXPRESSION_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


def from_label_selector(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """Compile a structured ``LabelSelector`` (matchLabels + matchExpressions)."""
    if not selector:
        return []
    requirements = [
        Requirement(str(key), "in", frozenset({str(value)}))
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    for expression in selector.get("matchExpressions") or []:
        op = _EXPRESSION_OPS.get(str(expression.get("operator")))
        if op is None:
            raise SelectorError(f"unknown operator {expression.get('operator')!r}")
        values = frozenset(str(v) for v in expression.get("values") or [])
        requirements.append(Requirement(str(expression.get("key")), op, values))
    return requirements


def selector_is_empty(selector: Mapping[str, Any] | None) -> bool:
    """An empty structured selector (no labels, no expressions)."""
    return not selector or (not selector.get("matchLabels") and not selector.get("matchExpressions"))
