"""The words of a check's limit, one function per check kind.

The check models render their limits through these (``HttpCheck.limit_text()``) for the plan,
and the probes through the same functions with the values they judged (a rendered body pattern,
say), so a plan and a verdict never word the same limit differently.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DEFAULT_TCP_TIMEOUT", "command_limit", "http_limit", "k8s_limit", "number", "prometheus_limit", "tcp_limit"]

DEFAULT_TCP_TIMEOUT = 2.0


def number(value: float) -> str:
    """A measured or limiting value as shown in plans and verdicts."""
    return f"{value:.6g}"


def http_limit(*, status: int | Sequence[int], body: str | None, max_latency: float) -> str:
    codes = [status] if isinstance(status, int) else list(status)
    text = "status " + "|".join(str(c) for c in codes)
    if body:
        text += f", body ~ /{body}/"
    return f"{text}, latency <= {max_latency:g}s"


def tcp_limit(*, timeout: float) -> str:
    return f"accepts a connection within {timeout:g}s"


def command_limit(*, rc: int, stdout: str | None) -> str:
    return f"rc {rc}" + (f", stdout ~ /{stdout}/" if stdout else "")


def prometheus_limit(*, max: float | None, min: float | None, max_ratio: float | None, max_delta: float | None) -> str:
    parts = []
    if max is not None:
        parts.append(f"<= {number(max)}")
    if min is not None:
        parts.append(f">= {number(min)}")
    if max_ratio is not None:
        parts.append(f"<= baseline x {number(max_ratio)}")
    if max_delta is not None:
        parts.append(f"<= baseline + {number(max_delta)}")
    return ", ".join(parts) or "any value"


def k8s_limit(*, available: bool, max_restarts: int | None) -> str:
    parts = ["available"] if available else []
    if max_restarts is not None:
        parts.append(f"restarts <= {max_restarts}")
    # Neither: the Deployment only has to exist.
    return ", ".join(parts) or "exists"
