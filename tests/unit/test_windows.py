"""Change windows and freezes on fake time: golive.windows is pure, so ``now`` is a parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from golive.windows import Schedule, WindowError, WindowSet, parse_freeze, parse_tz, parse_window

BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC_ZONE = ZoneInfo("UTC")


def ws(*specs: str, tz: ZoneInfo = UTC_ZONE, source: str = "runbook") -> WindowSet:
    return WindowSet(specs=tuple(parse_window(s) for s in specs), tz=tz, source=source)


def at(text: str, tz: ZoneInfo = UTC_ZONE) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def test_inside_a_window_it_is_open_and_says_when_it_closes() -> None:
    """Saturday 02:00 Shanghai is inside "Sat 01:00-05:00": open, closing at 05:00 Shanghai."""
    s = Schedule(windows=(ws("Sat 01:00-05:00", tz=SHANGHAI),)).status(at("2026-12-05T02:00", SHANGHAI))
    assert s.open
    assert s.closes_at == at("2026-12-05T05:00", SHANGHAI).astimezone(UTC)


def test_outside_a_window_it_is_closed_and_names_the_next_opening() -> None:
    """On a Wednesday the Saturday window is closed; the next opening is Saturday 01:00 in its zone."""
    s = Schedule(windows=(ws("Sat 01:00-05:00", tz=SHANGHAI),)).status(at("2026-12-02T10:00", SHANGHAI))
    assert not s.open
    assert s.next_open == at("2026-12-05T01:00", SHANGHAI).astimezone(UTC)
    assert "Sat 01:00-05:00 Asia/Shanghai" in s.reason


def test_a_range_across_midnight_belongs_to_the_day_it_starts() -> None:
    """Window "Mon-Fri 22:00-02:00" is open Saturday 01:00 (Friday's) and closed Monday 01:00 (Sunday has none)."""
    sched = Schedule(windows=(ws("Mon-Fri 22:00-02:00"),))
    sat = sched.status(at("2026-12-05T01:00"))  # 2026-12-05 is a Saturday
    assert sat.open and sat.closes_at == at("2026-12-05T02:00")
    mon = sched.status(at("2026-12-07T01:00"))
    assert not mon.open and mon.next_open == at("2026-12-07T22:00")


def test_daily_and_day_lists() -> None:
    """The day field "daily" is every day; "Fri-Mon" wraps over the weekend; a list of days is their union."""
    assert parse_window("daily 00:00-06:00").days == frozenset(range(7))
    assert parse_window("Fri-Mon 10:00-11:00").days == frozenset({4, 5, 6, 0})
    assert parse_window("Mon,Wed 10:00-11:00").days == frozenset({0, 2})


def test_a_window_in_the_hour_the_clock_skips_never_opens() -> None:
    """On 2026-03-29 Berlin jumps from 02:00 to 03:00: "Sun 02:00-03:00" is closed all that night."""
    sched = Schedule(windows=(ws("Sun 02:00-03:00", tz=BERLIN),))
    s = sched.status(datetime(2026, 3, 29, 1, 0, 30, tzinfo=UTC))  # 03:00:30 CEST, just past the jump
    assert not s.open
    assert s.next_open == at("2026-04-05T02:00", BERLIN).astimezone(UTC)


def test_a_window_across_the_spring_forward_jump_is_an_hour_shorter() -> None:
    """Window "Sun 01:00-04:00" on 2026-03-29 in Berlin lasts 2 hours of real time: 00:00 to 02:00 UTC."""
    o = ws("Sun 01:00-04:00", tz=BERLIN).current(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    assert o is not None
    assert (o.start, o.end) == (datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 2, 0, tzinfo=UTC))


def test_a_window_starting_in_the_skipped_hour_opens_when_the_clock_jumps() -> None:
    """Window "Sun 02:30-04:00" on 2026-03-29 in Berlin opens at 03:00 CEST (01:00 UTC), when 02:30 is passed."""
    o = ws("Sun 02:30-04:00", tz=BERLIN).current(datetime(2026, 3, 29, 1, 10, tzinfo=UTC))
    assert o is not None and o.start == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_a_window_across_the_fall_back_change_is_an_hour_longer() -> None:
    """On 2026-10-25 Berlin's 02:00-03:00 happens twice: "Sun 02:00-03:00" is open two real hours."""
    o = ws("Sun 02:00-03:00", tz=BERLIN).current(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert o is not None
    assert o.end - o.start == timedelta(hours=2)


def test_a_freeze_overrides_an_open_window() -> None:
    """Inside an open window but during a freeze: closed, the reason is the freeze, next opening after it."""
    freeze = parse_freeze({"from": date(2026, 12, 20), "to": date(2026, 12, 27), "reason": "holidays"}, UTC)
    sched = Schedule(windows=(ws("daily 00:00-06:00"),), freezes=(freeze,))
    s = sched.status(at("2026-12-24T01:00"))
    assert not s.open and s.freeze == freeze and "holidays" in s.reason
    assert s.next_open == at("2026-12-28T00:00")  # the freeze covers the 27th whole


def test_an_open_window_closes_early_for_an_upcoming_freeze() -> None:
    """A freeze starting inside the current opening is when the run must stop."""
    freeze = parse_freeze({"from": "2026-12-02T03:00", "to": "2026-12-02T04:00"}, UTC)
    s = Schedule(windows=(ws("daily 00:00-06:00"),), freezes=(freeze,)).status(at("2026-12-02T01:00"))
    assert s.open and s.closes_at == at("2026-12-02T03:00")


def test_runbook_and_env_windows_must_both_be_open() -> None:
    """Runbook "daily 01:00-05:00" and env "daily 04:00-08:00": open only 04:00-05:00."""
    sched = Schedule(windows=(ws("daily 01:00-05:00"), ws("daily 04:00-08:00", source="env")))
    early = sched.status(at("2026-12-02T02:00"))
    assert not early.open and "env window" in early.reason and early.next_open == at("2026-12-02T04:00")
    both = sched.status(at("2026-12-02T04:30"))
    assert both.open and both.closes_at == at("2026-12-02T05:00")


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("Sam 01:00-05:00", "unknown day 'Sam'"),
        ("Sat 25:00-05:00", "no such time '25:00'"),
        ("Sat 01:00-01:00", "starts and ends at 01:00"),
        ("Saturday night", "is not a window"),
    ],
)
def test_bad_specs_are_refused_with_a_fix(spec: str, words: str) -> None:
    """Each malformed spec raises WindowError naming the problem and a fix."""
    with pytest.raises(WindowError) as got:
        parse_window(spec)
    assert words in got.value.message and got.value.fix


def test_unknown_zone_and_backwards_freeze_are_refused() -> None:
    """An unknown zone name and a freeze that ends before it starts are WindowErrors."""
    with pytest.raises(WindowError, match="unknown time zone"):
        parse_tz("Mars/Olympus")
    with pytest.raises(WindowError, match="before it starts"):
        parse_freeze({"from": "2026-12-20", "to": "2026-12-19"}, UTC)


def test_the_plan_view_says_closed_and_the_next_opening_in_both_zones() -> None:
    """The plan's schedule lines name the closed window and the next opening in its zone and UTC."""
    from golive.plan import schedule_info
    from golive.report.plan_view import schedule_lines

    sched = Schedule(windows=(ws("Sat 01:00-05:00", tz=SHANGHAI),))
    lines = schedule_lines(schedule_info(sched, at("2026-12-02T10:00", SHANGHAI)), estimate_s=60)
    assert "window CLOSED now" in lines[1]
    assert "Sat 2026-12-05 01:00 Asia/Shanghai (2026-12-04 17:00 UTC)" in lines[1]
