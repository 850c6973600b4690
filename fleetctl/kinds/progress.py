"""Whether a working screen made progress: two screens compared with what moves by itself masked.

A client waiting on a hung API call keeps a spinner turning and an elapsed-time counter ticking,
so its pane changes every second while nothing happens. Spinner glyphs, elapsed times and clocks
(and a kind's own `progress_ignore` regexes) are masked before the screens are compared; text
that is really new (output, a tool call, a token count) still counts. Pure.
"""

from __future__ import annotations

import hashlib
import re

from fleetctl.kinds.model import Kind

# Braille spinners (Claude Code's title, many CLIs), Claude Code's asterisks, aider's and others'
# bar and circle spinners, the ASCII | / - \ spinner.
_SPINNER = re.compile(r"[\u2800-\u28ff✻✶✳✢✽✺✹✸✷✦✧·*░▒▓█◐◓◑◒◴◷◶◵●○◉|/\\-]")
# Elapsed times and countdowns: "12s", "1m 30s", "0.4 seconds", "3m05s", "00:12", "1:02:03".
_ELAPSED = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:ms|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?)\b(?:\s*\d+\s*s\b)?"
    r"|\b\d{1,2}:\d{2}(?::\d{2})?\b",
    re.IGNORECASE,
)


def masked(kind: Kind, screen: str) -> str:
    """The screen without what changes by itself: the kind's progress_ignore, elapsed times, spinners."""
    lines = []
    for line in screen.splitlines():
        for pattern in kind.progress_ignore:
            line = pattern.sub("", line)
        line = _SPINNER.sub("", _ELAPSED.sub("#", line))
        if line.strip():
            lines.append(" ".join(line.split()))
    return "\n".join(lines)


def digest(kind: Kind, screen: str) -> str:
    """A short fingerprint of the masked screen: equal fingerprints mean no progress."""
    return hashlib.blake2b(masked(kind, screen).encode(), digest_size=8).hexdigest()
