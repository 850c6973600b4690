"""Durations and sizes as people write them, one grammar for the fleet file and the CLI.

Durations: a number with ms, s, m, h or d ("250ms", "1.5h", "2d"), or plain seconds.
Sizes: a whole number with B, KB, MB or GB (1024-based, case-insensitive), or plain bytes.
`--since` also takes a local date and time ("2026-01-01T22:00"). Every error names the value
and shows the accepted forms.
"""

from __future__ import annotations

import re
from datetime import datetime

from fleetctl.errors import UsageError

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(b|kb|k|mb|m|gb|g)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}
_ISO_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
DURATION_FORMS = '"250ms", "90s", "30m", "12h", "2d" or plain seconds'
SIZE_FORMS = '"512KB", "10MB", "1GB" or plain bytes'
FORMS = '"30m", "12h", "2d", "90s", "250ms", "2026-01-01", "2026-01-01T22:00" or "2026-01-01 22:00:00"'


def duration(value: object) -> float:
    """Seconds in a duration: "250ms", "10s", "5m", "2h", "1d", or a plain number of seconds.

    Raises ValueError (the caller names the field and the accepted forms).

    >>> duration("1.5h")
    5400.0
    """
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(value)
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[(m.group(2) or "s").lower()]
    raise ValueError(value)


def size(value: object) -> int:
    """Bytes in a size: "512KB", "10MB", "1GB", or a plain positive number of bytes."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m and int(m.group(1)) > 0:
            return int(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]
    raise ValueError(value)


def parse_since(text: str, now: float) -> float:
    """The epoch time `text` names: a duration ago (with its unit), or a local date/time.

    >>> parse_since("12h", 100_000.0)
    56800.0
    """
    value = text.strip()
    if _DURATION_RE.match(value) and not value.replace(".", "", 1).isdigit():
        return now - duration(value)
    when = None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        for fmt in _ISO_FORMATS:
            try:
                when = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if when is None or not value:
        raise UsageError(f"--since {text!r}: not a duration or date", hint=f"use one of {FORMS}")
    return when.timestamp() if when.tzinfo is None else when.astimezone().timestamp()


def parse_interval(text: str) -> float:
    """A duration given on the command line, in seconds; UsageError otherwise."""
    try:
        return duration(text)
    except ValueError:
        raise UsageError(f"{text!r}: not a duration", hint=f"use {DURATION_FORMS}") from None
