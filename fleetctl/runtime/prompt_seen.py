"""Did a typed prompt reach the agent's transcript? A client that answers at once (aider against a
fast API) can be back at its prompt before a look sees it `working`; its transcript on disk still
says the prompt arrived."""

from __future__ import annotations

import json
from pathlib import Path

from fleetctl.model import AgentSpec
from fleetctl.runtime.context import Runtime

Mark = tuple[Path, int] | None  # the newest transcript and its size before the prompt was typed
MAX_READ = 4 * 1024 * 1024  # bytes of a transcript read per look


def transcript_mark(rt: Runtime, spec: AgentSpec) -> Mark:
    """Where the agent's newest transcript ends now (None: it has none, or its kind keeps none)."""
    from fleetctl.sessions import start

    found = start.current(rt, spec, rt.now())
    if found is None:
        return None
    try:
        return found.path, found.path.stat().st_size
    except OSError:
        return None


def in_transcript(rt: Runtime, spec: AgentSpec, text: str, mark: Mark) -> bool:
    """Is the prompt's first line in what the agent's newest transcript gained since `mark`?"""
    from fleetctl.sessions import start

    line = next((part.strip() for part in text.splitlines() if part.strip()), "")[:80]
    found = start.current(rt, spec, rt.now())
    if not line or found is None:
        return False
    offset = mark[1] if mark is not None and mark[0] == found.path else 0
    try:
        with found.path.open("rb") as f:
            f.seek(offset)
            added = f.read(MAX_READ).decode("utf-8", "replace")
    except OSError:
        return False
    return line in added or json.dumps(line)[1:-1] in added  # as written, or inside a JSON string
