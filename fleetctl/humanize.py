"""Numbers for people, shared by the CLI and the TUI (neither may import the other)."""

from __future__ import annotations


def duration(seconds: float | None, unknown: str = "-") -> str:
    """Compact and fixed-width-ish: 9s, 4m05s, 3h02m, 2d04h."""
    if seconds is None:
        return unknown
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
