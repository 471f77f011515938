"""Environments: an Ansible inventory directory ``inventory/<env>/`` read with Ansible's own API.

golive's own settings for an environment are ordinary inventory variables of group
``all`` with a ``golive_`` prefix (``group_vars/all.yml``), so one file holds them:

- ``golive_clusters``: ``{name: {kubeconfig: PATH, context: NAME}}`` Kubernetes targets
- ``golive_prometheus_url``: where Prometheus gates query
- ``golive_approvers``: people allowed to approve in this env
- ``golive_min_approvers``: an approval step must ask for at least this many
- ``golive_protected``: true for production-like envs (the initiator may not approve)
- ``golive_timezone``, ``golive_windows``, ``golive_freezes``: change windows and freezes
  (read by golive.schedule; see docs/runbook.md)
- ``golive_change_approvers``: distinct people who must approve a change (default 1 when
  protected, else 0)
- ``golive_require_change``: ``golive run`` needs an approved change, ``--change ID``
  (default: true when protected)
- ``golive_allowed_signers``: the ssh-keygen allowed_signers file approvers' keys are in
- ``golive_require_signed_approvals``: only signed approvals count (default: true when protected)
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from golive.errors import Issue, RunbookError

if TYPE_CHECKING:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

__all__ = [
    "MAX_INVENTORY_BYTES_VAR",
    "Cluster",
    "Connection",
    "Inventory",
    "env_name_issue",
    "find_project_root",
    "load_inventory",
    "max_inventory_bytes",
]

# Variables Ansible adds to every host itself; absolute paths that say nothing of what runs.
_MAGIC = frozenset({"inventory_file", "inventory_dir"})
# An inventory of ten thousand hosts is a few MiB; a file far larger is a mistake (a dump,
# a log) that Ansible would spend minutes on before golive could say anything.
MAX_INVENTORY_BYTES_VAR = "GOLIVE_MAX_INVENTORY_BYTES"
DEFAULT_MAX_INVENTORY_BYTES = 16 * 1024 * 1024
_YAML_SUFFIXES = frozenset({"", ".yml", ".yaml"})
# An environment is a directory name under inventory/, and names lock files and Prefect objects.
_ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Connection:
    """How golive reaches one host over SSH, from its Ansible connection variables."""

    name: str
    address: str
    port: int
    user: str
    key_file: str | None
    known_hosts: str | None
    python: str | None = None


@dataclass(frozen=True)
class Cluster:
    name: str
    kubeconfig: str | None
    context: str | None


def find_project_root(start: Path) -> Path:
    """Nearest directory at or above ``start`` that holds ``inventory/``; else the cwd."""
    start = start.resolve()
    for d in (start, *start.parents):
        if (d / "inventory").is_dir():
            return d
    return Path.cwd()


@dataclass
class Inventory:
    env: str
    path: Path
    _manager: InventoryManager = field(repr=False)
    _loader: DataLoader = field(repr=False)
    _vars: VariableManager = field(repr=False)
    # Ansible's inventory, plugin loader and templar are not thread-safe (two hosts templated at
    # once can each find a filter plugin half-loaded), and probes ask from worker threads.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @cached_property
    def host_names(self) -> list[str]:
        return [h.name for h in self._manager.get_hosts("all")]

    @cached_property
    def groups(self) -> dict[str, list[str]]:
        return {name: [h.name for h in g.get_hosts()] for name, g in self._manager.groups.items()}

    def match(self, pattern: str) -> list[str]:
        """Hosts an Ansible host pattern selects (``app``, ``app:&eu``, ``app[0:2]``, ``app-*``)."""
        import warnings

        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [h.name for h in self._manager.get_hosts(pattern)]

    def suggest(self, pattern: str) -> str:
        names = sorted(set(self.groups) - {"ungrouped"}) + self.host_names[:500]
        near = difflib.get_close_matches(pattern, names, n=1)
        groups = ", ".join(sorted(set(self.groups) - {"all", "ungrouped"})) or "none"
        return (f"did you mean {near[0]!r}? " if near else "") + f"groups in {self.env}: {groups}"

    def host_vars(self, name: str) -> dict[str, Any]:
        """Every variable of a host, templated by Ansible's own templar (one caller at a time)."""
        with self._lock:
            return self._host_vars(name)

    def _host_vars(self, name: str) -> dict[str, Any]:
        from ansible.template import Templar

        host = self._manager.get_host(name)
        if host is None:
            raise KeyError(name)
        raw = self._vars.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=self._loader, variables=raw)
        wanted = {k: v for k, v in raw.items() if k.startswith(("ansible_", "golive_")) or k in host.vars}
        out: dict[str, Any] = {}
        for k, v in wanted.items():
            try:
                out[k] = _plain(templar.template(v))
            except Exception:  # a var only a play can resolve (ansible_playbook_python): keep it raw
                out[k] = _plain(v)
        return out

    def raw_vars(self, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Each named host's variables as written, not templated (what a plan's digest covers).

        Group variables by depth, then the host's, each from the inventory source and then from
        ``group_vars/``/``host_vars/`` beside it, as Ansible orders them. Reading them through
        Ansible's VariableManager costs ~0.3 ms a host; this reads each file once.
        """
        files: dict[tuple[str, str], dict[str, Any]] = {}
        chains: dict[tuple[str, ...], dict[str, Any]] = {}  # hosts of the same groups share their merge
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for name in names:
                host = self._manager.get_host(name)
                if host is None:
                    continue
                groups = sorted(host.get_groups(), key=lambda g: (g.depth, g.priority, g.name))
                chain = tuple(g.name for g in groups)
                if chain not in chains:
                    merged: dict[str, Any] = {}
                    for group in groups:
                        merged.update(group.get_vars())
                        merged.update(self._var_file(files, "group_vars", group.name))
                    chains[chain] = _plain(merged)
                own = {k: v for k, v in host.vars.items() if k not in _MAGIC}
                own.update(self._var_file(files, "host_vars", name))
                out[name] = {**chains[chain], **_plain(own)}
        return out

    def raw_settings(self) -> dict[str, Any]:
        """The ``golive_*`` variables of group ``all`` as written, not templated."""
        with self._lock:
            group = self._manager.groups.get("all")
            merged = {**(group.get_vars() if group is not None else {}), **self._var_file({}, "group_vars", "all")}
        return _plain({k: v for k, v in merged.items() if k.startswith("golive_")})

    def _var_file(self, cache: dict[tuple[str, str], dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
        """``group_vars/<name>`` or ``host_vars/<name>`` beside the inventory (file or directory of files)."""
        if (kind, "") not in cache:  # one listing per directory: most hosts have no file of their own
            base = (self.path if self.path.is_dir() else self.path.parent) / kind
            cache[(kind, "")] = {"": {p.name for p in base.iterdir()} if base.is_dir() else set()}
        if (kind, name) not in cache:
            from golive.playbook_refs import read_ansible_yaml

            present = cache[(kind, "")][""]
            names = [f"{name}{ext}" for ext in ("", ".yml", ".yaml", ".json") if f"{name}{ext}" in present]
            base = (self.path if self.path.is_dir() else self.path.parent) / kind if names else self.path
            found = [base / n for n in names]
            if name in present and (base / name).is_dir():
                found = [f for f in found if f.is_file()] + sorted(p for p in (base / name).rglob("*") if p.is_file())
            data: dict[str, Any] = {}
            for f in found:
                loaded = read_ansible_yaml(f)
                data.update(loaded if isinstance(loaded, dict) else {})
            cache[(kind, name)] = data
        return cache[(kind, name)]

    def connection(self, name: str) -> Connection:
        hv = self.host_vars(name)
        return Connection(
            name=name,
            address=str(hv.get("ansible_host", name)),
            port=int(hv.get("ansible_port", 22)),
            user=str(hv.get("ansible_user", os.environ.get("USER", "root"))),
            key_file=_opt_str(hv.get("ansible_ssh_private_key_file")),
            known_hosts=_opt_str(hv.get("golive_known_hosts")),
            python=_opt_str(hv.get("ansible_python_interpreter")),
        )

    @cached_property
    def settings(self) -> dict[str, Any]:
        """The ``golive_*`` variables of group ``all``."""
        if self.host_names:
            hv = self.host_vars(self.host_names[0])
            return {k: v for k, v in hv.items() if k.startswith("golive_")}
        return {k: v for k, v in _read_group_vars_all(self.path).items() if k.startswith("golive_")}

    @cached_property
    def clusters(self) -> dict[str, Cluster]:
        raw = self.settings.get("golive_clusters") or {}
        out: dict[str, Cluster] = {}
        if isinstance(raw, dict):
            for name, spec in raw.items():
                spec = spec if isinstance(spec, dict) else {}
                kc = spec.get("kubeconfig")
                kc = os.path.expanduser(str(kc)) if kc else None
                if kc and not os.path.isabs(kc):
                    kc = str((self.path / str(kc)).resolve())
                out[str(name)] = Cluster(name=str(name), kubeconfig=kc, context=spec.get("context", name))
        return out

    @property
    def min_approvers(self) -> int:
        return int(self.settings.get("golive_min_approvers", 1))

    @property
    def protected(self) -> bool:
        return bool(self.settings.get("golive_protected", self.env in ("prod", "production")))

    @property
    def approvers(self) -> list[str] | None:
        value = self.settings.get("golive_approvers")
        return [str(v) for v in value] if isinstance(value, list) else None

    @property
    def require_signed_approvals(self) -> bool:
        """Only approvals signed by a key of ``allowed_signers`` count (default: where protected)."""
        return bool(self.settings.get("golive_require_signed_approvals", self.protected))

    @property
    def allowed_signers(self) -> Path | None:
        """The ``allowed_signers`` file named by the env, relative to its inventory."""
        value = _opt_str(self.settings.get("golive_allowed_signers"))
        if not value:
            return None
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else (self.path / path).resolve()

    @property
    def change_approvers(self) -> int:
        return int(self.settings.get("golive_change_approvers", 1 if self.protected else 0))

    @property
    def require_change(self) -> bool:
        return bool(self.settings.get("golive_require_change", self.protected))

    @property
    def prometheus_url(self) -> str | None:
        return _opt_str(self.settings.get("golive_prometheus_url"))


def _opt_str(v: Any) -> str | None:
    return None if v is None or v == "" else str(v)


def _plain(v: Any) -> Any:
    """Ansible 2.19 tags its values; hand back plain Python types."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    for t in (bool, int, float, str):
        if isinstance(v, t):
            return t(v)
    return v


def _read_group_vars_all(path: Path) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    gv = path / "group_vars"
    files = [gv / "all.yml", gv / "all.yaml", *sorted((gv / "all").glob("*.y*ml"))] if gv.is_dir() else []
    for f in files:
        if f.is_file():
            data = yaml.safe_load(f.read_text()) or {}
            if isinstance(data, dict):
                out.update(data)
    return out


def inventory_path(root: Path, env: str) -> Path:
    explicit = os.environ.get("GOLIVE_INVENTORY")
    return Path(explicit) if explicit else root / "inventory" / env


def load_inventory(*, root: Path, env: str, path: Path | None = None) -> Inventory:
    """Read ``inventory/<env>`` (or ``path``) with Ansible's InventoryManager."""
    named = env_name_issue(env)
    if named is not None:
        raise RunbookError([named])
    inv_path = path or inventory_path(root, env)
    if not inv_path.exists() and (path is not None or os.environ.get("GOLIVE_INVENTORY")):
        given = "-i" if path is not None else "GOLIVE_INVENTORY"
        raise RunbookError.single(
            inv_path,
            None,
            f"inventory {inv_path} does not exist (given by {given})",
            f"check the path, or leave {given} out to use inventory/{env}"
            if (root / "inventory" / env).exists()
            else "check the path, or name an environment with -e ENV to use inventory/ENV",
        )
    if not inv_path.exists():
        known = (
            sorted(p.name for p in (root / "inventory").iterdir() if p.is_dir())
            if (root / "inventory").is_dir()
            else []
        )
        near = difflib.get_close_matches(env, known, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise RunbookError.single(
            inv_path,
            None,
            f"unknown environment {env!r}: no inventory at {inv_path}",
            f"{hint}environments here: {', '.join(known) or 'none'}; create inventory/{env}/hosts.yml",
        )
    bounded = _unbounded_files(inv_path)
    if bounded:
        raise RunbookError(bounded)
    os.environ.setdefault("ANSIBLE_LOCALHOST_WARNING", "False")
    os.environ.setdefault("ANSIBLE_INVENTORY_UNPARSED_WARNING", "False")
    os.environ.setdefault("ANSIBLE_HOST_PATTERN_MISMATCH", "ignore")
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    try:
        manager = InventoryManager(loader=loader, sources=[str(inv_path)])
    except Exception as exc:  # Ansible raises many types for a broken inventory
        raise RunbookError.single(
            inv_path, None, f"cannot read inventory: {exc}", "fix the inventory so `ansible-inventory --list` reads it"
        ) from None
    return Inventory(
        env=env,
        path=inv_path,
        _manager=manager,
        _loader=loader,
        _vars=VariableManager(loader=loader, inventory=manager),
    )


def max_inventory_bytes() -> int:
    """The size limit for one inventory file: ``$GOLIVE_MAX_INVENTORY_BYTES`` or 16 MiB."""
    raw = os.environ.get(MAX_INVENTORY_BYTES_VAR, "").strip()
    value = int(raw) if raw.isdecimal() else (DEFAULT_MAX_INVENTORY_BYTES if not raw else 0)
    if value <= 0:
        raise RunbookError.single(
            Path(MAX_INVENTORY_BYTES_VAR),
            None,
            f"{MAX_INVENTORY_BYTES_VAR}={raw!r} is not a size",
            "set it to a number of bytes, e.g. 33554432",
        )
    return value


def _unbounded_files(inv_path: Path) -> list[Issue]:
    """Inventory files too large, nested too deep or whose YAML aliases would expand without end.

    Ansible reads them without a bound, and golive walks the variables it read (for the plan's
    digest): a few hundred bytes of nested aliases stand for billions of values, and a walk
    hundreds of levels deep ends in a RecursionError.
    """
    from golive.runbook.yamlmap import unbounded_issue

    limit = max_inventory_bytes()
    files = [inv_path] if inv_path.is_file() else sorted(p for p in inv_path.rglob("*") if p.is_file())
    issues: list[Issue] = []
    for f in files:
        if f.suffix not in _YAML_SUFFIXES or any(part.startswith(".") for part in f.relative_to(inv_path.parent).parts):
            continue
        try:
            size = f.stat().st_size
            if size > limit:
                issues.append(
                    Issue(
                        str(f),
                        None,
                        f"inventory file is {size} bytes, over the limit of {limit}",
                        f"check it is the right file; to allow larger ones set {MAX_INVENTORY_BYTES_VAR}",
                    )
                )
                continue
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # Ansible says what is wrong with it
        found = unbounded_issue(text, file=str(f))
        if found is not None:
            issues.append(found)
    return issues


def env_name_issue(env: str) -> Issue | None:
    """Why ``env`` cannot be an environment's name (a path, say), else None."""
    if _ENV_NAME.fullmatch(env) and ".." not in env:
        return None
    return Issue(
        "-e",
        None,
        f"environment name {env!r} is not a name",
        "name the directory under inventory/ (letters, digits, '.', '_', '-'), e.g. -e prod; "
        "an inventory elsewhere is given with -i PATH",
    )
