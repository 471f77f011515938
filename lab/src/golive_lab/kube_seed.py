"""The lab cluster's starting point: namespace ``demo`` with Deployment and Service ``demo-api`` at v1.

`golive lab up` seeds it so the Kubernetes example runbooks have something to release;
tests that need their own objects start an emulator without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

__all__ = ["NAMESPACE", "seed_demo_api"]

log = structlog.get_logger(__name__)

NAMESPACE = "demo"
NAME = "demo-api"


READINESS = {"httpGet": {"path": "/health", "port": 8080}, "initialDelaySeconds": 4, "periodSeconds": 2}


def _deployment(replicas: int) -> dict[str, Any]:
    labels = {"app": NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": 30,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "image": "registry.local/demo:v1",
                            "ports": [{"containerPort": 8080}],
                            # As a user would declare it: golive fails a canary whose new pods stay
                            # unready past this probe's window, instead of at the progress deadline.
                            "readinessProbe": READINESS,
                        }
                    ]
                },
            },
        },
    }


def _service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {"selector": {"app": NAME}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def _body(obj: dict[str, Any]) -> Any:
    """The client takes plain dicts as bodies; its type hints name only its model classes."""
    return obj


def seed_demo_api(kubeconfig: Path, *, context: str = "lab", replicas: int = 4) -> bool:
    """Create what is missing; returns True when something was created. Existing objects are left alone."""
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    api_client = config.new_client_from_config(config_file=str(kubeconfig), context=context)
    core = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    created = False
    steps = [
        (
            lambda: core.read_namespace(NAMESPACE),
            lambda: core.create_namespace(_body({"metadata": {"name": NAMESPACE}})),
        ),
        (
            lambda: apps.read_namespaced_deployment(NAME, NAMESPACE),
            lambda: apps.create_namespaced_deployment(NAMESPACE, _body(_deployment(replicas))),
        ),
        (
            lambda: core.read_namespaced_service(NAME, NAMESPACE),
            lambda: core.create_namespaced_service(NAMESPACE, _body(_service())),
        ),
    ]
    try:
        for read, create in steps:
            try:
                read()
            except ApiException as exc:
                if exc.status != 404:
                    raise
                create()
                created = True
    finally:
        api_client.close()
    if created:
        log.info("lab_cluster_seeded", namespace=NAMESPACE, deployment=NAME, replicas=replicas)
    return created
