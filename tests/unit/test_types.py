"""Value types of the runbook: batch specs, durations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from golive.runbook.types import BatchSpec, batch_sizes, format_duration, parse_duration

_batches = TypeAdapter(BatchSpec)


@pytest.mark.parametrize(
    ("spec", "total", "sizes"),
    [
        ([1, "25%", "100%"], 8, [1, 2, 5]),
        ([1, "25%", "100%"], 1, [1]),
        ([1, "25%", "100%"], 2, [1, 1]),
        ([1], 3, [1, 1, 1]),
        (["50%"], 5, [2, 2, 1]),
        (["10%"], 5, [1, 1, 1, 1, 1]),
        (["33%"], 10, [3, 3, 3, 1]),
        ([1, "30%"], 10, [1, 3, 3, 3]),
        ([2, "50%"], 8, [2, 4, 2]),
        ([3, "100%"], 2, [2]),
        ([5], 3, [3]),
        (["100%"], 8, [8]),
        ([1, 2], 0, []),
    ],
)
def test_batch_sizes_follow_ansible_serial(spec: list[int | str], total: int, sizes: list[int]) -> None:
    """Each entry sizes the next batch, shares are of all hosts rounded down (min 1), the last repeats."""
    assert batch_sizes(spec, total) == sizes


@settings(max_examples=200, deadline=None)
@given(
    spec=st.lists(
        st.one_of(st.integers(1, 20), st.integers(1, 100).map(lambda p: f"{p}%")),
        min_size=1,
        max_size=5,
    ),
    total=st.integers(0, 200),
)
def test_batch_sizes_cover_every_host_once(spec: list[int | str], total: int) -> None:
    """Whatever the spec, batches are non-empty and together hold each host exactly once."""
    sizes = batch_sizes(spec, total)
    assert sum(sizes) == total
    assert all(s >= 1 for s in sizes)
    if total:
        first = spec[0]
        want = first if isinstance(first, int) else max(1, math.floor(total * int(first[:-1]) / 100))
        assert sizes[0] == min(want, total)


@pytest.mark.parametrize(
    ("written", "parsed"),
    [
        ([1, "25%", "100%"], [1, "25%", "100%"]),
        ("100%", ["100%"]),
        (2, [2]),
        (["3", " 50% ", "50.0%"], [3, "50%", "50%"]),
        (["0.5%"], ["0.5%"]),
    ],
)
def test_batch_spec_normalises(written: object, parsed: list[int | str]) -> None:
    """A scalar becomes a one-entry list, counts written as text become ints, shares are tidied."""
    assert _batches.validate_python(written) == parsed


@pytest.mark.parametrize("bad", [0, -1, "0%", "150%", "abc", "", [], [1, None], True, [1, "x%"], {"a": 1}])
def test_batch_spec_rejects_bad_sizes(bad: object) -> None:
    """Zero, negative, over 100%, words, empty and non-lists are errors, not silent defaults."""
    with pytest.raises(ValidationError):
        _batches.validate_python(bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        (" 10 s ", 10.0),
        (5, 5.0),
        (0, 0.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration_reads_units(text: object, seconds: float) -> None:
    """Durations read as ms/s/m/h/d with parts added up, or a plain number of seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["3x", "-1s", -1, "", "s", "1.5.2s", "1h 30m x", True, None, float("inf"), [1]])
def test_parse_duration_rejects_garbage(bad: object) -> None:
    """Unknown units, negatives, non-finite and non-scalar values raise ValueError with an example."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (30, "30s"), (90, "1m30s"), (3600, "1h"), (3661, "1h1m1s"), (7260, "2h1m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    """Durations print in the same units the runbook is written in."""
    assert format_duration(seconds) == text


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10 * 86400))
def test_format_then_parse_round_trips(seconds: int) -> None:
    """What golive prints as a duration reads back as the same number of seconds."""
    assert parse_duration(format_duration(seconds)) == seconds
