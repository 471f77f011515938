"""The local environment lock: who holds it, a refusal that says so, a dead holder seen as stale, unlock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.entries import run_started

from golive.context import prepare
from golive.engine.envlock import Holder, LockHeld, env_lock, local_lock_path, read_local, unlock
from golive.engine.execute import Refused, execute_new
from golive.engine.journal import Journal
from polling import eventually

SRC = Path(__file__).resolve().parents[2] / "src"


def holder(root: Path, run_id: str = "20261203-010000-payments-ab12") -> Holder:
    return Holder.here(run_id=run_id, initiator="alice", runbook="payments", root=root)


def test_a_held_lock_names_its_holder_in_the_lock_file_and_a_free_one_names_none(tmp_path: Path) -> None:
    """While a run holds the env, its lock file has the run id, initiator, machine, pid and since; after, nothing."""
    mine = holder(tmp_path)
    with env_lock(tmp_path, "prod", mine, server=False):
        info = read_local(tmp_path, "prod")
        assert info is not None and info.alive is True and not info.stale
        assert info.holder == mine
    assert read_local(tmp_path, "prod") is None
    assert local_lock_path(tmp_path, "prod").read_text() == ""


def test_a_refused_start_says_who_holds_the_env_and_how_to_go_on(tmp_path: Path) -> None:
    """The second taker is refused with the holder's run, initiator, machine, pid and since, and the commands to use."""
    mine = holder(tmp_path)
    other = holder(tmp_path, "other")
    with (
        env_lock(tmp_path, "prod", mine, server=False),
        pytest.raises(LockHeld) as refused,
        env_lock(tmp_path, "prod", other, server=False),
    ):
        pytest.fail("two runs held one environment")
    text = str(refused.value)
    for part in (mine.run_id, "alice", mine.machine, f"pid {mine.pid}", mine.since, "payments"):
        assert part in text
    root = f" --root {tmp_path}`"
    for command in (f"`golive status {mine.run_id}{root}", f"`golive abort {mine.run_id}{root}", "unlock prod"):
        assert command in text


def test_a_refused_run_leaves_no_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """execute_new refuses (exit 4's Refused) before it creates anything under runs/ but the lock file."""
    monkeypatch.delenv("GOLIVE_RUNS_DIR", raising=False)
    (tmp_path / "runbook.yml").write_text("name: payments\nsteps:\n  - id: hello\n    notify: hi\n")
    (tmp_path / "inventory").mkdir()
    ctx = prepare(tmp_path / "runbook.yml", env=None, params={})
    assert ctx.root == tmp_path
    with (
        env_lock(ctx.root, None, holder(ctx.root), server=False),
        pytest.raises(Refused, match="20261203-010000-payments-ab12"),
    ):
        execute_new(ctx, use_prefect=False)
    assert [p.name for p in (ctx.root / "runs").iterdir()] == [".locks"]


def killed_holder(root: Path) -> Holder:
    """A real process takes the lock and is killed with SIGKILL: what it leaves behind."""
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from golive.engine.envlock import Holder, env_lock
        root = Path({str(root)!r})
        mine = Holder.here(run_id="dead-run", initiator="bob", runbook="p", root=root)
        with env_lock(root, "prod", mine, server=False):
            print("held", flush=True)
            sys.stdin.read()
    """)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"held"
        info = read_local(root, "prod")
        assert info is not None and info.alive is True
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    info = eventually(lambda: read_local(root, "prod"), timeout=5, what="the lock file to remain")
    assert info.holder is not None
    return info.holder


def test_a_killed_holder_is_stale_and_the_next_run_takes_the_lock(tmp_path: Path) -> None:
    """A SIGKILLed holder's details stay, marked dead; the flock died with it, so a new run is not refused."""
    dead = killed_holder(tmp_path)
    info = read_local(tmp_path, "prod")
    assert info is not None and info.alive is False and info.stale and dead.run_id == "dead-run"
    with env_lock(tmp_path, "prod", holder(tmp_path, "next"), server=False):
        found = read_local(tmp_path, "prod")
        assert found is not None and found.alive and found.holder is not None and found.holder.run_id == "next"


def test_unlock_of_a_dead_holder_clears_it_and_journals_it_in_the_holders_run(tmp_path: Path) -> None:
    """unlock of a stale lock clears the details and writes lock_released (who, why) into the holder's journal."""
    journal = Journal(tmp_path / "runs" / "dead-run" / "journal.jsonl")
    journal.path.parent.mkdir(parents=True)
    journal.append("run_refused", run_id="dead-run", reason="stand-in first entry")
    killed_holder(tmp_path)
    released = unlock(tmp_path, "prod", by="carol", reason="runner host rebooted", force=False, server=False)
    assert [r.journal for r in released] == [journal.path]
    assert read_local(tmp_path, "prod") is None
    last = journal.read()[-1]
    assert (last["event"], last["by"], last["reason"], last["holder_alive"], last["forced"]) == (
        "lock_released",
        "carol",
        "runner host rebooted",
        False,
        False,
    )


def test_unlock_of_a_live_holder_refuses_unless_forced(tmp_path: Path) -> None:
    """A lock whose process lives is not released without --force; with it, the next run gets the environment."""
    with env_lock(tmp_path, "prod", holder(tmp_path), server=False):
        with pytest.raises(LockHeld, match="not stale"):
            unlock(tmp_path, "prod", by="carol", reason="why not", force=False, server=False)
        assert read_local(tmp_path, "prod") is not None
        unlock(tmp_path, "prod", by="carol", reason="holder hung", force=True, server=False)
        with env_lock(tmp_path, "prod", holder(tmp_path, "next"), server=False):
            info = read_local(tmp_path, "prod")
            assert info is not None and info.holder is not None and info.holder.run_id == "next"


def test_unlock_of_a_free_environment_releases_nothing(tmp_path: Path) -> None:
    """Nothing held, nothing released, nothing written."""
    assert unlock(tmp_path, "prod", by="carol", reason="check", force=False, server=False) == []


def test_golive_runs_lists_a_run_that_never_started_as_refused(tmp_path: Path) -> None:
    """A journal of only run_refused (Prefect did not answer) reads as refused, exit 4, not 'None None unknown'."""
    from rich.console import Console

    from golive.report.live import render_runs

    journal = Journal(tmp_path / "runs" / "r1" / "journal.jsonl")
    journal.path.parent.mkdir(parents=True)
    journal.append("run_refused", run_id="r1", reason="Prefect could not start the flow")
    console = Console(record=True, width=200)
    render_runs([journal], console=console)
    row = next(line for line in console.export_text().splitlines() if "r1" in line)
    assert "refused" in row and "4" in row and "None" not in row and "unknown" not in row


def test_golive_unlock_refuses_a_live_holder_with_exit_4_and_wants_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`golive unlock` without --reason is bad input (2); of a live holder's lock, refused (4) naming its run."""
    from typer.testing import CliRunner

    from golive.cli import app

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("GOLIVE_RUNS_DIR", raising=False)
    monkeypatch.setenv("GOLIVE_ENV_FILE", str(tmp_path / "no-such-env"))
    (tmp_path / "inventory").mkdir()
    cli = CliRunner()
    assert cli.invoke(app, ["unlock", "prod", "--root", str(tmp_path)]).exit_code == 2
    with env_lock(tmp_path, "prod", holder(tmp_path), server=False):
        held = cli.invoke(app, ["unlock", "prod", "--reason", "x", "--root", str(tmp_path)])
        listed = cli.invoke(app, ["locks", "--root", str(tmp_path)])
    assert held.exit_code == 4 and "20261203-010000-payments-ab12" in held.output
    assert listed.exit_code == 0 and "20261203-010000-payments-ab12" in listed.output and "alive" in listed.output


def test_a_lease_the_server_forgot_is_seen_as_lost() -> None:
    """A restarted Prefect server answers 410 Gone to renewing a lease it forgot: the slot is the holder's to free."""
    import httpx

    from golive.engine.envlock import _lease_lost

    class Client:
        def __init__(self, status: int | None) -> None:
            self.status = status

        def renew_concurrency_lease(self, lease_id: object, *, lease_duration: float) -> None:
            if self.status is not None:
                request = httpx.Request("POST", "http://127.0.0.1:9/api/leases/x/renew")
                raise httpx.HTTPStatusError("gone", request=request, response=httpx.Response(self.status))

    lease = "00000000-0000-0000-0000-000000000001"
    assert _lease_lost(Client(410), lease) and _lease_lost(Client(404), lease)
    assert not _lease_lost(Client(None), lease) and not _lease_lost(Client(503), lease)


class FakeServer:
    """The few Prefect client calls the server lock makes: one slot, leases, one Variable."""

    def __init__(self) -> None:
        self.leases: set[str] = set()
        self.variable: str | None = None
        self.n = 0

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read_global_concurrency_limit_by_name(self, name: str) -> None:
        return None

    def increment_concurrency_slots_with_lease(self, **kw: object) -> object:
        import httpx

        if self.leases:
            request = httpx.Request("POST", "http://127.0.0.1:9/api/v2/concurrency_limits/increment-with-lease")
            raise httpx.HTTPStatusError("locked", request=request, response=httpx.Response(423))
        self.n += 1
        lease = f"00000000-0000-0000-0000-{self.n:012d}"
        self.leases.add(lease)
        return httpx.Response(200, json={"lease_id": lease})

    def release_concurrency_slots_with_lease(self, lease_id: object) -> None:
        self.leases.discard(str(lease_id))

    def read_variable_by_name(self, name: str) -> object:
        from types import SimpleNamespace

        return SimpleNamespace(value=self.variable) if self.variable is not None else None

    def create_variable(self, var: object) -> None:
        self.variable = var.value  # type: ignore[attr-defined]

    update_variable = create_variable


def dead_holder(root: Path, run_id: str, *, ended: bool) -> Holder:
    """A holder whose process is gone and whose journal ends with run_finished (``ended``) or mid-step."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    j = Journal(root / "runs" / run_id / "journal.jsonl")
    j.append("run_started", **run_started(run_id, env="prod"))
    if ended:
        j.append("run_finished", run_id=run_id, status="succeeded", exit_code=0)
    return Holder(**{**holder(root, run_id).__dict__, "pid": dead.pid})


@pytest.mark.parametrize("ended", [True, False], ids=["ended", "unfinished"])
def test_a_slot_left_by_a_run_that_ended_is_taken_at_once_and_an_unfinished_ones_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ended: bool
) -> None:
    """A run that could not give its server slot back as it exited (the server busy that second) does not
    keep the env from the next run for a minute; a dead run that did not end keeps it (hosts half-changed)."""
    import golive.engine.envlock as envlock

    server = FakeServer()
    monkeypatch.setattr(envlock, "_client", lambda: server)
    monkeypatch.setattr(envlock, "_ensure_limit", lambda client, name: None)
    monkeypatch.setenv("GOLIVE_RUNS_DIR", str(tmp_path / "runs"))
    left = dead_holder(tmp_path, "20261204-010000-payments-aa11", ended=ended)
    with server:
        lease = envlock._take_slot(server, envlock.limit_name("prod"))
    server.variable = Holder(**{**left.__dict__, "lease_id": lease}).dump()
    new = holder(tmp_path, "20261204-020000-payments-bb22")
    if ended:
        held = envlock._acquire_server("prod", new)
        assert held.lease_id != lease and server.leases == {held.lease_id}
        assert Holder.parse(server.variable or "") == held
    else:
        with pytest.raises(LockHeld) as refused:
            envlock._acquire_server("prod", new)
        assert refused.value.info.stale and server.leases == {lease}
