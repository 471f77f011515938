"""Data-driven runbook cases: a runbook in, the exact messages or a plan out.

Each directory ``tests/cases/NN-name/`` holds:

- ``runbook.yml`` (absent in the case of a missing file),
- ``args``: optional, one line of extra CLI arguments such as ``-e test -p version=2``,
- ``env``: optional, ``NAME=value`` lines set in the environment for the case (limits such
  as ``GOLIVE_MAX_RUNBOOK_BYTES``),
- ``expected.txt``: ``exit: N`` on the first line, then exactly what ``golive validate``
  prints (stderr and stdout as a terminal shows them), and/or
- ``expected-plan.json``: a subset of ``golive plan --json``; mappings match on the keys
  they name, lists match element by element and must have the same length.

In expected output the runbook is written ``runbook.yml`` and the fixture project root
(``tests/cases``, which holds ``inventory/`` and ``playbooks/``) is written ``<root>``.
Adding a case adds no code.  ``GOLIVE_REGEN_CASES=1`` rewrites the expected files from
what the code prints now; read every rewritten file before keeping it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from golive.cli import app

CASES = Path(__file__).parent / "cases"
REGEN = os.environ.get("GOLIVE_REGEN_CASES") == "1"
_CASE_DIR = re.compile(r"^\d{2,}-[a-z0-9-]+$")


def _case_dirs() -> list[Path]:
    return sorted(d for d in CASES.iterdir() if d.is_dir() and _CASE_DIR.match(d.name))


def _params(cases: list[Path]) -> list[Any]:
    """One pytest param per case; a case with an ``xfail`` file names a known bug in the code.

    Its expected files hold the right output, written by hand; strict xfail makes the case
    fail once the bug is fixed, so the ``xfail`` file gets removed then.
    """
    out = []
    for d in cases:
        reason = (d / "xfail").read_text().strip() if (d / "xfail").is_file() else ""
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        out.append(pytest.param(d, id=d.name, marks=marks))
    return out


def _args(case: Path) -> list[str]:
    f = case / "args"
    if not f.is_file():
        return []
    lines = [ln for ln in f.read_text().splitlines() if ln.strip()]
    assert len(lines) <= 1, f"{f}: write the extra arguments on one line"
    return shlex.split(lines[0]) if lines else []


def _normalise(text: str, runbook: Path) -> str:
    """Write the runbook as ``runbook.yml`` and the fixture root as ``<root>``."""
    text = text.replace(str(runbook), "runbook.yml")
    return text.replace(str(CASES.resolve()), "<root>").replace(str(CASES), "<root>")


def _invoke(argv: list[str]) -> Result:
    result = CliRunner().invoke(app, argv, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"golive {' '.join(argv)} raised instead of reporting") from result.exception
    return result


def _validate_output(case: Path) -> str:
    runbook = case / "runbook.yml"
    result = _invoke(["validate", str(runbook), *_args(case)])
    body = _normalise(result.output, runbook)
    return f"exit: {result.exit_code}\n{body}"


def _plan(case: Path) -> dict[str, Any]:
    runbook = case / "runbook.yml"
    result = _invoke(["plan", str(runbook), "--json", *_args(case)])
    assert result.exit_code == 0, _normalise(result.output, runbook)
    data: dict[str, Any] = json.loads(_normalise(result.stdout, runbook))
    return data


def _mismatch(expected: Any, actual: Any, path: str = "$") -> str | None:
    """Where ``actual`` fails to contain ``expected``, or None when it does."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected a mapping, got {actual!r}"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key}: missing (have {sorted(actual)})"
            found = _mismatch(value, actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path}: expected {expected!r}, got {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            found = _mismatch(e, a, f"{path}[{i}]")
            if found:
                return found
        return None
    if expected != actual or type(expected) is not type(actual):
        return f"{path}: expected {expected!r}, got {actual!r}"
    return None


def _project(shape: Any, actual: Any) -> Any:
    """``actual`` cut down to the keys ``shape`` names, for regenerating a subset file."""
    if isinstance(shape, dict) and isinstance(actual, dict):
        return {k: _project(v, actual[k]) for k, v in shape.items() if k in actual}
    if isinstance(shape, list) and isinstance(actual, list) and shape:
        return [_project(shape[min(i, len(shape) - 1)], a) for i, a in enumerate(actual)]
    return actual


@pytest.fixture(autouse=True)
def _no_inventory_override(monkeypatch: pytest.MonkeyPatch) -> None:
    # GOLIVE_INVENTORY would replace the fixture inventories.
    monkeypatch.delenv("GOLIVE_INVENTORY", raising=False)


def _set_env(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = case / "env"
    if not f.is_file():
        return
    for line in f.read_text().splitlines():
        if line.strip():
            name, sep, value = line.partition("=")
            assert sep and name.strip(), f"{f}: write NAME=value, one a line"
            monkeypatch.setenv(name.strip(), value.strip())


@pytest.mark.parametrize("case", _params(_case_dirs()))
def test_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The messages and plan a user sees for this case's runbook are exactly the expected ones."""
    _set_env(case, monkeypatch)
    expected_txt = case / "expected.txt"
    expected_plan = case / "expected-plan.json"
    regen = REGEN and not (case / "xfail").is_file()  # known-bug cases keep their hand-written files
    if not expected_plan.is_file() and (regen or expected_txt.is_file()):
        got = _validate_output(case)
        if regen:
            expected_txt.write_text(got)
        assert got == expected_txt.read_text()
    if expected_plan.is_file():
        actual = _plan(case)
        shape = json.loads(expected_plan.read_text())
        if regen:
            expected_plan.write_text(json.dumps(_project(shape, actual), indent=2) + "\n")
            shape = json.loads(expected_plan.read_text())
        problem = _mismatch(shape, actual)
        assert problem is None, problem
        if expected_txt.is_file():
            assert _validate_output(case) == expected_txt.read_text()


@pytest.mark.parametrize(
    "case", [d for d in _case_dirs() if (d / "expected-plan.json").is_file()], ids=lambda d: d.name
)
def test_plan_digest_is_stable(case: Path) -> None:
    """Planning the same runbook twice gives the same sha256 digest."""
    first, second = _plan(case), _plan(case)
    assert re.fullmatch(r"[0-9a-f]{64}", first["digest"])
    assert first["digest"] == second["digest"]


def test_every_case_has_an_expectation() -> None:
    """A case directory without an expected file would pass without checking anything."""
    bare = [
        d.name for d in _case_dirs() if not (d / "expected.txt").is_file() and not (d / "expected-plan.json").is_file()
    ]
    assert not bare or REGEN, f"cases without expected.txt or expected-plan.json: {bare}"
