"""Secrets: read from env, file (or a Prefect block), available to templates, written nowhere."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from test_runner import FakeWorld, events, make_runner

from golive import secrets
from golive.errors import RunbookError
from golive.runbook.load import parse_runbook

SECRET = "pa55-w0rd-of-the-db"

RUNBOOK = """
name: secret
secrets:
  db_password: {env: GOLIVE_TEST_DB_PASSWORD}
steps:
  - id: freeze
    ansible: {playbook: playbooks/freeze.yml, hosts: db, vars: {password: "{{ secrets.db_password }}"}}
    rollback: {ansible: {playbook: playbooks/unfreeze.yml, hosts: db}}
  - id: tell
    notify: "the password is {{ secrets.db_password }}"
"""


@pytest.fixture(autouse=True)
def _registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_VALUES", set())
    monkeypatch.setattr(secrets, "_ORDER", [])


def test_redact_replaces_every_registered_value_longest_first() -> None:
    secrets.register("abcd")
    secrets.register("abcdefgh")
    secrets.register("xy")  # too short to redact: refused when a runbook names it
    assert secrets.redact("abcdefgh abcd xy") == "*** *** xy"
    assert secrets.redact_tree({"k abcd": ["abcd", 1, {"x": "abcdefgh"}]}) == {"k ***": ["***", 1, {"x": "***"}]}


def test_a_secret_from_env_or_file_is_resolved_and_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLIVE_TEST_DB_PASSWORD", SECRET)
    (tmp_path / "token").write_text("t0ken-from-file\n")
    loaded = parse_runbook(
        RUNBOOK.replace("secrets:\n", "secrets:\n  api: {file: token}\n"), file=str(tmp_path / "rb.yml")
    )
    assert secrets.resolve(loaded, root=tmp_path) == {"db_password": SECRET, "api": "t0ken-from-file"}
    assert secrets.redact(f"x {SECRET} t0ken-from-file") == "x *** ***"


def test_a_missing_or_too_short_secret_is_refused_at_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLIVE_TEST_DB_PASSWORD", raising=False)
    monkeypatch.setenv("GOLIVE_TEST_SHORT", "abc")
    text = RUNBOOK.replace("secrets:\n", "secrets:\n  pin: {env: GOLIVE_TEST_SHORT}\n  gone: {file: nope}\n")
    loaded = parse_runbook(text, file=str(tmp_path / "rb.yml"))
    with pytest.raises(RunbookError) as caught:
        secrets.resolve(loaded, root=tmp_path)
    said = {i.line: i.message for i in caught.value.issues}
    assert "shorter than 4" in said[4] and "nope" in said[5] and "$GOLIVE_TEST_DB_PASSWORD" in said[6]


def test_templates_may_use_only_declared_secrets() -> None:
    from golive.runbook.render import analyse

    assert analyse("{{ secrets.db_password }}", params={}, secrets=frozenset({"db_password"})) == []
    problems = analyse("{{ secrets.db_pasword }}", params={}, secrets=frozenset({"db_password"}))
    assert problems and "undeclared secret 'db_pasword'" in problems[0].message


def test_a_run_uses_the_secret_and_no_journal_line_or_log_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from golive.log import configure

    monkeypatch.setenv("GOLIVE_TEST_DB_PASSWORD", SECRET)
    world = FakeWorld(bad_hosts=set())
    r = make_runner(tmp_path, world, text=RUNBOOK)
    logs = io.StringIO()
    configure(json=True, level="debug", stream=logs)
    try:
        r.secrets = secrets.resolve(parse_runbook(RUNBOOK, file="rb.yml"), root=tmp_path)
        assert r.start() == 0
    finally:
        configure(level="warning")
    assert world.calls[0][2] == {"password": SECRET}  # the playbook got the value
    assert events(r, "notified")[0]["message"] == "the password is ***"
    text = r.journal.path.read_text()
    assert SECRET not in text and "***" in text
    assert SECRET not in logs.getvalue()
    for line in text.splitlines():
        json.loads(line)  # still JSON


def test_a_failure_message_holding_the_secret_is_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from golive.engine.controls import StepFailed

    secrets.register(SECRET)
    failed = StepFailed("x", f"command 'mysql -p{SECRET}' failed")
    assert SECRET not in str(failed) and SECRET not in failed.reason
