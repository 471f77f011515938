"""A rolling release through golive vs the same playbook through ansible-playbook; target ratio <= 1.15.

Run: ``python bench/rolling.py``. Brings up a 10-host lab of its own (with its Prefect
server) in a temp dir and releases the demo service (playbooks/deploy.yml) two hosts at
a time, forks 10, as whole processes:

- ``golive run`` of a one-step runbook with ``batches: [2]`` (the same playbook, no gate:
  what is compared is the machinery), without Prefect (``--no-prefect``) and with the
  lab's Prefect server;
- ``ansible-playbook`` of a copy of deploy.yml whose play says ``serial: 2``.

golive runs such a step as one ``ansible-playbook`` process whose play is held at a gate
task between batches while golive verifies each batch; it starts that process, held
before its first batch, while Prefect starts.  Two warm-up raw runs put both
releases on the hosts; then ROUNDS rounds of golive (no Prefect), raw, raw, golive
(Prefect), alternating v1 and v2, so that each kind meets the same load on this shared
machine.  Medians are compared.  Every run gets a fresh SSH control-socket dir.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchkit import (
    BIN,
    GOLIVE,
    ROOT,
    Sample,
    child_env,
    first,
    journal_of,
    lab,
    read_journal,
    run_timed,
    table,
    ts,
    verdict,
    wait_lab_prefect,
)

ROUNDS = 3
HOSTS = 10
SERIAL = 2
FORKS = 10
TARGET_RATIO = 1.15
DEPLOY = ROOT / "playbooks" / "deploy.yml"


def write_runbook(path: Path) -> Path:
    step = {
        "id": "roll",
        "ansible": {
            "playbook": str(DEPLOY),
            "hosts": "all",
            "vars": {"version": "{{ params.version }}"},
            "forks": FORKS,
        },
        "batches": [SERIAL],
        "rollback": {"ansible": {"playbook": str(DEPLOY), "hosts": "all", "vars": {"version": "v1"}}},
    }
    path.write_text(yaml.safe_dump({"name": "bench-rolling", "params": {"version": "v2"}, "steps": [step]}))
    return path


def write_serial_playbook(path: Path) -> Path:
    """deploy.yml with ``serial`` on its play; paths it takes from its own directory made absolute."""
    plays: list[dict[str, Any]] = yaml.safe_load(DEPLOY.read_text())
    for play in plays:
        play["serial"] = SERIAL
        play["vars"] = {
            k: v.replace("{{ playbook_dir }}", str(DEPLOY.parent)) if isinstance(v, str) else v
            for k, v in play.get("vars", {}).items()
        }
        for t in play.get("tasks", []):
            for key in ("ansible.builtin.import_tasks", "import_tasks"):
                if key in t and not Path(t[key]).is_absolute():
                    t[key] = str(DEPLOY.parent / t[key])
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="golive-bench-rolling-") as tmp:
        work = Path(tmp)
        runbook = write_runbook(work / "rolling.yml")
        serial_pb = write_serial_playbook(work / "deploy-serial.yml")
        with lab(work / "lab", hosts=HOSTS, prefect=True) as (the_lab, state):
            inv = Path(state.inventory)
            labdir = work / "lab"
            base = child_env(ANSIBLE_CONFIG=str(labdir / "ansible.cfg"), GOLIVE_RUNS_DIR=str(work / "runs"))
            n = 0

            def golive(version: str, *, prefect: bool) -> tuple[float, float, float]:
                """Wall time, time to the run_started entry, time from each batch's start to its Ansible result."""
                env = {**base, "GOLIVE_LAB_DIR": str(labdir), "GOLIVE_ENV_FILE": str(labdir / "env")}
                argv: list[str | Path] = [GOLIVE, "run", runbook, "-i", inv, "-p", f"version={version}"]
                launched = time.time()
                elapsed, _ = run_timed([*argv] if prefect else [*argv, "--no-prefect"], env=env)
                entries = read_journal(journal_of(work / "runs"))
                if first(entries, "run_finished")["status"] != "succeeded":
                    raise SystemExit(f"golive run to {version} did not succeed")
                started = {e["batch"]: ts(e) for e in entries if e["event"] == "batch_started"}
                in_ansible = sum(ts(e) - started[e["batch"]] for e in entries if e["event"] == "action_result")
                return elapsed, ts(first(entries, "run_started")) - launched, in_ansible

            def raw(version: str) -> float:
                nonlocal n
                n += 1
                cp = work / f"cp{n}"  # a fresh control-socket dir, as each golive run has its own
                cp.mkdir()
                env = {**base, "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp)}
                argv: list[str | Path] = [BIN / "ansible-playbook", "-i", inv, serial_pb, "-e", f"version={version}"]
                elapsed, _ = run_timed([*argv, "-f", str(FORKS)], env=env)
                return elapsed

            wait_lab_prefect(the_lab)  # a starting Prefect server takes a core for seconds: wait before timing
            raw("v2"), raw("v1")  # warm-up: both releases on every host
            np_runs: list[tuple[float, float, float]] = []
            pf_runs: list[tuple[float, float, float]] = []
            raw_runs = Sample()
            for _ in range(ROUNDS):
                np_runs.append(golive("v2", prefect=False))
                raw_runs.append(raw("v1"))
                raw_runs.append(raw("v2"))
                pf_runs.append(golive("v1", prefect=True))
    floor = raw_runs.median
    print(
        f"{HOSTS} lab hosts, {HOSTS // SERIAL} batches of {SERIAL}, forks {FORKS}; whole-process wall time, s, "
        f"median of {ROUNDS} (raw: {len(raw_runs)}, from {raw_runs.best:.1f} to {max(raw_runs):.1f})"
    )
    rows = []
    for label, runs in (("golive run --no-prefect", np_runs), ("golive run, lab's Prefect", pf_runs)):
        total = Sample(r[0] for r in runs).median
        ratio = total / floor
        rows.append(
            (
                label,
                total,
                floor,
                f"{ratio:.2f}",
                verdict(ratio <= TARGET_RATIO),
                Sample(r[1] for r in runs).median,
                Sample(r[2] for r in runs).median,
            )
        )
    table(
        (
            "how",
            "golive",
            "ansible-playbook",
            "ratio",
            f"target <= {TARGET_RATIO}",
            "golive to run_started",
            "golive in the batches",
        ),
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
