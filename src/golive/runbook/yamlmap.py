"""YAML loading that remembers where every value came from.

PyYAML's composer already knows the line of each node; we keep a map from the path
of a value (``("steps", 2, "ansible", "hosts")``) to its 1-based line, and report
duplicate keys, which PyYAML would otherwise let the last one win silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from golive.errors import Issue

__all__ = ["LineMap", "load_yaml", "unbounded_issue"]

Path = tuple[str | int, ...]


@dataclass
class LineMap:
    file: str
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """Line of the deepest prefix of ``path`` that exists in the document."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return None

    def has(self, path: Path) -> bool:
        return tuple(path) in self.lines


# How many values an alias may bring in again, over the whole document. A runbook
# repeats a block a few times; a "billion laughs" document nests aliases so that a few
# hundred bytes stand for billions of values, and any walk over it never ends.
ALIAS_BUDGET = 10_000


# How deep collections may nest. A runbook nests a handful of levels; reading a document
# nested hundreds deep recurses past Python's limit (a traceback, not a message).
MAX_DEPTH = 100
_FAST: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _too_deep(text: str) -> int | None:
    """The line where collections nest deeper than MAX_DEPTH, else None (read without recursion)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_FAST):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    return int(mark.line) + 1 if mark is not None else 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem) and exc.problem_mark is not None:
            return int(exc.problem_mark.line) + 1  # libyaml's own limit, met while it looked ahead
        return None  # a syntax error: the loader says where
    except yaml.YAMLError:
        return None
    return None


def _deep_issue(file: str, line: int) -> Issue:
    return Issue(
        file,
        line,
        f"YAML nested more than {MAX_DEPTH} levels deep",
        "flatten the structure: no runbook or inventory needs this depth",
    )


class _Recursive(Exception):
    def __init__(self, path: Path) -> None:
        super().__init__("recursive alias")
        self.path = path


class _AliasBomb(Exception):
    def __init__(self, path: Path) -> None:
        super().__init__("too many aliased values")
        self.path = path


@dataclass
class _Budget:
    """Nodes seen once are free; every further visit of a node (through an alias) costs one."""

    seen: set[int] = field(default_factory=set)
    left: int = ALIAS_BUDGET

    def visit(self, node: yaml.Node, path: Path) -> None:
        if id(node) not in self.seen:
            self.seen.add(id(node))
            return
        self.left -= 1
        if self.left < 0:
            raise _AliasBomb(path)


def _walk(
    node: yaml.Node,
    path: Path,
    lmap: LineMap,
    issues: list[Issue],
    parents: frozenset[int] = frozenset(),
    budget: _Budget | None = None,
) -> None:
    if id(node) in parents:
        raise _Recursive(path)
    budget = budget if budget is not None else _Budget()
    budget.visit(node, path)
    parents = parents | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                issues.append(
                    Issue(
                        lmap.file,
                        line,
                        f"duplicate key {key!r} (first at line {seen[key]})",
                        "keep one of them; YAML would silently use the last",
                    )
                )
            seen[key] = line
            lmap.lines[(*path, key)] = line
            _walk(value_node, (*path, key), lmap, issues, parents, budget)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lmap.lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lmap, issues, parents, budget)


def load_yaml(text: str, *, file: str) -> tuple[Any, LineMap, list[Issue]]:
    """Parse one YAML document; a syntax error becomes an Issue at its line."""
    lmap = LineMap(file)
    issues: list[Issue] = []
    deep = _too_deep(text)
    if deep is not None:
        return None, lmap, [_deep_issue(file, deep)]
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, lmap, issues
            lmap.lines[()] = node.start_mark.line + 1
            _walk(node, (), lmap, issues)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # A quote left open is found at the end of the file; where it opened is more useful.
        if exc.problem_mark and exc.context_mark and exc.problem_mark.line >= len(text.splitlines()):
            mark = exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        issues.append(
            Issue(file, line, f"YAML syntax error: {problem}", "check indentation, quoting and colons around this line")
        )
        return None, lmap, issues
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        issues.append(
            Issue(
                file,
                line,
                f"YAML error: character {exc.character!r} is not allowed in YAML",
                "remove control characters from the file",
            )
        )
        return None, lmap, issues
    except (_Recursive, _AliasBomb) as exc:
        issues.append(_alias_issue(exc, file, lmap))
        return None, lmap, issues
    except yaml.YAMLError as exc:
        issues.append(Issue(file, None, f"YAML error: {str(exc).splitlines()[0]}", "make the file valid YAML"))
        return None, lmap, issues
    return data, lmap, issues


def _alias_issue(exc: _Recursive | _AliasBomb, file: str, lmap: LineMap) -> Issue:
    if isinstance(exc, _Recursive):
        return Issue(
            file, lmap.line_of(exc.path), "YAML alias refers to the anchor it is in", "remove the recursive alias"
        )
    return Issue(
        file,
        # Values reached through an alias carry their anchor's line; the key the
        # expansion happens under is where the aliases are used.
        lmap.line_of(exc.path[:1]),
        f"YAML aliases here repeat more than {ALIAS_BUDGET} values (nested aliases multiply)",
        "write the repeated blocks out, or use fewer nested aliases",
    )


def unbounded_issue(text: str, *, file: str) -> Issue | None:
    """Nesting too deep to walk, an alias bomb or a recursive alias in a YAML file another
    program reads (Ansible), else None.

    Only these are judged: a file that is no YAML (an INI inventory), holds several
    documents, or has any other fault is for its reader to report.
    """
    deep = _too_deep(text)
    if deep is not None:
        return _deep_issue(file, deep)
    if "*" not in text:
        return None  # no alias at all
    lmap = LineMap(file)
    try:
        loader = _FAST(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is not None:
                    _walk(node, (), lmap, [], budget=_Budget())
        finally:
            loader.dispose()
    except (_Recursive, _AliasBomb) as exc:
        return _alias_issue(exc, file, lmap)
    except yaml.YAMLError:
        return None
    return None
