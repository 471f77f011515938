"""How fast a bad release is caught and undone: failing check to rollback start, target < 1 s.

Run: ``python bench/detect.py``. Brings up a 2-host lab of its own (with its Prefect
server) in a temp dir and runs a runbook that releases v2-bad (whose /health answers
after 2.5 s) in batches of one host, gated by an HTTP health check every 1 s (latency
<= 2 s), with an Ansible rollback to v1: one ansible-playbook process, held at its gate
after the first batch, which the failing gate stops before rollback. From the run's
journal it prints

- first failing ``check_result`` -> first ``compensation_started`` (target < 1 s);
- v2-bad serving (the batch's ``action_result``: the playbook returns once the new
  version answers) -> ``compensation_started``: the detection delay with a 1 s interval;
- the same timeline with a one-minute analysis interval (Flagger's usual set-up): the
  measured delay plus the 59 s more a 60 s interval waits, at worst, for its next look.

Once through Prefect (the lab's server) and once with ``--no-prefect``.

Then the Kubernetes case, against an API emulator of its own: a canary of ``v2-bad`` (its
pods never get Ready) on a 3-replica Deployment, canary stages [10, 50, 100], no verify
check, a progress deadline of 600 s, the demo app's readiness probe declared (4 s, then
every 1 s, 3 failures: 7 s). From the journal: the canary stage's start -> the
step failing on its pods (the wait's own signal) -> the first ``compensation_started``
(target < 10 s; before the wait failed fast it took the progress deadline, ~32 s).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from benchkit import (
    GOLIVE,
    ROOT,
    child_env,
    first,
    free_port,
    journal_of,
    lab,
    read_journal,
    run_timed,
    table,
    ts,
    verdict,
    wait_lab_prefect,
)

TARGET_S = 1.0
K8S_TARGET_S = 10.0
GATE_INTERVAL_S = 1.0
FLAGGER_INTERVAL_S = 60.0
DEPLOY = ROOT / "playbooks" / "deploy.yml"


def write_runbook(path: Path) -> Path:
    step = {
        "id": "release-bad",
        "ansible": {"playbook": str(DEPLOY), "hosts": "app", "vars": {"version": "{{ params.version }}"}},
        "batches": [1],
        "verify": [
            {
                "http": "http://{{ host }}:8080/health",
                "expect": {"status": 200, "max_latency": "2s"},
                "interval": f"{GATE_INTERVAL_S:g}s",
                "count": 10,
            }
        ],
        "rollback": {
            "ansible": {"playbook": str(DEPLOY), "hosts": "app", "vars": {"version": "{{ previous.version }}"}}
        },
    }
    body = {"name": "bench-detect", "params": {"version": "v2-bad"}, "previous": {"version": "v1"}, "steps": [step]}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def timeline(entries: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    serving = ts(first(entries, "action_result", step="release-bad"))
    failing = ts(next(e for e in entries if e["event"] == "check_result" and e.get("outcome") == "fail"))
    rollback = ts(first(entries, "compensation_started"))
    status = first(entries, "run_finished")["status"]
    if status != "rolled_back":
        raise SystemExit(f"expected the run to roll back, it ended {status}")
    return {"fail_to_rollback": rollback - failing, "serving_to_fail": failing - serving, "detect": rollback - serving}


def k8s_canary(work: Path) -> dict[str, Any]:
    """Release v2-bad as a canary through the emulator; seconds from the canary's start to failure and rollback."""
    from kubernetes import client, config

    from golive_lab.kube_emulator import start

    emu = start(port=free_port(), state_dir=work / "kube", sd_file=work / "kube" / "sd.json",
                kubeconfig=work / "kube" / "kubeconfig")  # fmt: skip
    try:
        inv = work / "k8s-inventory"
        (inv / "group_vars").mkdir(parents=True)
        (inv / "hosts.yml").write_text("all:\n  hosts:\n    h: {ansible_host: 127.0.0.1}\n")
        (inv / "group_vars" / "all.yml").write_text(
            f"golive_clusters:\n  default: {{kubeconfig: {emu.kubeconfig}, context: lab}}\n"
        )
        api = config.new_client_from_config(config_file=str(emu.kubeconfig), context="lab")
        labels = {"app": "web"}
        # The demo app's readiness as a user would declare it: Ready within 4 s, probed every second.
        probe = {"httpGet": {"path": "/health", "port": 8080}, "initialDelaySeconds": 4, "periodSeconds": 1}
        containers = [{"name": "app", "image": "registry.local/demo:v1", "readinessProbe": probe}]
        spec = {"replicas": 3, "progressDeadlineSeconds": 600, "selector": {"matchLabels": labels}}
        template = {"metadata": {"labels": labels}, "spec": {"containers": containers}}
        body = {"metadata": {"name": "web", "labels": labels}, "spec": {**spec, "template": template}}
        client.AppsV1Api(api).create_namespaced_deployment("default", body)
        from golive.drivers.k8s import K8sDriver
        from golive.inventory import load_inventory

        k8s = K8sDriver(inventory=load_inventory(root=work, env="k8s", path=inv))
        try:
            k8s.wait_rollout(None, "default", "web", timeout=60)
        finally:
            k8s.close()
        api.close()
        step = {
            "id": "canary-bad",
            "k8s": {"deployment": "web", "image": "registry.local/demo:v2-bad", "strategy": {"canary": [10, 50, 100]}},
        }
        runbook = work / "k8s-detect.yml"
        runbook.write_text(yaml.safe_dump({"name": "bench-detect-k8s", "steps": [step]}, sort_keys=False))
        env = child_env(GOLIVE_RUNS_DIR=str(work / "k8s-runs"))
        run_timed([GOLIVE, "run", runbook, "-i", inv, "--no-prefect"], env=env, ok_codes=(1,))
        entries = read_journal(journal_of(work / "k8s-runs"))
    finally:
        emu.stop()
    started = ts(first(entries, "stage_started", step="canary-bad"))
    failed = first(entries, "step_failed", step="canary-bad")
    rollback = ts(first(entries, "compensation_started"))
    return {"fail": ts(failed) - started, "rollback": rollback - started, "reason": failed["reason"]}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="golive-bench-detect-") as tmp:
        work = Path(tmp)
        runbook = write_runbook(work / "detect.yml")
        labdir = work / "lab"
        with lab(labdir, hosts=2, prefect=True) as (the_lab, state):
            env = child_env(
                ANSIBLE_CONFIG=str(labdir / "ansible.cfg"),
                GOLIVE_RUNS_DIR=str(work / "runs"),
                GOLIVE_LAB_DIR=str(labdir),
                GOLIVE_ENV_FILE=str(labdir / "env"),  # golive reads the lab's settings there
            )
            results = {}
            wait_lab_prefect(the_lab)  # a starting Prefect server takes a core for seconds: wait before timing
            for mode, extra in (("--no-prefect", ["--no-prefect"]), ("lab's Prefect", [])):
                argv: list[str | Path] = [GOLIVE, "run", runbook, "-i", state.inventory, *extra]
                run_timed(argv, env=env, ok_codes=(1,))  # 1: failed and rolled back
                results[mode] = timeline(read_journal(journal_of(work / "runs")))
        k8s = k8s_canary(work)
    print(
        f"v2-bad to 2 lab hosts a host at a time, HTTP health gate every {GATE_INTERVAL_S:g} s "
        "(latency <= 2 s; v2-bad takes 2.5 s)"
    )
    rows = []
    for mode, t in results.items():
        flagger = t["detect"] + FLAGGER_INTERVAL_S - GATE_INTERVAL_S
        rows.append(
            (
                mode,
                t["fail_to_rollback"],
                verdict(t["fail_to_rollback"] < TARGET_S),
                t["serving_to_fail"],
                t["detect"],
                f"{flagger:.1f}",
            )
        )
    table(
        (
            "golive run",
            "failing check -> rollback s",
            f"target < {TARGET_S:g} s",
            "serving -> failing check s",
            f"serving -> rollback s ({GATE_INTERVAL_S:g} s interval)",
            f"same with a {FLAGGER_INTERVAL_S:g} s interval s",
        ),
        rows,
    )
    print()
    print("v2-bad as a k8s canary (stages 10/50/100, 3 replicas) on the Kubernetes API emulator, --no-prefect")
    table(
        ("golive run", "canary start -> step failed s", "canary start -> rollback s", f"target < {K8S_TARGET_S:g} s"),
        [("--no-prefect", k8s["fail"], k8s["rollback"], verdict(float(k8s["rollback"]) < K8S_TARGET_S))],
    )
    print(f"failed on: {k8s['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
