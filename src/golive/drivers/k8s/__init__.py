"""The Kubernetes driver: primitives on Deployments and Services, undone from saved records.

``K8sDriver`` implements the driver contract (``apply`` one change, ``undo`` records,
``check`` with dryRun=All) for the changes in :mod:`.changes`, and offers ``read``,
``wait_rollout`` (failing fast on bad new pods) and ``clients``. It never imports the
engine: gates, stages and bakes are the engine's.
"""

from __future__ import annotations

from .changes import ApplyManifest, Change, CreateOrReplace, Delete, Scale, SetImage, Switch
from .driver import K8sDriver
from .objects import COLOR_LABEL
from .rollout import RolloutFailed

__all__ = [
    "COLOR_LABEL",
    "ApplyManifest",
    "Change",
    "CreateOrReplace",
    "Delete",
    "K8sDriver",
    "RolloutFailed",
    "Scale",
    "SetImage",
    "Switch",
]
