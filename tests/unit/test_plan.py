"""The Plan: digests, and every example runbook validating and planning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from golive.cli import app
from golive.context import prepare
from golive.plan import Plan
from golive.runbook import load_runbook

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "cases"
EXAMPLES = sorted((ROOT / "runbooks").glob("*.yml"))
GREY = CASES / "60-plan-batches" / "runbook.yml"


@pytest.fixture(autouse=True)
def _no_inventory_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLIVE_INVENTORY", raising=False)


def _plan(runbook: Path, *, env: str = "test", **params: str) -> Plan:
    return prepare(runbook, env=env, params=params).plan()


def test_digest_is_stable_in_one_process() -> None:
    """Planning the same runbook with the same inputs twice gives the same digest."""
    assert _plan(GREY, version="2.1").digest == _plan(GREY, version="2.1").digest


def test_digest_is_stable_across_processes() -> None:
    """The digest does not depend on hash randomisation, so a resume in a new process matches."""
    digests = set()
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-m", "golive.cli", "plan", str(GREY), "-e", "test", "--json", "-p", "version=2.1"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        digests.add(json.loads(out.stdout)["digest"])
    assert len(digests) == 1


def test_digest_changes_with_a_param() -> None:
    """A different param value is a different plan, so approvals of the old one do not carry over."""
    assert _plan(GREY, version="2.1").digest != _plan(GREY, version="2.2").digest


def test_digest_changes_with_the_env() -> None:
    """The same runbook in another environment is another plan."""
    assert _plan(GREY, env="test").digest != _plan(GREY, env="prod").digest


def test_digest_changes_with_the_runbook() -> None:
    """Editing what a step does changes the digest; a comment alone does not."""
    text = GREY.read_text()
    case = CASES / "60-plan-batches"
    variants = {
        "same": text,
        "comment": "# reviewed by ops-web\n" + text,
        "edited": text.replace("count: 3", "count: 4"),
    }
    digests = {}
    for name, body in variants.items():
        # A sibling of the case dir, so tests/cases stays the project root.
        path = case.parent / f".tmp-{os.getpid()}-{name}" / "runbook.yml"
        path.parent.mkdir()
        try:
            path.write_text(body)
            digests[name] = _plan(path, version="2.1").digest
        finally:
            path.unlink()
            path.parent.rmdir()
    assert digests["same"] == digests["comment"] == _plan(GREY, version="2.1").digest
    assert digests["edited"] != digests["same"]


def test_plan_without_env_has_no_hosts() -> None:
    """Without -e a plan still lists steps, but resolves no hosts and no batches."""
    plan = prepare(GREY, env=None, params={}).plan()
    step = plan.step("roll-app")
    assert plan.env is None
    assert step.hosts == [] and step.batches == []


@pytest.mark.parametrize("runbook", EXAMPLES, ids=lambda p: p.name)
def test_example_runbook_loads(runbook: Path) -> None:
    """Every example in runbooks/ is a well-formed runbook."""
    loaded = load_runbook(runbook)
    assert loaded.runbook.steps


def _lab_ready() -> str | None:
    if not (ROOT / "inventory" / "lab").is_dir():
        return "inventory/lab is written by `golive lab up`; it is not there yet"
    return None


@pytest.mark.parametrize("runbook", EXAMPLES, ids=lambda p: p.name)
def test_example_runbook_validates_and_plans_in_lab(runbook: Path) -> None:
    """Every example in runbooks/ validates against the lab env and plans with a digest."""
    reason = _lab_ready()
    if reason:
        pytest.skip(reason)
    runner = CliRunner()
    checked = runner.invoke(app, ["validate", str(runbook), "-e", "lab"])
    assert checked.exit_code == 0, checked.output
    planned = runner.invoke(app, ["plan", str(runbook), "-e", "lab", "--json"])
    assert planned.exit_code == 0, planned.output
    data: dict[str, Any] = json.loads(planned.stdout)
    assert len(data["digest"]) == 64
    assert [s["id"] for s in data["steps"]] == [s.id for s in load_runbook(runbook).runbook.steps]
    assert data["estimate_s"] > 0
