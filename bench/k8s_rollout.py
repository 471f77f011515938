"""20 Deployments rolled concurrently through the lab's Kubernetes API emulator.

Two ways, in one run, against one emulator:
- raw: the official client patches each image and watches until rolled out (the floor:
  the emulator's own rollout time plus the least a client must do);
- golive: a golive run per Deployment (the engine's k8s step, --no-prefect services),
  which also saves the spec to the journal, watches, and checks availability.
Printed: wall time of each, golive's time beyond the raw rollout (target < 10 %), and API
calls per rollout (counted in this process around the client's ``call_api``).
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from benchkit import free_port, table, verdict
from golive.drivers.k8s import K8sDriver
from golive.engine.journal import Journal
from golive.engine.runner import Runner
from golive.engine.services import build_services
from golive.inventory import Inventory, load_inventory
from golive.plan import build_plan
from golive.runbook.load import parse_runbook
from golive_lab.kube_emulator import start

COUNT = 20
REPLICAS = 2
V1, V2, V3 = "registry.local/demo:v1", "registry.local/demo:v2", "registry.local/demo:v3"
TIMEOUT_S = 240

calls: Counter[str] = Counter()
_calls_lock = threading.Lock()
_original_call_api = client.ApiClient.call_api


def _counting_call_api(self: client.ApiClient, *args: Any, **kwargs: Any) -> Any:
    with _calls_lock:
        calls[threading.current_thread().name] += 1
    return _original_call_api(self, *args, **kwargs)


client.ApiClient.call_api = _counting_call_api  # type: ignore[method-assign]


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": REPLICAS,
            "progressDeadlineSeconds": 120,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": V1}]}},
        },
    }


def rolled(dep: Any, image: str) -> bool:
    s, st = dep.spec, dep.status
    return bool(
        s.template.spec.containers[0].image == image
        and (st.observed_generation or 0) >= (dep.metadata.generation or 0)
        and (st.updated_replicas or 0) == s.replicas == (st.available_replicas or 0) == (st.replicas or 0)
    )


def raw_rollout(apps: client.AppsV1Api, name: str, image: str) -> None:
    apps.patch_namespaced_deployment(
        name, "default", {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    )
    w = watch.Watch()
    for event in w.stream(
        apps.list_namespaced_deployment, "default", field_selector=f"metadata.name={name}", timeout_seconds=TIMEOUT_S
    ):
        if rolled(event["object"], image):
            w.stop()
            return
    raise RuntimeError(f"{name} did not roll out to {image}")


def golive_rollout(project: Path, inventory: Inventory, name: str, image: str, work: Path) -> None:
    k8s = K8sDriver(inventory=inventory)
    try:
        step = f'k8s: {{deployment: {name}, image: "{image}", timeout: {TIMEOUT_S}s}}'
        text = f"name: {name}\nsteps:\n  - id: roll\n    {step}\n"
        loaded = parse_runbook(text, file=str(project / f"{name}.yml"))
        plan = build_plan(loaded, root=project, inventory=inventory)
        runner = Runner(
            plan=plan,
            runbook=loaded.runbook,
            journal=Journal(work / name / "journal.jsonl"),
            services=build_services(inventory=inventory, work_dir=work / name, k8s=k8s),
            root=project,
            run_id=name,
            initiator="bench",
        )
        code = runner.start()
        if code != 0:
            raise RuntimeError(f"golive rollout of {name} ended with exit {code}")
    finally:
        k8s.close()


def timed_parallel(fn: Callable[[str], None], names: list[str]) -> float:
    calls.clear()
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=COUNT, thread_name_prefix="roll") as pool:
        list(pool.map(fn, names))
    return time.monotonic() - t0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="golive-bench-k8s-") as tmp:
        root = Path(tmp)
        emu = start(port=free_port(), state_dir=root / "kube", sd_file=root / "sd.json", kubeconfig=root / "kubeconfig")
        try:
            project = root / "project"
            (project / "inventory" / "bench" / "group_vars").mkdir(parents=True)
            (project / "inventory" / "bench" / "hosts.yml").write_text(
                "all:\n  hosts:\n    h: {ansible_host: 127.0.0.1}\n"
            )
            (project / "inventory" / "bench" / "group_vars" / "all.yml").write_text(
                f"golive_clusters:\n  default: {{kubeconfig: {emu.kubeconfig}, context: lab}}\n"
            )
            api = config.new_client_from_config(config_file=str(emu.kubeconfig), context="lab")
            apps = client.AppsV1Api(api)
            names = [f"bench-{i:02d}" for i in range(COUNT)]
            for n in names:
                apps.create_namespaced_deployment("default", deployment(n))  # type: ignore[arg-type]
            for n in names:
                w = watch.Watch()
                for ev in w.stream(
                    apps.list_namespaced_deployment,
                    "default",
                    field_selector=f"metadata.name={n}",
                    timeout_seconds=TIMEOUT_S,
                ):
                    if rolled(ev["object"], V1):
                        w.stop()
            raw_before = timed_parallel(lambda n: raw_rollout(apps, n, V2), names)
            raw_calls = sum(calls.values()) / COUNT
            # Ansible's inventory import is not thread-safe on first use: load it once, share it.
            inventory = load_inventory(root=project, env="bench")
            _ = inventory.clusters
            golive_s = timed_parallel(lambda n: golive_rollout(project, inventory, n, V3, root / "runs"), names)
            golive_calls = sum(calls.values()) / COUNT
            # The machine is shared: a second raw round after golive's evens out drift.
            raw_after = timed_parallel(lambda n: raw_rollout(apps, n, V1), names)
            raw_s = (raw_before + raw_after) / 2
            api.close()
        finally:
            emu.stop()
    added = golive_s / raw_s - 1
    print(f"{COUNT} Deployments x {REPLICAS} replicas, rolled concurrently through the emulator")
    table(
        ["how", "wall s", "API calls per rollout"],
        [
            ["raw client: patch + watch (mean of before and after)", f"{raw_s:.2f}", f"{raw_calls:.1f}"],
            ["golive k8s step: save spec, patch, watch", f"{golive_s:.2f}", f"{golive_calls:.1f}"],
        ],
    )
    print(f"time beyond the raw rollout: {added * 100:+.1f}% (target < 10%) {verdict(added < 0.10)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
