"""Jinja2 templates of the runbook, rendered in a sandbox.

Two environments: ``render`` for values that stay values (URLs, image names, vars)
and ``render_shell`` for text that reaches a shell, where every substituted value is
quoted with ``shlex.quote`` so a parameter is always one literal argument.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "KNOWN_NAMES",
    "HostRef",
    "TemplateProblem",
    "analyse",
    "names_variable",
    "render",
    "render_shell",
    "render_tree",
]

# Names a runbook template may use; anything else is a typo or a missing param.
KNOWN_NAMES = frozenset({"params", "env", "host", "hosts", "previous", "run", "step", "batch", "hostvars", "secrets"})


@dataclass(frozen=True)
class HostRef:
    """A host in a template: renders as its address, ``.name`` is the inventory name."""

    name: str
    address: str
    vars: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.address


def _quote(value: Any) -> str:
    return value if isinstance(value, _Raw) else shlex.quote(str(value))


class _Raw(str):
    """Text the template author wrote literally, not a substituted value."""


_env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
_shell_env = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, finalize=_quote, keep_trailing_newline=True
)
for _e in (_env, _shell_env):
    _e.filters["quote"] = lambda v: _Raw(shlex.quote(str(v)))


def render(text: str, context: dict[str, Any]) -> str:
    if "{" not in text:
        return text
    return _env.from_string(text).render(context)


def render_shell(text: str, context: dict[str, Any]) -> str:
    if "{" not in text:
        return text
    return _shell_env.from_string(text).render(context)


def names_variable(text: str, name: str) -> bool:
    """True when the template ``text`` uses the variable ``name``; False for plain text or bad syntax."""
    if "{" not in text:
        return False
    try:
        tree = _env.parse(text)
    except jinja2.TemplateSyntaxError:
        return False  # rendering reports it, where the error has a place to go
    return name in meta.find_undeclared_variables(tree)


def render_tree(value: Any, context: dict[str, Any]) -> Any:
    """Render every string inside dicts and lists; other values pass through."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, dict):
        return {k: render_tree(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_tree(v, context) for v in value]
    return value


@dataclass(frozen=True)
class TemplateProblem:
    message: str
    fix: str


def _attr_chains(tree: nodes.Node) -> Iterator[tuple[str, str]]:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = getattr(node, "node", None)
        if isinstance(target, nodes.Name):
            if isinstance(node, nodes.Getattr):
                yield target.name, node.attr
            else:
                arg = getattr(node, "arg", None)
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    yield target.name, arg.value


def analyse(
    text: str, *, params: dict[str, Any], uses_host_ok: bool = True, secrets: frozenset[str] | None = None
) -> list[TemplateProblem]:
    """Static problems of one template: syntax, unknown names, params that are not declared."""
    if "{" not in text:
        return []
    try:
        tree = _env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return [TemplateProblem(f"template syntax error: {exc.message}", "close every {{ and {% and check filters")]
    problems: list[TemplateProblem] = []
    for name in sorted(meta.find_undeclared_variables(tree)):
        if name not in KNOWN_NAMES:
            near = difflib.get_close_matches(name, sorted(KNOWN_NAMES), n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            problems.append(
                TemplateProblem(
                    f"template uses unknown name {name!r}",
                    f"{hint}templates may use: {', '.join(sorted(KNOWN_NAMES))}; params are params.NAME",
                )
            )
        elif name == "host" and not uses_host_ok:
            problems.append(
                TemplateProblem(
                    "template uses {{ host }} but the check names no hosts",
                    "add hosts: <group or pattern> to the check",
                )
            )
    for base, attr in _attr_chains(tree):
        if base == "secrets" and secrets is not None and attr not in secrets:
            problems.append(
                TemplateProblem(
                    f"template references undeclared secret {attr!r}",
                    f"declare it under secrets: (declared: {', '.join(sorted(secrets)) or 'none'})",
                )
            )
        if base == "params" and attr not in params:
            near = difflib.get_close_matches(attr, list(params), n=1)
            hint = f"did you mean params.{near[0]}? " if near else ""
            declared = ", ".join(sorted(params)) or "none"
            problems.append(
                TemplateProblem(
                    f"template references undefined param {attr!r}",
                    f"{hint}declare it under params: or pass -p {attr}=VALUE (declared: {declared})",
                )
            )
    return problems
