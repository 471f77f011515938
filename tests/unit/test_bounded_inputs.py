"""Inputs too big to be a runbook are refused before they are parsed, quickly and clearly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from golive.errors import RunbookError
from golive.runbook.load import MAX_BYTES_VAR, load_runbook

SMALL = "name: small\nsteps:\n  - id: announce\n    notify: hello\n"


def test_a_runbook_over_the_size_limit_is_refused_naming_size_limit_and_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file over GOLIVE_MAX_RUNBOOK_BYTES is refused without being read as YAML."""
    monkeypatch.setenv(MAX_BYTES_VAR, "100")
    path = tmp_path / "big.yml"
    path.write_text(SMALL + "#" * 200 + "\n")
    with pytest.raises(RunbookError) as caught:
        load_runbook(path)
    text = str(caught.value)
    assert "over the limit of 100" in text and MAX_BYTES_VAR in text and str(path) in text


def test_the_default_limit_lets_an_ordinary_runbook_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_BYTES_VAR, raising=False)
    path = tmp_path / "small.yml"
    path.write_text(SMALL)
    assert load_runbook(path).runbook.name == "small"


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_a_limit_that_is_not_a_size_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(MAX_BYTES_VAR, value)
    path = tmp_path / "small.yml"
    path.write_text(SMALL)
    with pytest.raises(RunbookError, match="is not a size"):
        load_runbook(path)


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    """Nine levels of nine aliases (387 million values) are refused, not expanded."""
    lines = ["name: bomb", 'l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = tmp_path / "bomb.yml"
    path.write_text("\n".join([*lines, "steps:", "  - id: announce", "    notify: hello", ""]))
    started = time.monotonic()
    with pytest.raises(RunbookError, match="YAML aliases here repeat more than"):
        load_runbook(path)
    # A generous bound: expanding the document would take hours, refusing it takes milliseconds.
    assert time.monotonic() - started < 5


def test_a_few_aliases_reused_are_still_fine(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yml"
    path.write_text("name: reuse\nsteps:\n  - id: a\n    notify: &msg hello\n  - id: b\n    notify: *msg\n")
    assert [s.id for s in load_runbook(path).runbook.steps] == ["a", "b"]


def _bomb(levels: int = 9, prefix: str = "l") -> list[str]:
    lines = [f'{prefix}0: &{prefix}0 ["x","x","x","x","x","x","x","x","x"]']
    return lines + [f"{prefix}{i}: &{prefix}{i} [{','.join([f'*{prefix}{i - 1}'] * 9)}]" for i in range(1, levels + 1)]


def _inventory(tmp_path: Path, group_vars: str) -> Path:
    inv = tmp_path / "inventory" / "bomb"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    (inv / "group_vars" / "all.yml").write_text(group_vars)
    return inv


def test_an_alias_bomb_in_an_inventorys_vars_is_refused_at_its_file_and_line(tmp_path: Path) -> None:
    """group_vars holding an alias bomb: refused as the inventory loads (golive's plan walked it for ever)."""
    from golive.inventory import load_inventory

    inv = _inventory(tmp_path, "\n".join(["ansible_user: deploy", *_bomb(prefix="golive_l"), ""]))
    started = time.monotonic()
    with pytest.raises(RunbookError) as caught:
        load_inventory(root=tmp_path, env="bomb")
    assert time.monotonic() - started < 5  # expanding it would take hours
    (issue,) = caught.value.issues
    # Line 6 (golive_l4): the first key under which the aliases repeat more than the budget.
    assert issue.file == str(inv / "group_vars" / "all.yml") and issue.line == 6
    assert "YAML aliases here repeat more than" in issue.message


def test_an_inventory_file_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from golive.inventory import MAX_INVENTORY_BYTES_VAR, load_inventory

    inv = _inventory(tmp_path, "ansible_user: deploy\n" + "#" * 300 + "\n")
    monkeypatch.setenv(MAX_INVENTORY_BYTES_VAR, "200")
    with pytest.raises(RunbookError) as caught:
        load_inventory(root=tmp_path, env="bomb")
    (issue,) = caught.value.issues
    assert issue.file == str(inv / "group_vars" / "all.yml")
    assert "over the limit of 200" in issue.message and MAX_INVENTORY_BYTES_VAR in issue.fix
    monkeypatch.delenv(MAX_INVENTORY_BYTES_VAR)
    assert load_inventory(root=tmp_path, env="bomb").env == "bomb"


def test_an_inventory_with_a_few_aliases_and_patterns_still_loads(tmp_path: Path) -> None:
    from golive.inventory import load_inventory

    _inventory(tmp_path, "golive_approvers: &who [ann, bob]\ngolive_change_approvers_list: *who\nmatch: 'web*'\n")
    assert load_inventory(root=tmp_path, env="bomb").env == "bomb"


def test_inventory_vars_nested_too_deep_are_refused_at_their_line(tmp_path: Path) -> None:
    """Nested hundreds deep, group_vars made golive's walk of the variables end in a RecursionError."""
    from golive.inventory import load_inventory

    inv = _inventory(tmp_path, "ansible_user: deploy\ngolive_deep: " + "[" * 900 + "]" * 900 + "\n")
    with pytest.raises(RunbookError) as caught:
        load_inventory(root=tmp_path, env="bomb")
    (issue,) = caught.value.issues
    assert (issue.file, issue.line) == (str(inv / "group_vars" / "all.yml"), 2)
    assert "nested more than 100 levels deep" in issue.message


@pytest.mark.parametrize("env", ["../prod", "prod/..", "/etc", "", "-rf", "a b", ".hidden"])
def test_an_environment_name_that_is_a_path_is_refused(tmp_path: Path, env: str) -> None:
    """-e names a directory under inventory/ (and lock files): a path there could reach anywhere."""
    from golive.inventory import load_inventory

    _inventory(tmp_path, "ansible_user: deploy\n")
    with pytest.raises(RunbookError, match="is not a name"):
        load_inventory(root=tmp_path, env=env)


def test_a_manifest_with_an_alias_bomb_fails_its_step_at_once(tmp_path: Path) -> None:
    """A manifest is sent as JSON, which would expand every alias: it is refused before, naming file and line."""
    from golive.errors import PermanentError
    from golive.kinds.k8s_release import _manifest

    (tmp_path / "app.yml").write_text("\n".join(["kind: Deployment", *_bomb(), ""]))
    with pytest.raises(PermanentError, match=r"app\.yml:6: YAML aliases here repeat more than"):
        _manifest(tmp_path, "app.yml", {})
