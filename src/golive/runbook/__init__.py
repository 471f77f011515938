"""Runbook: models, YAML loading with locations, templates."""

from golive.runbook.load import LoadedRunbook, load_runbook, parse_runbook
from golive.runbook.models import Runbook

__all__ = ["LoadedRunbook", "Runbook", "load_runbook", "parse_runbook"]
