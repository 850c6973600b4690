"""Whether other local users can read the fleet's state dir.

Its database holds the fleet's events, tasks and messages, and its runs/ and logs/ what the
agents printed: a state dir made before fleetctl created it 0700 keeps its old mode, so each
command that opens it says so. One stat and no other import: `status` pays only that.
"""

from __future__ import annotations

from pathlib import Path


def state_dir_warning(path: Path) -> str | None:
    """A line for `doctor` and every command that opens the state dir when other users may
    read it, else None (also when it does not exist yet: it is created 0700)."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    if not mode & 0o077:
        return None
    who = " and ".join(w for w, bits in (("group", 0o070), ("other users", 0o007)) if mode & bits)
    return (
        f"state dir {path} is open to {who} (mode {mode:04o}): its database holds the fleet's events, "
        f"tasks and messages; run `chmod 700 {path}`"
    )
