"""When a limit lifts, read from the words a client prints: "try again in 1m30s", "try again at 12:59 PM",
"You will regain access on 2026-12-03 at 00:00 UTC", "resets 8pm (Europe/Berlin)", `"resets_at": 1764806400`.

Pure: `now` and the local time zone are passed in, so tests use a fixed clock. A clock time without a
date is the next such time: today if it is still ahead, else tomorrow.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

_UNITS = {
    "ms": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_UNIT = r"(?:ms|milliseconds?|secs?|seconds?|s|mins?|minutes?|m|hrs?|hours?|h|days?|d)"
_PART = rf"\d+(?:\.\d+)?\s*{_UNIT}(?![a-z])"
_DURATION = rf"(?:{_PART}(?:\s*,?\s*(?:and\s+)?{_PART})*)"
_PART_RE = re.compile(rf"(\d+(?:\.\d+)?)\s*({_UNIT})(?![a-z])", re.I)

# "try again in 5s", "Retrying in 19s", "retry after 120s", "retry after 120", "Retry-After: 120",
# "resets in 2h 10m", "wait 30 seconds".
_RELATIVE = re.compile(
    rf"(?:try\s+again|retry(?:ing)?|resets?|wait|available)\s+(?:in|after)\s+(?P<dur>{_DURATION})"
    rf"|(?:retry[\s-]+after|wait)\s*:?\s*(?:(?P<dur2>{_DURATION})|(?P<bare>\d+(?:\.\d+)?)\b)",
    re.I,
)
# `"resets_at": 1764806400`, `resets_at=1764806400123` (ms), Claude Code's `usage limit reached|1764806400`.
_EPOCH = re.compile(
    r"(?:reset(?:s)?_?at[\"']?\s*[:=]\s*[\"']?|limit reached\|)(?P<epoch>\d{10}(?:\d{3})?(?:\.\d+)?)\b", re.I
)
# "2026-12-03 at 00:00 UTC", "2026-12-03T00:00:00Z", "on 2026-12-03 at 8pm (Europe/Berlin)"
_ZONE = r"\(?(?P<zone>UTC|GMT|Z|[+-]\d{2}:?\d{2}|[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+)\)?(?![A-Za-z])"
_CLOCK = r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?(?::(?P<second>\d{2}))?\s*(?P<half>[ap]\.?m\.?)?"
_DATED = re.compile(
    rf"(?P<date>\d{{4}}-\d{{2}}-\d{{2}})(?:\s+at\s+|T|\s+){_CLOCK}(?:\s*{_ZONE})?",
    re.I,
)
# codex past today: "try again at Dec 6th, 2026 2:21 AM" (the year may be left out: the next such day).
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_SPELT = re.compile(
    rf"\b(?P<month>{'|'.join(_MONTHS)})[a-z]*\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+"
    rf"(?:(?P<year>\d{{4}}),?\s+)?(?:at\s+)?{_CLOCK}(?:\s*{_ZONE})?(?![\d:])",
    re.I,
)
# "try again at 12:59 PM", "resets 8pm (Europe/Berlin)", "resets at 15:00", "reset at 3pm".
_AT = re.compile(
    rf"(?:try\s+again|resets?|regain\s+access|available(?:\s+again)?|until)\s+(?:at\s+)?{_CLOCK}"
    rf"(?:\s*{_ZONE})?(?![\d:])",
    re.I,
)


def parse_reset(
    text: str,
    now: datetime,
    local_tz: tzinfo,
    extra: Sequence[re.Pattern[str]] = (),
) -> float | None:
    """The epoch time the text says a limit lifts, or None when it names none.

    `extra` are a kind's own reset patterns, tried first; each names one group: `in` (a duration such
    as "1m30s"), `at` (a clock time or a date and time, with an optional zone) or `epoch`.
    """
    if now.tzinfo is None:
        raise ValueError("parse_reset needs an aware now")
    for pattern in extra:
        m = pattern.search(text)
        if m:
            found = _from_kind_pattern(m, now, local_tz)
            if found is not None:
                return found
    m = _EPOCH.search(text)
    if m:
        value = float(m.group("epoch"))
        return value / 1000 if value > 1e11 else value
    m = _DATED.search(text)
    if m:
        found = _dated(m, now, local_tz)
        if found is not None:
            return found
    m = _SPELT.search(text)
    if m:
        found = _spelt(m, now, local_tz)
        if found is not None:
            return found
    m = _RELATIVE.search(text)
    if m:
        spelt = m.group("dur") or m.group("dur2")
        seconds = _duration(spelt) if spelt else float(m.group("bare"))
        return now.timestamp() + seconds
    for m in _AT.finditer(text):
        found = _next_clock(m, now, local_tz)
        if found is not None:
            return found
    return None


def _from_kind_pattern(m: re.Match[str], now: datetime, local_tz: tzinfo) -> float | None:
    groups = m.groupdict()
    if groups.get("epoch"):
        value = float(groups["epoch"])
        return value / 1000 if value > 1e11 else value
    if groups.get("in"):
        seconds = _duration(groups["in"])
        return now.timestamp() + seconds if seconds else None
    if groups.get("at"):
        return parse_reset(f"resets at {groups['at']}", now, local_tz) or parse_reset(groups["at"], now, local_tz)
    return None


def _duration(text: str) -> float:
    """'1m30s' -> 90.0; '2 minutes and 5 seconds' -> 125.0."""
    return sum(float(n) * _UNITS[unit.lower()] for n, unit in _PART_RE.findall(text))


def _zone(text: str | None, local_tz: tzinfo) -> tzinfo | None:
    """The zone a message names (None if it names one we cannot find), else the local zone."""
    if not text:
        return local_tz
    name = text.strip("()")
    if name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if m:
        offset = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return timezone(offset if m.group(1) == "+" else -offset)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only for a message that names a zone

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _clock(m: re.Match[str]) -> time | None:
    hour, minute, second = int(m.group("hour")), int(m.group("minute") or 0), int(m.group("second") or 0)
    half = (m.group("half") or "").replace(".", "").lower()
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    elif m.group("minute") is None:
        return None  # "resets 3" is no time; "resets 3pm" and "resets 15:00" are
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def _dated(m: re.Match[str], now: datetime, local_tz: tzinfo) -> float | None:
    clock, zone = _clock(m), _zone(m.group("zone"), local_tz)
    if clock is None or zone is None:
        return None
    try:
        day = date.fromisoformat(m.group("date"))
    except ValueError:
        return None
    return datetime.combine(day, clock, tzinfo=zone).timestamp()


def _spelt(m: re.Match[str], now: datetime, local_tz: tzinfo) -> float | None:
    clock, zone = _clock(m), _zone(m.group("zone"), local_tz)
    if clock is None or zone is None:
        return None
    month, day = _MONTHS.index(m.group("month")[:3].lower()) + 1, int(m.group("day"))
    here = now.astimezone(zone)
    years = [int(m.group("year"))] if m.group("year") else [here.year, here.year + 1]
    for year in years:
        try:
            when = datetime.combine(date(year, month, day), clock, tzinfo=zone)
        except ValueError:
            return None
        if m.group("year") or when > here:
            return when.timestamp()
    return None


def _next_clock(m: re.Match[str], now: datetime, local_tz: tzinfo) -> float | None:
    clock, zone = _clock(m), _zone(m.group("zone"), local_tz)
    if clock is None or zone is None:
        return None
    here = now.astimezone(zone)
    when = datetime.combine(here.date(), clock, tzinfo=zone)
    if when <= here:
        when = datetime.combine(here.date() + timedelta(days=1), clock, tzinfo=zone)
    return when.timestamp()
