from __future__ import annotations

from datetime import datetime

import pytest

from fleetctl.errors import UsageError
from fleetctl.timespec import parse_interval, parse_since

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "ago"),
    [("12h", 12 * 3600), ("30m", 1800), ("2d", 2 * 86400), ("90s", 90), (" 1.5h ", 5400), ("500ms", 0.5)],
)
def test_relative(text: str, ago: float) -> None:
    assert parse_since(text, NOW) == NOW - ago


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T22:00", datetime(2026, 1, 1, 22, 0)),
        ("2026-01-01 22:00", datetime(2026, 1, 1, 22, 0)),
        ("2026-01-01 22:00:30", datetime(2026, 1, 1, 22, 0, 30)),
        ("2026-01-01", datetime(2026, 1, 1)),
    ],
)
def test_local_dates(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected.timestamp()


def test_explicit_offset() -> None:
    assert parse_since("2026-01-01T22:00+00:00", NOW) == datetime.fromisoformat("2026-01-01T22:00+00:00").timestamp()


@pytest.mark.parametrize("text", ["", "yesterday", "12", "12x", "-3h", "2026-13-01", "h12", "2026/01/01 22:00"])
def test_unrecognised_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_since(text, NOW)
    assert info.value.exit_code == 2
    assert "--since" in info.value.message and info.value.hint


def test_interval() -> None:
    assert parse_interval("5m") == 300
    with pytest.raises(UsageError):
        parse_interval("2026-01-01")


@pytest.mark.parametrize("text,seconds", [("250ms", 0.25), ("2d", 172800), ("90", 90), ("1.5H", 5400)])
def test_one_grammar_for_the_fleet_file_and_the_cli(text: str, seconds: float) -> None:
    """The fleet file once rejected "2d" and --since "250ms": both now read the same grammar."""
    from fleetctl import spec_keys

    assert spec_keys.parse_duration(text) == seconds
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["1w", "5 minutes", "-1s", "1e3"])
def test_unknown_duration_names_the_value_and_the_forms(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_interval(text)
    assert repr(text) in info.value.message and info.value.hint and '"250ms"' in info.value.hint
