"""Planning at fleet scale: 1,000 hosts in groups of 100, a 50-step runbook; target plan under 1 s.

Run: ``python bench/plan_scale.py``. Writes a project in a temp dir (inventory/scale with
10 groups of 100 hosts under ``app``, a no-op playbook, a runbook mixing batched Ansible
steps, SSH steps, checks on host patterns, approvals and notifications), then times

- ``build_plan`` in-process (median of 3, inventory already loaded),
- ``golive plan --json -e scale`` as a whole process,
- ``ansible-inventory -i <inv> --list``, the floor of anything that reads this inventory
  through Ansible.

No host is contacted. When ``build_plan`` misses the target, a cProfile of one call names
the functions where the time goes.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchkit import BIN, GOLIVE, Sample, child_env, run_timed, table, verdict

HOSTS = 1000
GROUP = 100
STEPS = 50
RUNS = 3
TARGET_S = 1.0
KINDS = ("ansible", "ssh", "check", "approval", "notify")


def write_project(root: Path) -> Path:
    """The temp project; returns the runbook path."""
    groups = {
        f"g{g:02d}": {
            "hosts": {
                f"h{g * GROUP + i + 1:04d}": {"ansible_host": f"127.1.{g}.{i + 1}"}  # never contacted
                for i in range(GROUP)
            }
        }
        for g in range(HOSTS // GROUP)
    }
    inv = root / "inventory" / "scale"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"app": {"children": groups}}}}))
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump({"ansible_port": 2222, "golive_min_approvers": 1}))
    (root / "playbooks").mkdir()
    (root / "playbooks" / "noop.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n"
    )
    steps: list[dict[str, Any]] = []
    for n in range(STEPS):
        kind = KINDS[n % len(KINDS)]
        group = f"g{n % (HOSTS // GROUP):02d}"
        sid = f"{kind}-{n:02d}"
        if kind == "ansible":
            target = "app" if n % 10 == 0 else f"app:!{group}"  # the whole fleet, or 900 hosts
            steps.append(
                {
                    "id": sid,
                    "ansible": {"playbook": "playbooks/noop.yml", "hosts": target, "vars": {"v": "{{ params.v }}"}},
                    "batches": [1, "10%", "25%", "100%"],
                    "max_fail": "1%",
                    "verify": [{"http": "http://{{ host }}:8080/health", "interval": "1s", "count": 2}],
                    "rollback": {"ansible": {"playbook": "playbooks/noop.yml", "hosts": target}},
                }
            )
        elif kind == "ssh":
            steps.append(
                {
                    "id": sid,
                    "ssh": {"hosts": group, "command": "echo {{ params.v }}"},
                    "batches": ["50%", "100%"],
                    "rollback": {"ssh": {"hosts": group, "command": "true"}},
                }
            )
        elif kind == "check":
            steps.append(
                {
                    "id": sid,
                    "check": [
                        {"http": "http://{{ host }}:8080/health", "hosts": group},
                        {"tcp": "{{ host }}:2222", "hosts": f"app[0:{GROUP - 1}]"},
                    ],
                }
            )
        elif kind == "approval":
            steps.append({"id": sid, "approval": {"approvers": 1}})
        else:
            steps.append({"id": sid, "notify": f"step {n} of {{{{ params.v }}}} done"})
    runbook = {"name": "scale-1000", "owner": "ops", "params": {"v": "v2"}, "previous": {"v": "v1"}, "steps": steps}
    path = root / "runbooks" / "scale.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(runbook, sort_keys=False))
    return path


def main() -> int:
    from golive.inventory import load_inventory
    from golive.plan import build_plan
    from golive.runbook.load import load_runbook

    with tempfile.TemporaryDirectory(prefix="golive-bench-plan-") as tmp:
        root = Path(tmp)
        rb_path = write_project(root)
        inv_path = root / "inventory" / "scale"
        t0 = time.perf_counter()
        loaded = load_runbook(rb_path)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        inventory = load_inventory(root=root, env="scale")
        n_hosts = len(inventory.host_names)
        t_inv = time.perf_counter() - t0
        inproc = Sample()
        plan = None
        for _ in range(RUNS):
            t0 = time.perf_counter()
            plan = build_plan(loaded, root=root, inventory=inventory, params={})
            inproc.append(time.perf_counter() - t0)
        assert plan is not None
        n_batches = sum(len(s.batches) for s in plan.steps)
        env = child_env()
        cli, cli_json = Sample(), ""
        floor = Sample()
        for _ in range(RUNS):
            elapsed, proc = run_timed([GOLIVE, "plan", rb_path, "-e", "scale", "--json"], env=env, cwd=root)
            cli.append(elapsed)
            cli_json = proc.stdout
            elapsed, _ = run_timed([BIN / "ansible-inventory", "-i", inv_path, "--list"], env=env, cwd=root)
            floor.append(elapsed)
        cli_steps = len(json.loads(cli_json)["steps"])
        print(
            f"{n_hosts} hosts in {HOSTS // GROUP} groups, {len(plan.steps)} steps ({cli_steps} in the CLI's JSON), "
            f"{n_batches} batches, plan {plan.digest[:12]}"
        )
        table(
            ("what", "best s", "median s", "vs floor", "target"),
            [
                ("load runbook (in-process, once)", t_load, t_load, "", ""),
                ("load inventory via Ansible (in-process, once)", t_inv, t_inv, "", ""),
                (
                    f"build_plan (in-process, {RUNS} runs)",
                    inproc.best,
                    inproc.median,
                    "",
                    verdict(inproc.median < TARGET_S),
                ),
                (
                    "golive plan --json (whole process)",
                    cli.best,
                    cli.median,
                    f"{cli.median / floor.median:.2f}x",
                    verdict(cli.median < TARGET_S),
                ),
                ("ansible-inventory --list (floor)", floor.best, floor.median, "1.00x", ""),
            ],
        )
        if inproc.median >= TARGET_S:
            prof = cProfile.Profile()
            prof.runcall(build_plan, loaded, root=root, inventory=inventory, params={})
            show_profile(prof, "build_plan (in-process)")
        if cli.median >= TARGET_S:
            out = root / "plan.prof"
            argv: list[str | Path] = [sys.executable, "-m", "cProfile", "-o", out, "-m", "golive.cli", "plan"]
            run_timed([*argv, rb_path, "-e", "scale", "--json"], env=env, cwd=root)
            show_profile(out, "golive plan --json (whole process)")
    return 0


def show_profile(prof: cProfile.Profile | Path, what: str, *, top: int = 10) -> None:
    """Print where the time goes: functions by own time, then by cumulative time."""
    # Cumulative time only of golive's own functions: the framework frames above them say nothing.
    for key, title, only in (("tottime", "own time", ""), ("cumulative", "cumulative time, golive code", "/golive/")):
        buf = io.StringIO()
        stats = pstats.Stats(str(prof) if isinstance(prof, Path) else prof, stream=buf)
        restrictions: list[str | int] = [only, top] if only else [top]
        stats.sort_stats(key).print_stats(*restrictions)
        lines = buf.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        print(f"\n{what} missed the target; cProfile, top {top} by {title}:")
        print("\n".join(line for line in lines[start:] if line.strip()))


if __name__ == "__main__":
    sys.exit(main())
