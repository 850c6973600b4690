"""The fleet file's TOML, parsed once per content: later commands read the parse back as JSON.

Why: tomllib and the typing module it imports cost `fleetctl status` some 5 ms at every call,
more than reading the whole fleet. The cache is keyed by the SHA-256 of the file's text, so an
edited file is parsed afresh and an entry can never be stale; a missing, unreadable or corrupt
entry is simply parsed again. It lives in $XDG_CACHE_HOME/fleetctl (default ~/.cache), 0700.
Validation is not cached: spec.py checks the data every time, so errors read the same.
"""

from __future__ import annotations

import json
import os

from fleetctl.model import digest

KEEP_ENTRIES = 64  # older entries (files since edited) are removed when a new one is written

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every command milliseconds
if TYPE_CHECKING:
    from typing import Any


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fleetctl", "toml")


def loads(text: str) -> dict[str, Any]:
    """tomllib.loads(text), from the cache when this text was parsed before (raises ValueError on bad TOML)."""
    directory = cache_dir()
    entry = os.path.join(directory, f"{digest(text)}.json")
    try:
        with open(entry, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict):
            return data
    except (OSError, ValueError):
        pass
    import tomllib

    data = tomllib.loads(text)
    _store(directory, entry, data)
    return data


def _store(directory: str, entry: str, data: dict[str, Any]) -> None:
    """Best effort: a cache that cannot be written (read-only home, odd values) costs only speed."""
    try:
        payload = json.dumps(data, allow_nan=True)
    except (TypeError, ValueError):  # TOML dates and times have no JSON form: parse such a file each time
        return
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        tmp = f"{entry}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(payload)
        os.replace(tmp, entry)
        _prune(directory)
    except OSError:
        return


def _prune(directory: str) -> None:
    with os.scandir(directory) as it:
        entries = [(e.stat().st_mtime, e.path) for e in it if e.name.endswith(".json")]
    for _, path in sorted(entries)[: max(0, len(entries) - KEEP_ENTRIES)]:
        os.unlink(path)
