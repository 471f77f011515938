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
