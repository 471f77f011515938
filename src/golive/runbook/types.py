"""Value types of the runbook: durations, percentages, batch specs.

Each parser raises ``ValueError`` with a message that says what a valid value looks
like; pydantic turns it into an error located at the offending line.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["BatchSpec", "Duration", "batch_sizes", "format_duration", "parse_duration"]

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*(ms|s|m|h|d))+\s*$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30s``, ``1m30s``, ``500ms``, ``2h`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}; write e.g. 30s, 2m, 1h30m or 500ms")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value):
        seconds = sum(float(n) * _UNIT[u] for n, u in _PART.findall(value))
    else:
        raise ValueError(f"not a duration: {value!r}; write e.g. 30s, 2m, 1h30m or 500ms")
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"bad duration {value!r}; use a finite number of seconds >= 0")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds < 1 and seconds > 0:
        return f"{round(seconds * 1000)}ms"
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s or not (h or m) else ""]
    return "".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _parse_batch(item: Any) -> int | str:
    if isinstance(item, bool):
        raise ValueError(f"bad batch size {item!r}; use a host count like 1 or a share like 25%")
    if isinstance(item, int):
        if item < 1:
            raise ValueError(f"bad batch size {item}; a batch holds at least 1 host")
        return item
    if isinstance(item, str):
        text = item.strip()
        if text.endswith("%"):
            try:
                pct = float(text[:-1])
            except ValueError:
                pct = -1.0
            if 0 < pct <= 100:
                return f"{pct:g}%"
            raise ValueError(f"bad batch share {item!r}; a share is between 1% and 100%, e.g. 25%")
        if text.isdecimal():
            return _parse_batch(int(text))
    raise ValueError(f"bad batch size {item!r}; use a host count like 1 or a share like 25%")


def _parse_batches(value: Any) -> list[int | str]:
    if isinstance(value, int | str) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError("batches is empty or not a list; write a list such as [1, 25%, 100%]")
    return [_parse_batch(v) for v in value]


BatchSpec = Annotated[
    list[int | str],
    BeforeValidator(_parse_batches),
    PlainSerializer(lambda v: list(v), return_type=list),
]


def batch_sizes(spec: list[int | str], total: int) -> list[int]:
    """Sizes of successive batches over ``total`` hosts, the way Ansible's ``serial`` reads a list.

    Each entry is the size of the next batch (a share is of all hosts, rounded down, at
    least 1); the last entry repeats until every host is in a batch.
    """
    sizes: list[int] = []
    done = 0
    i = 0
    while done < total:
        entry = spec[min(i, len(spec) - 1)]
        size = max(1, math.floor(total * float(entry[:-1]) / 100)) if isinstance(entry, str) else entry
        size = min(size, total - done)
        sizes.append(size)
        done += size
        i += 1
    return sizes
