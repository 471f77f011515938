"""What a plan's digest covers: every input of the run, each with its own sha256.

The runbook (its parsed content), the params, ``previous``, the hosts and batches of each
step, the inventory variables of the hosts the plan touches and the environment's
``golive_*`` settings, every file the run reads (playbooks and what they include, roles,
vars files, templates and files, Kubernetes manifests, scripts in the project that commands
name) and golive's version. The digest is the sha256 of the sorted list of
(kind, name, sha256), so two plans that differ can say which input differs
(``diff_inputs``): a resume, and a change approved on one digest, are refused naming it.

File names are relative to the project root, so the digest does not depend on where the
project is checked out. A reference golive cannot resolve (a template naming facts or
filters) is an input too, with a note: its text is hashed, never silently dropped.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shlex
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from golive import __version__
from golive.kinds import kind_of
from golive.playbook_refs import FileRef, playbook_files
from golive.runbook.render import render

if TYPE_CHECKING:
    from golive.inventory import Inventory
    from golive.runbook.load import LoadedRunbook

__all__ = ["PlanInput", "collect_inputs", "diff_inputs", "digest_of", "file_sha256"]

MISSING = "missing"  # the sha256 of a file that is not there
# A file hashed within this long of its last change is hashed again next time: its mtime
# may not move on a second edit made within the clock's granularity.
_RACY_NS = 2_000_000_000
_HASHES: dict[str, tuple[tuple[int, int, int], str]] = {}
_NAMED_BY_PATH = ("file",)


class PlanInput(BaseModel):
    """One thing the run reads, and its content hash: a file (path from the project root),
    the runbook itself (by its name: moving the file changes nothing), an inventory variable,
    a param, ``previous``, the hosts of a step, the env, golive's version."""

    model_config = ConfigDict(frozen=True)

    kind: str  # runbook | file | inventory-var | param | previous | hosts | env | golive
    name: str
    sha256: str
    note: str = ""  # why golive could not follow it (a templated or missing reference)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, each file read once per process while it does not change."""
    try:
        st = path.stat()
    except OSError:
        return MISSING
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = _HASHES.get(str(path))
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return MISSING
    if time.time_ns() - st.st_mtime_ns > _RACY_NS:
        _HASHES[str(path)] = (key, digest)
    return digest


def _hash_json(value: Any) -> str:
    body = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def digest_of(inputs: Iterable[PlanInput]) -> str:
    """The plan digest: sha256 over the sorted (kind, name, sha256) of every input."""
    rows = sorted([i.kind, i.name, i.sha256] for i in inputs)
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def _label(i: PlanInput) -> str:
    return i.name if i.kind in _NAMED_BY_PATH else f"{i.kind} {i.name}"


def diff_inputs(old: list[PlanInput], new: list[PlanInput]) -> list[str]:
    """What differs between two input lists, one line each, ordered by kind and name.

    ``playbooks/deploy.yml: 3a1dc37d0b1e → 795cbde6aa01``, ``added: ...``, ``removed: ...``.
    """
    before = {(i.kind, i.name): i for i in old}
    after = {(i.kind, i.name): i for i in new}
    lines = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a is not None and b is not None:
            if a.sha256 != b.sha256:
                lines.append(f"{_label(b)}: {a.sha256[:12]} → {b.sha256[:12]}")
        elif b is not None:
            lines.append(f"added: {_label(b)} ({b.sha256[:12]})")
        elif a is not None:
            lines.append(f"removed: {_label(a)} ({a.sha256[:12]})")
    return lines


def collect_inputs(
    loaded: LoadedRunbook,
    *,
    root: Path,
    inventory: Inventory | None,
    params: dict[str, Any],
    previous: dict[str, Any],
    placement: dict[str, Any],
    touched: list[str],
) -> list[PlanInput]:
    """Every input of a run of ``loaded``.

    ``placement`` is each step's hosts and batches as planned; ``touched``, every host the plan
    acts on or measures, whose inventory variables count.
    """
    rb = loaded.runbook
    out = [
        PlanInput(kind="runbook", name=rb.name, sha256=_hash_json(rb.model_dump(mode="json"))),
        PlanInput(kind="golive", name="version", sha256=_hash_json(__version__)),
        PlanInput(kind="env", name="env", sha256=_hash_json(inventory.env if inventory else None)),
    ]
    out += [PlanInput(kind="param", name=k, sha256=_hash_json(v)) for k, v in params.items()]
    out += [PlanInput(kind="previous", name=k, sha256=_hash_json(v)) for k, v in previous.items()]
    out += [PlanInput(kind="hosts", name=step, sha256=_hash_json(where)) for step, where in placement.items()]
    context = {"params": params, "previous": previous, "env": inventory.env if inventory else None}
    out += _Files(root).of_runbook(loaded, context)
    out += _inventory_inputs(inventory, touched)
    if inventory is not None and inventory.require_signed_approvals and inventory.allowed_signers is not None:
        # Whose keys may approve is part of what was approved: a key added afterwards changes the plan.
        out.append(_Files(root).file(inventory.allowed_signers, note="allowed signers"))
    unique = {(i.kind, i.name): i for i in out}
    return [unique[k] for k in sorted(unique)]


def _name(path: Path, root: Path) -> str:
    """A path as the digest names it: from the project root, else absolute."""
    absolute = Path(os.path.normpath(path.absolute()))
    try:
        return absolute.relative_to(Path(os.path.normpath(root.absolute()))).as_posix()
    except ValueError:
        return str(absolute)


def _inventory_inputs(inventory: Inventory | None, hosts: list[str]) -> list[PlanInput]:
    """One input per variable: its value on every touched host (and ``golive_*`` on group all)."""
    if inventory is None:
        return []
    by_var: dict[str, dict[str, Any]] = {}
    for host, variables in inventory.raw_vars(hosts).items():
        for k, v in variables.items():
            by_var.setdefault(k, {})[host] = v
    for k, v in inventory.raw_settings().items():
        by_var.setdefault(k, {})["group all"] = v
    return [PlanInput(kind="inventory-var", name=k, sha256=_hash_json(v)) for k, v in by_var.items()]


class _Files:
    """The files of one plan, each playbook read once however many steps run it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.roles_path = _roles_path(root)
        self.playbooks: dict[Path, list[FileRef]] = {}

    def of_runbook(self, loaded: LoadedRunbook, context: dict[str, Any]) -> list[PlanInput]:
        out: list[PlanInput] = []
        for step in loaded.runbook.steps:
            kind = kind_of(step)
            for sub, ref in kind.files(step):
                out += self.reference(ref, context, playbook=sub[-1] == "playbook", step=step.id)
            for command in kind.commands(step):
                out += self.scripts(command)
        return out

    def reference(self, ref: str, context: dict[str, Any], *, playbook: bool, step: str) -> list[PlanInput]:
        text = _rendered(ref, context)
        if text is None:
            note = "templated: golive cannot resolve it before the run; its text is hashed"
            return [PlanInput(kind="file", name=f"{ref} (step {step})", sha256=_hash_json(ref), note=note)]
        path = self.root / text
        out = [self.file(path)]
        if playbook and path.is_file():
            out += [self.included(r) for r in self.playbook(path)]
        return out

    def file(self, path: Path, note: str = "") -> PlanInput:
        sha = file_sha256(path)
        return PlanInput(
            kind="file", name=_name(path, self.root), sha256=sha, note=note or ("not found" if sha == MISSING else "")
        )

    def playbook(self, path: Path) -> list[FileRef]:
        key = path.resolve()
        if key not in self.playbooks:
            self.playbooks[key] = playbook_files(key, roles_path=self.roles_path)
        return self.playbooks[key]

    def included(self, ref: FileRef) -> PlanInput:
        if ref.path is not None:
            return self.file(ref.path)
        name = f"{ref.text} (in {_name(ref.origin, self.root)})"
        return PlanInput(kind="file", name=name, sha256=_hash_json(ref.text), note=ref.note)

    def scripts(self, command: str) -> list[PlanInput]:
        """Files of the project a command names (``scripts/migrate.sh --dry-run``)."""
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        out = []
        for word in words:
            if "{" in word or "/" not in word or word.startswith("/"):
                continue  # templated, a bare command, or an absolute path on the target host
            path = self.root / word
            if path.is_file():
                out.append(self.file(path))
        return out


def _rendered(ref: str, context: dict[str, Any]) -> str | None:
    if "{" not in ref:
        return ref
    try:
        return render(ref, context)
    except Exception:  # a template that needs the run (host, run id): only its text is known
        return None


def _roles_path(root: Path) -> list[Path]:
    """Where roles are looked for besides ``roles/`` next to a playbook: ansible.cfg, then ``roles/``."""
    out: list[Path] = []
    env = os.environ.get("ANSIBLE_ROLES_PATH")
    cfg = root / "ansible.cfg"
    raw = env or ""
    if not raw and cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(cfg)
            raw = parser.get("defaults", "roles_path", fallback="")
        except configparser.Error:
            raw = ""
    for part in raw.split(os.pathsep):
        if part.strip():
            p = Path(os.path.expanduser(part.strip()))
            out.append(p if p.is_absolute() else root / p)
    return [*out, root / "roles"]
