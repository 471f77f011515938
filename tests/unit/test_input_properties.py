"""Whatever an operator types, the parsers of golive's small languages answer with a value or
their own input error: never another exception (which the CLI would show as a traceback)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from golive.cli.app import parse_params
from golive.errors import RunbookError
from golive.runbook.types import _parse_batches, batch_sizes, format_duration, parse_duration
from golive.windows import WindowError, parse_tz, parse_window

# Text near the languages' own alphabets finds more edge cases than arbitrary unicode alone.
near_duration = st.text(alphabet="0123456789.mshd -+e", max_size=12)
near_batch = st.one_of(st.text(alphabet="0123456789.% -", max_size=8), st.integers(-5, 500), st.booleans())
near_window = st.text(alphabet="MonTueWdThFriSatSun-,:0123456789 daily", max_size=30)
anything = st.one_of(
    st.text(max_size=30), st.integers(), st.floats(), st.none(), st.booleans(), st.lists(st.integers())
)


@given(st.one_of(near_duration, anything))
def test_a_duration_parses_to_a_finite_non_negative_number_or_is_refused(value: object) -> None:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        assert "duration" in str(exc)
        return
    assert seconds >= 0 and seconds == seconds and seconds != float("inf")


@given(st.floats(0, 10 * 86400, allow_nan=False))
def test_a_formatted_duration_parses_back_within_rounding(seconds: float) -> None:
    assert abs(parse_duration(format_duration(seconds)) - seconds) <= 0.5


@given(st.one_of(st.lists(near_batch, max_size=5), near_batch, anything))
@example("¹")  # str.isdigit() is true of it, int() refuses it: once a traceback
def test_a_batch_spec_parses_to_sizes_covering_every_host_once_or_is_refused(value: object) -> None:
    try:
        spec = _parse_batches(value)
    except ValueError as exc:
        assert "batch" in str(exc)
        return
    for total in (1, 7, 100):
        sizes = batch_sizes(spec, total)
        assert sum(sizes) == total and all(s >= 1 for s in sizes)


@given(st.lists(st.text(max_size=20), max_size=4))
def test_params_parse_to_key_value_pairs_or_are_refused(items: list[str]) -> None:
    try:
        params = parse_params(items)
    except RunbookError as exc:
        assert "malformed param" in str(exc)
        return
    for item in items:
        key = item.partition("=")[0]
        assert key.strip() in params
    assert all(isinstance(v, str) for v in params.values())


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=10), st.text(max_size=10))
def test_a_param_value_is_kept_exactly_as_typed(key_tail: str, value: str) -> None:
    key = "k" + "".join(c for c in key_tail if c.isascii() and (c.isalnum() or c == "_"))
    assert parse_params([f"{key}={value}"]) == {key: value}


@given(st.one_of(near_window, st.text(max_size=30)))
def test_a_window_parses_or_is_refused_with_a_fix(text: str) -> None:
    try:
        spec = parse_window(text)
    except WindowError as exc:
        assert exc.args and str(exc)
        return
    assert spec.days and spec.start != spec.end


@given(st.text(max_size=40))
def test_a_time_zone_name_resolves_or_is_refused_with_a_fix(name: str) -> None:
    try:
        parse_tz(name)
    except WindowError:
        return


@pytest.mark.parametrize("text", ["Sat 01:00-05:00", "Mon-Fri 22:00-02:00", "daily 00:00-23:59"])
def test_windows_operators_write_parse(text: str) -> None:
    assert parse_window(text).text == text


@given(st.one_of(st.text(alphabet="0123456789.:[]ab¹٣ ", max_size=16), st.text(max_size=20)))
@example("host:¹")
def test_a_tcp_address_parses_to_a_host_and_a_port_or_is_refused(text: str) -> None:
    from golive.checks.tcp import parse_address

    try:
        host, port = parse_address(text)
    except ValueError as exc:
        assert "address" in str(exc)
        return
    assert host and 0 < port < 65536
