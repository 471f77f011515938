"""Change windows and freezes: when a change may run, as pure functions of an aware ``now``.

A window spec is ``"<days> HH:MM-HH:MM"``: days are ``Sat``, ``Mon-Fri`` (a range may
wrap: ``Fri-Mon``), ``Mon,Wed`` or ``daily``. A range whose end is not after its start
crosses midnight and belongs to the day it starts (``Fri 22:00-02:00`` ends Saturday
02:00). Times are wall-clock times in the window's time zone, so DST is the zone's
business: a time the clock skips (02:30 on a spring-forward night) means the moment the
clock jumps past it, an ambiguous time (02:30 on a fall-back night) its first occurrence.
A window 02:00-03:00 on the spring-forward night of Europe/Berlin therefore never opens.
Every instant handed out is in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "Freeze",
    "Opening",
    "Schedule",
    "Status",
    "WindowError",
    "WindowSet",
    "WindowSpec",
    "display_zone",
    "parse_freeze",
    "parse_tz",
    "parse_window",
    "when",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(r"^\s*(?P<days>\S+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")
HORIZON = timedelta(days=400)  # how far ahead the next opening is looked for
_FIX_SPEC = 'write it as "<days> HH:MM-HH:MM", e.g. "Sat 01:00-05:00", "Mon-Fri 22:00-02:00" or "daily 00:00-06:00"'


class WindowError(ValueError):
    """A window, zone or freeze golive cannot read; ``fix`` says how to write it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class WindowSpec:
    text: str
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time


@dataclass(frozen=True)
class Opening:
    start: datetime
    end: datetime


def _day(name: str, text: str) -> int:
    key = name.strip().lower()[:3]
    if key not in DAYS or name.strip().lower() not in (key, _full(key)):
        raise WindowError(
            f"window {text!r}: unknown day {name.strip()!r}", f"days are {', '.join(d.title() for d in DAYS)}"
        )
    return DAYS.index(key)


def _full(key: str) -> str:
    return {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday", "fri": "friday",
            "sat": "saturday", "sun": "sunday"}[key]  # fmt: skip


def _days(field: str, text: str) -> frozenset[int]:
    if field.lower() in ("daily", "*"):
        return frozenset(range(7))
    out: set[int] = set()
    for part in field.split(","):
        first, _, last = part.partition("-")
        a = _day(first, text)
        b = _day(last, text) if last else a
        out.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(out)


def _time(value: str, text: str) -> time:
    hh, mm = (int(x) for x in value.split(":"))
    if hh > 23 or mm > 59:
        raise WindowError(f"window {text!r}: no such time {value!r}", "times are 00:00 to 23:59")
    return time(hh, mm)


def parse_window(text: str) -> WindowSpec:
    """``"Sat 01:00-05:00"`` as a WindowSpec; WindowError says what is wrong."""
    m = _SPEC.match(str(text))
    if m is None:
        raise WindowError(f"window {text!r} is not a window", _FIX_SPEC)
    start, end = _time(m["start"], text), _time(m["end"], text)
    if start == end:
        raise WindowError(
            f"window {text!r} starts and ends at {m['start']}: it would never be open",
            'give it an end after its start, or use "daily 00:00-23:59" for always',
        )
    return WindowSpec(text=str(text), days=_days(m["days"], text), start=start, end=end)


def parse_tz(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        import difflib
        from zoneinfo import available_timezones

        near = difflib.get_close_matches(str(name), sorted(available_timezones()), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise WindowError(
            f"unknown time zone {name!r}", f"{hint}use an IANA name such as UTC, Europe/Berlin or Asia/Shanghai"
        ) from None


def _instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant the wall clock in ``tz`` shows ``at`` on ``day`` (see the module doc for DST)."""
    wall = datetime.combine(day, at, tzinfo=tz)
    first = wall.astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return first  # exists (fold=0 is the first of two when ambiguous)
    # Skipped by the clock: the instant of the jump lies between the two readings of the offset.
    lo, hi = wall.replace(fold=1).astimezone(UTC), first
    lo, hi = min(lo, hi), max(lo, hi)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0)


@dataclass(frozen=True)
class WindowSet:
    """Windows in one time zone; open when any of them is. ``source`` says whose (runbook, env)."""

    specs: tuple[WindowSpec, ...]
    tz: ZoneInfo
    source: str

    def openings(self, since: datetime, until: datetime) -> list[Opening]:
        """Openings that end after ``since`` and start before ``until``, in start order."""
        from dateutil.rrule import DAILY, rrule  # 16 ms: only paid when a window is looked at

        first = since.astimezone(self.tz).date() - timedelta(days=1)
        last = until.astimezone(self.tz).date()
        found = []
        for d in rrule(DAILY, dtstart=datetime.combine(first, time()), until=datetime.combine(last, time())):
            for spec in self.specs:
                if d.weekday() not in spec.days:
                    continue
                end_day = d.date() + timedelta(days=1) if spec.end <= spec.start else d.date()
                o = Opening(_instant(d.date(), spec.start, self.tz), _instant(end_day, spec.end, self.tz))
                if o.end > o.start and o.end > since and o.start < until:
                    found.append(o)
        return _merged(sorted(found, key=lambda o: o.start))

    def current(self, now: datetime) -> Opening | None:
        return next((o for o in self.openings(now, now + timedelta(days=8)) if o.start <= now < o.end), None)

    def next_start(self, now: datetime) -> datetime | None:
        return next((o.start for o in self.openings(now, now + timedelta(days=8)) if o.start > now), None)

    def describe(self) -> str:
        return f"{', '.join(s.text for s in self.specs)} {self.tz.key}"


def _merged(openings: list[Opening]) -> list[Opening]:
    """Overlapping or touching openings as one (``Fri 22:00-02:00`` + ``Sat 02:00-05:00``)."""
    out: list[Opening] = []
    for o in openings:
        if out and o.start <= out[-1].end:
            out[-1] = Opening(out[-1].start, max(out[-1].end, o.end))
        else:
            out.append(o)
    return out


@dataclass(frozen=True)
class Freeze:
    start: datetime
    end: datetime
    reason: str


def _moment(value: object, tz: ZoneInfo, *, end: bool, what: str) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):  # a whole day: from its start, or to its end
        dt = datetime.combine(value + timedelta(days=1) if end else value, time())
    else:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError:
            raise WindowError(
                f"freeze {what}: {value!r} is not a date", "write 2026-12-20 or 2026-12-20T18:00"
            ) from None
        if len(str(value).strip()) == 10 and end:
            dt += timedelta(days=1)
    if dt.tzinfo is None:
        dt = datetime.combine(dt.date(), dt.time(), tzinfo=tz)
    return dt.astimezone(UTC)


def parse_freeze(raw: object, tz: ZoneInfo) -> Freeze:
    """``{from: ..., to: ..., reason: ...}``; a date alone covers that whole day in ``tz``."""
    if not isinstance(raw, dict) or "from" not in raw or "to" not in raw:
        raise WindowError(
            f"freeze {raw!r} needs from: and to:", "write {from: 2026-12-20, to: 2027-01-04, reason: TEXT}"
        )
    unknown = set(raw) - {"from", "to", "reason"}
    if unknown:
        raise WindowError(
            f"freeze has unknown key(s) {', '.join(sorted(map(str, unknown)))}", "keys are from, to, reason"
        )
    start = _moment(raw["from"], tz, end=False, what="from")
    end = _moment(raw["to"], tz, end=True, what="to")
    if end <= start:
        raise WindowError(f"freeze ends ({raw['to']}) before it starts ({raw['from']})", "make to: later than from:")
    return Freeze(start=start, end=end, reason=str(raw.get("reason") or "change freeze"))


@dataclass(frozen=True)
class Status:
    """Whether a change may start at ``now`` and, either way, when that changes."""

    now: datetime
    open: bool
    closes_at: datetime | None  # when open: the first window close or freeze start
    next_open: datetime | None  # when closed: the first moment every window is open and no freeze holds
    freeze: Freeze | None  # the freeze in force now
    reason: str  # why closed ("" when open)


@dataclass(frozen=True)
class Schedule:
    """Every window set must be open, and no freeze in force: a freeze overrides any window."""

    windows: tuple[WindowSet, ...] = ()
    freezes: tuple[Freeze, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.windows or self.freezes)

    def freeze_at(self, now: datetime) -> Freeze | None:
        return next((f for f in self.freezes if f.start <= now < f.end), None)

    def upcoming_freezes(self, now: datetime) -> list[Freeze]:
        return sorted((f for f in self.freezes if f.start > now), key=lambda f: f.start)

    def status(self, now: datetime) -> Status:
        now = now.astimezone(UTC)
        reason = self._closed_reason(now)
        if not reason:
            return Status(now=now, open=True, closes_at=self._closes(now), next_open=None, freeze=None, reason="")
        return Status(
            now=now,
            open=False,
            closes_at=None,
            next_open=self.next_open(now),
            freeze=self.freeze_at(now),
            reason=reason,
        )

    def _closed_reason(self, now: datetime) -> str:
        frozen = self.freeze_at(now)
        if frozen is not None:
            return f"change freeze until {frozen.end:%Y-%m-%d %H:%M} UTC: {frozen.reason}"
        shut = [w for w in self.windows if w.current(now) is None]
        return "; ".join(f"outside the {w.source} window ({w.describe()})" for w in shut)

    def _closes(self, now: datetime) -> datetime | None:
        ends = [o.end for w in self.windows if (o := w.current(now)) is not None]
        ends += [f.start for f in self.freezes if f.start > now]
        return min(ends, default=None)

    def next_open(self, now: datetime) -> datetime | None:
        """Jump to the next opening of whatever is shut until everything is open, within HORIZON."""
        t = now
        while t < now + HORIZON:
            frozen = self.freeze_at(t)
            if frozen is not None:
                t = frozen.end
                continue
            shut = [w for w in self.windows if w.current(t) is None]
            if not shut:
                return t
            starts = [w.next_start(t) for w in shut]
            if any(s is None for s in starts):
                return None  # a window set that never opens (e.g. only a skipped DST hour)
            t = max(s for s in starts if s is not None)
        return None


def when(instant: datetime, tz: ZoneInfo) -> str:
    """``Sat 2026-12-05 01:00 Asia/Shanghai (2026-12-04 17:00 UTC)``: an operator reads both."""
    local = instant.astimezone(tz)
    text = f"{local:%a %Y-%m-%d %H:%M} {tz.key}"
    return text if tz.key == "UTC" else f"{text} ({instant.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"


def display_zone(schedule: Schedule) -> ZoneInfo:
    """The zone an operator thinks in: the first window's (the runbook's), else UTC."""
    return schedule.windows[0].tz if schedule.windows else ZoneInfo("UTC")
