"""`--since` values -> an epoch time. Relative ("12h") or local wall-clock ("2026-01-01T22:00").

Anything else is a UsageError (exit 2) that shows the accepted forms, so a typo never
silently means "since the epoch" or "since now".
"""

from __future__ import annotations

import re
from datetime import datetime

from fleetctl.errors import UsageError

_RELATIVE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|wk|wks)\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_ISO_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
FORMS = '"30m", "12h", "2d", "90s", "2026-01-01", "2026-01-01T22:00" or "2026-01-01 22:00:00"'


def parse_since(text: str, now: float) -> float:
    """The epoch time `text` names, relative to `now` or as a local date/time.

    >>> parse_since("12h", 100_000.0)
    56800.0
    >>> parse_since("30m", 3600.0)
    1800.0
    """
    value = text.strip()
    m = _RELATIVE_RE.match(value)
    if m:
        return now - float(m.group(1)) * _UNIT_SECONDS[m.group(2)[0].lower()]
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        when = None
    if when is None:
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
    """A relative duration ("5m", "1h", "1d") in seconds; UsageError otherwise."""
    m = _RELATIVE_RE.match(text)
    if not m:
        raise UsageError(f"{text!r}: not a duration", hint='use a number and a unit: "90s", "5m", "2h", "1d"')
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)[0].lower()]
