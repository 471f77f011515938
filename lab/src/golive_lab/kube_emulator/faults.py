"""Injected API faults, configured through ``/_emulator/faults``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .store import ApiError

MAX_LATENCY_S = 30.0
_REASONS = {
    429: "TooManyRequests",
    500: "InternalError",
    502: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class Faults:
    """Current fault settings; every counter is consumed by the requests it affects."""

    code: int | None = None
    count: int = 0
    retry_after: int | None = None
    latency: float = 0.0
    conflicts: int = 0
    forbidden_namespaces: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def configure(self, settings: dict[str, Any]) -> None:
        """Merge settings from a POST body; unknown keys are refused."""
        known = {"code", "count", "retry_after", "latency", "conflicts", "forbidden_namespaces"}
        unknown = set(settings) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        with self._lock:
            if "code" in settings:
                code = int(settings["code"])
                if not 400 <= code <= 599:
                    raise ValueError("code must be an HTTP error status (400-599)")
                self.code = code
                self.count = int(settings.get("count", 1))
                retry = settings.get("retry_after")
                self.retry_after = int(retry) if retry is not None else None
            if "latency" in settings:
                self.latency = min(max(float(settings["latency"]), 0.0), MAX_LATENCY_S)
            if "conflicts" in settings:
                self.conflicts = max(int(settings["conflicts"]), 0)
            if "forbidden_namespaces" in settings:
                self.forbidden_namespaces = {str(ns) for ns in settings["forbidden_namespaces"] or []}

    def clear(self) -> None:
        with self._lock:
            self.code, self.count, self.retry_after = None, 0, None
            self.latency, self.conflicts = 0.0, 0
            self.forbidden_namespaces = set()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "code": self.code,
                "count": self.count,
                "retry_after": self.retry_after,
                "latency": self.latency,
                "conflicts": self.conflicts,
                "forbidden_namespaces": sorted(self.forbidden_namespaces),
            }

    def current_latency(self) -> float:
        with self._lock:
            return self.latency

    def take_error(self) -> ApiError | None:
        """The injected error for this request, if a burst is still running."""
        with self._lock:
            if self.code is None or self.count <= 0:
                return None
            self.count -= 1
            code, retry = self.code, self.retry_after
            if self.count == 0:
                self.code = None
        headers = {"Retry-After": str(retry)} if retry is not None and code in (429, 503) else {}
        details: dict[str, Any] | None = {"retryAfterSeconds": retry} if headers else None
        return ApiError(
            code, _REASONS.get(code, "InternalError"), f"injected fault: {code}", details=details, headers=headers
        )

    def take_conflict(self) -> bool:
        with self._lock:
            if self.conflicts <= 0:
                return False
            self.conflicts -= 1
            return True

    def forbids(self, namespace: str | None) -> bool:
        with self._lock:
            return namespace is not None and namespace in self.forbidden_namespaces
