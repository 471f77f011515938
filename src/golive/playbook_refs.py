"""The files an Ansible playbook reads besides itself, found by reading its YAML.

Followed: ``import_playbook``, ``import_tasks``/``include_tasks``, roles (``roles:``,
``import_role``/``include_role``, a role's ``meta`` dependencies; every file of a role
counts), ``vars_files``, ``include_vars``, the ``src`` of ``template``/``copy``/
``unarchive``, ``script``, and ``lookup('file'|'template', ...)``. Paths are searched
as Ansible does, roughly: a role's ``tasks/``, ``files/``, ``templates/``, ``vars/``, then
the including file's directory, then the playbook's.

A reference with a template in it is resolved when it names only plain variables the
playbook defines (``vars:`` of plays, blocks, tasks) or ``playbook_dir``/``role_path``;
anything else (filters, facts, inventory variables) is reported unresolved, with its text,
rather than dropped: the caller hashes the text and says it could not follow it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["FileRef", "playbook_files", "read_ansible_yaml"]

_PREFIXES = ("ansible.builtin.", "ansible.legacy.")
_TASK_LISTS = ("tasks", "pre_tasks", "post_tasks", "handlers")
_BLOCK_LISTS = ("block", "rescue", "always")
_PLAIN_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_LOOKUP = re.compile(r"lookup\(\s*['\"](file|template)['\"]\s*,\s*['\"]([^'\"]+)['\"]")
_EXPAND_ROUNDS = 10  # variables naming variables: bounded, a cycle stays unresolved


@dataclass(frozen=True)
class FileRef:
    """One file a playbook reads: ``path`` (absolute) when found, else the reference as written."""

    text: str
    origin: Path
    path: Path | None = None
    note: str = ""


class _Loader(yaml.SafeLoader):
    """YAML as Ansible writes it: ``!vault``, ``!unsafe`` and other tags read as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _any_tag)


def read_ansible_yaml(path: Path) -> Any:
    """A YAML file as Ansible reads it (tags such as ``!vault`` kept as plain values); None if unreadable."""
    try:
        return yaml.load(path.read_text(), Loader=_Loader)  # a SafeLoader subclass
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # validation and Ansible say what is wrong with it; the file itself is still hashed


@dataclass
class _Scope:
    """Where a task list is read: the directories searched and the variables in force."""

    playbook_dir: Path
    here: Path
    role: Path | None = None
    vars: dict[str, Any] = field(default_factory=dict)

    def child(self, *, here: Path | None = None, role: Path | None = None, extra: Any = None) -> _Scope:
        merged = {**self.vars, **(extra if isinstance(extra, dict) else {})}
        return _Scope(self.playbook_dir, here or self.here, role or self.role, merged)

    def dirs(self, sub: str) -> list[Path]:
        """Where a relative path is looked for: the role's ``sub``, the role, here, the playbook's dir."""
        out = [self.role / sub, self.role] if self.role is not None else []
        return [*out, self.here / sub, self.here, self.playbook_dir / sub, self.playbook_dir]


class _Walk:
    def __init__(self, roles_path: list[Path]) -> None:
        self.roles_path = roles_path
        self.refs: dict[tuple[str, str], FileRef] = {}
        self.parsed: set[Path] = set()

    # ---------------------------------------------------------------- results

    def add(self, ref: FileRef) -> None:
        key = (str(ref.path), "") if ref.path is not None else (ref.text, str(ref.origin))
        self.refs.setdefault(key, ref)

    def add_path(self, path: Path, origin: Path) -> None:
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
                self.add(FileRef(text=str(f), origin=origin, path=f))
        else:
            self.add(FileRef(text=str(path), origin=origin, path=path))

    def resolve(self, text: Any, scope: _Scope, *, sub: str, origin: Path) -> Path | None:
        """The file ``text`` names, added as a reference either way; None when not found."""
        if not isinstance(text, str) or not text.strip():
            return None
        expanded = _expand(text.strip(), scope)
        if "{{" in expanded or "{%" in expanded:
            self.add(FileRef(text=text, origin=origin, note="templated: golive cannot resolve it; its text is hashed"))
            return None
        candidates = [Path(expanded)] if Path(expanded).is_absolute() else [d / expanded for d in scope.dirs(sub)]
        for c in candidates:
            if c.exists():
                found = Path(_normal(c))
                self.add_path(found, origin)
                return found
        self.add(FileRef(text=text, origin=origin, note="not found where Ansible would look"))
        return None

    # ---------------------------------------------------------------- playbooks

    def playbook(self, path: Path, scope_vars: dict[str, Any] | None = None) -> None:
        path = Path(_normal(path))
        if path in self.parsed:
            return
        self.parsed.add(path)
        plays = read_ansible_yaml(path)
        for play in plays if isinstance(plays, list) else []:
            if isinstance(play, dict):
                self.play(play, path, scope_vars or {})

    def play(self, play: dict[str, Any], path: Path, outer: dict[str, Any]) -> None:
        base = _Scope(playbook_dir=path.parent, here=path.parent, vars={"playbook_dir": str(path.parent), **outer})
        scope = base.child(extra=play.get("vars"))
        for key in ("import_playbook", *(p + "import_playbook" for p in _PREFIXES)):
            if key in play:
                found = self.resolve(play[key], scope, sub="", origin=path)
                if found is not None and found.is_file():
                    self.playbook(found, scope.vars)
        for item in _as_list(play.get("vars_files")):
            for one in item if isinstance(item, list) else [item]:  # a list: the first file found is used
                self.resolve(one, scope, sub="vars", origin=path)
        for role in _as_list(play.get("roles")):
            self.role(role, scope, origin=path)
        for key in _TASK_LISTS:
            self.tasks(play.get(key), scope, origin=path)

    # ---------------------------------------------------------------- tasks

    def tasks(self, tasks: Any, scope: _Scope, *, origin: Path) -> None:
        for task in tasks if isinstance(tasks, list) else []:
            if isinstance(task, dict):
                self.task(task, scope.child(extra=task.get("vars")), origin=origin)

    def task(self, task: dict[str, Any], scope: _Scope, *, origin: Path) -> None:
        for key in _BLOCK_LISTS:
            self.tasks(task.get(key), scope, origin=origin)
        for key, args in task.items():
            module = _module(key)
            if module in ("import_tasks", "include_tasks"):
                self.task_file(_arg(args, "file", "_raw_params"), scope, origin=origin)
            elif module in ("import_role", "include_role"):
                self.role(args, scope, origin=origin)
            elif module == "include_vars":
                self.resolve(_arg(args, "file", "_raw_params", "dir"), scope, sub="vars", origin=origin)
            elif module == "template":
                self.resolve(_arg(args, "src"), scope, sub="templates", origin=origin)
            elif module in ("copy", "unarchive") and not (isinstance(args, dict) and args.get("remote_src")):
                self.resolve(_arg(args, "src"), scope, sub="files", origin=origin)
            elif module == "script":
                cmd = _arg(args, "cmd", "_raw_params")
                self.resolve(
                    cmd.split()[0] if isinstance(cmd, str) and cmd.split() else None, scope, sub="files", origin=origin
                )
        for kind, text in _LOOKUP.findall(_strings(task)):
            self.resolve(text, scope, sub="files" if kind == "file" else "templates", origin=origin)

    def task_file(self, text: Any, scope: _Scope, *, origin: Path) -> None:
        found = self.resolve(text, scope, sub="tasks", origin=origin)
        if found is None or not found.is_file() or found in self.parsed:
            return
        self.parsed.add(found)
        self.tasks(read_ansible_yaml(found), scope.child(here=found.parent), origin=found)

    # ---------------------------------------------------------------- roles

    def role(self, spec: Any, scope: _Scope, *, origin: Path) -> None:
        name = spec.get("role") or spec.get("name") if isinstance(spec, dict) else spec
        if not isinstance(name, str):
            return
        name = _expand(name, scope)
        role_dir = self.find_role(name, scope)
        if role_dir is None:
            note = "templated: golive cannot resolve it" if "{{" in name else "role not found in any roles path"
            self.add(FileRef(text=f"role {name}", origin=origin, note=note))
            return
        self.add_path(role_dir, origin)
        if role_dir in self.parsed:
            return
        self.parsed.add(role_dir)
        inner = scope.child(here=role_dir / "tasks", role=role_dir, extra={"role_path": str(role_dir)})
        meta = read_ansible_yaml(role_dir / "meta" / "main.yml") if (role_dir / "meta" / "main.yml").is_file() else None
        for dep in _as_list(meta.get("dependencies") if isinstance(meta, dict) else None):
            self.role(dep, scope, origin=role_dir / "meta" / "main.yml")
        tasks_from = spec.get("tasks_from", "main") if isinstance(spec, dict) else "main"
        for sub, stem in (("tasks", tasks_from), ("handlers", "main")):
            for ext in (".yml", ".yaml"):
                f = role_dir / sub / f"{stem}{ext}"
                if f.is_file() and f not in self.parsed:
                    self.parsed.add(f)
                    self.tasks(read_ansible_yaml(f), inner, origin=f)

    def find_role(self, name: str, scope: _Scope) -> Path | None:
        if "{{" in name:
            return None
        given = Path(name)
        places = (
            [given]
            if given.is_absolute()
            else [scope.playbook_dir / "roles" / name, *(p / name for p in self.roles_path), scope.playbook_dir / name]
        )
        return next((Path(_normal(p)) for p in places if p.is_dir()), None)


def _module(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _arg(args: Any, *names: str) -> Any:
    """A module argument from its mapping or its ``k=v`` free form; ``_raw_params`` is the free form itself."""
    if isinstance(args, str):
        pairs = dict(tok.split("=", 1) for tok in args.split() if "=" in tok and "{" not in tok.split("=", 1)[0])
        found = next((pairs[n] for n in names if n in pairs), None)
        return found if found is not None or "_raw_params" not in names or pairs else args
    if isinstance(args, dict):
        return next((args[n] for n in names if n in args), None)
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _strings(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(_strings(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(_strings(v) for v in value)
    return ""


def _expand(text: str, scope: _Scope) -> str:
    """Substitute ``{{ name }}`` of plain variables the playbook defines; leave the rest as it is."""
    for _ in range(_EXPAND_ROUNDS):
        new = _PLAIN_VAR.sub(lambda m: _value(m, scope), text)
        if new == text:
            break
        text = new
    return text


def _value(match: re.Match[str], scope: _Scope) -> str:
    value = scope.vars.get(match.group(1))
    return str(value) if isinstance(value, str | int | float) else match.group(0)


def _normal(path: Path) -> str:
    import os.path

    return os.path.normpath(path)


def playbook_files(playbook: Path, *, roles_path: list[Path] | None = None) -> list[FileRef]:
    """Every file ``playbook`` reads besides itself, in the order found; unresolved references included."""
    walk = _Walk(roles_path or [])
    start = Path(_normal(playbook.resolve()))
    walk.playbook(start)
    return [r for r in walk.refs.values() if r.path != start]
