"""What the lab raises: the message says why and what to do."""

from __future__ import annotations


class LabError(RuntimeError):
    """The lab cannot do what was asked; the message says why."""


class MissingTool(LabError):
    """A program the lab runs is not installed on this machine (sshd, unshare, Prometheus)."""
