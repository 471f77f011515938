"""Failing fast on a rollout's new pods: which signal fails it, and when, on a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from golive.drivers.k8s.rollout import PodWatch, RolloutFailed

PROBE = {"initialDelaySeconds": 4, "periodSeconds": 1, "failureThreshold": 3}  # 7 s


def pod(
    *, ready: bool = False, restarts: int = 0, waiting: str | None = None, probe: dict[str, Any] | None = PROBE
) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting, "message": "m"}} if waiting else {"running": {"startedAt": "t"}}
    container = {"name": "app", **({"readinessProbe": probe} if probe else {})}
    return {
        "metadata": {"name": "web-canary-1"},
        "spec": {"containers": [container]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "restartCount": restarts, "state": state}],
        },
    }


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# (allowed, pod seen at t=0, then the same pod at t=seconds, signal or None)
CASES = [
    ("first restart, none allowed", 0, pod(), pod(restarts=1), 1.0, "restart"),
    ("one restart allowed", 1, pod(), pod(restarts=1), 1.0, None),
    ("image cannot be pulled", 0, pod(), pod(waiting="ImagePullBackOff"), 1.0, "image"),
    ("unready within its probe's window", 0, pod(), pod(), 6.9, None),
    ("unready past its probe's window", 0, pod(), pod(), 7.0, "readiness"),
    ("a tolerated failure is one more period", 1, pod(), pod(), 7.5, None),
    ("no probe declared: Kubernetes' defaults, 30 s", 0, pod(probe=None), pod(probe=None), 29.0, None),
    ("ready in time", 0, pod(), pod(ready=True), 60.0, None),
    ("restarts from before the rollout do not count", 0, pod(ready=True, restarts=3), pod(ready=True, restarts=3),
     1.0, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("allowed", "first", "later", "after", "signal"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_pod_failures_over_the_allowance_fail_the_wait(
    allowed: int, first: dict[str, Any], later: dict[str, Any], after: float, signal: str | None
) -> None:
    """A new pod fails the wait by restarting, not pulling its image, or staying unready past its probe's window."""
    clock = Clock()
    watch = PodWatch("web-canary", allowed, clock)
    watch.check([first])
    clock.now += after
    if signal is None:
        watch.check([later])
        return
    with pytest.raises(RolloutFailed) as failed:
        watch.check([later])
    assert (failed.value.signal, failed.value.pod) == (signal, "web-canary-1")
