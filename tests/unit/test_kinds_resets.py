"""Reset times from the words the clients print, against a fixed clock in Berlin (UTC+1 in December)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from fleetctl.kinds import parse_reset

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 14:00 in Berlin
T = NOW.timestamp()


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Please try again in 5s.", T + 5),
        ("Rate limit reached for gpt-4o-mini ... Please try again in 6ms.", T + 0.006),
        ("try again in 1m30s", T + 90),
        ("retry after 120s", T + 120),
        ("Retry-After: 120", T + 120),
        ("retry after 120", T + 120),
        ("✻ API error · Retrying in 19s · attempt 6/10", T + 19),
        ("Retrying in 0.2 seconds...", T + 0.2),
        ("Your quota will reset after 2h14m5s.", T + 2 * 3600 + 14 * 60 + 5),
        ("resets in 2 hours and 10 minutes", T + 2 * 3600 + 600),
        # codex: U+2019 apostrophe, local time, later today
        ("■ You’ve hit your usage limit. Upgrade to Pro or try again at 8:18 PM.", at("2026-12-01T20:18+01:00")),
        (
            "ERROR: You’ve hit your usage limit. … try again at 12:59 PM.",
            at("2026-12-02T12:59+01:00"),
        ),  # passed: tomorrow
        ("try again at 8:00 PM", at("2026-12-01T20:00+01:00")),
        ("try again at 8:00 p.m.", at("2026-12-01T20:00+01:00")),
        ("try again at 12:30 AM", at("2026-12-02T00:30+01:00")),
        ("You will regain access on 2026-12-03 at 00:00 UTC.", at("2026-12-03T00:00+00:00")),
        ("limit resets on 2026-12-03T08:30:00Z", at("2026-12-03T08:30+00:00")),
        ("available on 2026-12-03 at 9am (America/New_York)", at("2026-12-03T09:00-05:00")),
        ("5-hour limit reached ∙ resets 8pm (Europe/Berlin)", at("2026-12-01T20:00+01:00")),
        ("resets 8pm (America/New_York)", at("2026-12-01T20:00-05:00")),
        ("Your limit will reset at 3pm (UTC)", at("2026-12-01T15:00+00:00")),
        ("resets at 15:00", at("2026-12-01T15:00+01:00")),
        ("resets at 09:15", at("2026-12-02T09:15+01:00")),
        ("resets 14:00", at("2026-12-02T14:00+01:00")),  # exactly now: the next one
        ("resets at 23:59 +02:00", at("2026-12-01T23:59+02:00")),
        # codex, when the reset is another day: month, day, year, local clock
        ("… purchase more credits or try again at Dec 6th, 2026 2:21 AM.", at("2026-12-06T02:21+01:00")),
        ("try again at Jan 2nd 3pm", at("2027-01-02T15:00+01:00")),  # no year: the next Jan 2nd
        ('{"type":"error","resets_at": 1764806400}', 1764806400.0),
        ("resets_at=1764806400123", 1764806400.123),
        ("Claude AI usage limit reached|1764806400", 1764806400.0),
    ],
)
def test_reset_phrasings(text: str, expected: float) -> None:
    assert parse_reset(text, NOW, BERLIN) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "API Error: 500 Internal server error",
        "resets 3 times",
        "try again later",
        "try again at 25:00",
        "resets at 13pm",
        "resets 8pm (Mars/Olympus_Mons)",
        "attempt 6/10",
    ],
)
def test_no_reset_time(text: str) -> None:
    assert parse_reset(text, NOW, BERLIN) is None


def test_a_clock_time_is_read_in_the_local_zone_given() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")  # 22:00 there: 8 PM has passed, so tomorrow
    assert parse_reset("try again at 8:00 PM", NOW, tokyo) == at("2026-12-02T20:00+09:00")


def test_a_kind_pattern_is_tried_first() -> None:
    extra = [re.compile(r"cool down for (?P<in>\S+)"), re.compile(r"back at (?P<at>\d+:\d+)")]
    assert parse_reset("cool down for 2m; try again in 5s", NOW, BERLIN, extra) == T + 120
    assert parse_reset("back at 16:30", NOW, BERLIN, extra) == at("2026-12-01T16:30+01:00")


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        parse_reset("try again in 5s", datetime(2026, 12, 1, 13, 0), BERLIN)
