"""Health checks: each measures once and returns a Verdict; gates repeat and judge them."""

from golive.checks.base import Outcome, Verdict

__all__ = ["Outcome", "Verdict"]
