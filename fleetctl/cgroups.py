"""A cgroup v2 subtree per fleet, where this user may make one (root, or a delegated systemd
user scope): each run's wrapper moves itself into `fleetctl-<fleet>/<agent>`, and its
children inherit that. A process that left its group, its tree and its environment (and
whose wrapper was killed, so the subreaper could not keep it) is still listed there, so
`down` finds it. Where no cgroup can be made, there is none: the subreaper and the sweeps
by environment do the job alone.

The fleet's cgroup is found once and its path kept in the state dir (`cgroup`), so every
later command (from cron, from another shell in another cgroup) uses the same one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

RECORD = "cgroup"
PROCS = "cgroup.procs"


def _recorded(state_dir: Path) -> Path | None:
    try:
        text = (state_dir / RECORD).read_text().strip()
    except OSError:
        return None
    return Path(text) if text else None


def ensure(state_dir: Path, fleet: str, own_cgroup: Callable[[], Path | None]) -> Path | None:
    """The fleet's cgroup, made if it can be (None: no cgroup here); `own_cgroup` is the
    process gateway's (the cgroup this process is in)."""
    known = _recorded(state_dir)
    if known is not None and known.is_dir():
        return known
    base = known.parent if known is not None else own_cgroup()
    if base is None:
        return None
    directory = base / f"fleetctl-{fleet}"
    try:
        directory.mkdir(exist_ok=True)
    except OSError:
        return None
    if not os.access(directory / PROCS, os.W_OK):
        with contextlib.suppress(OSError):
            directory.rmdir()
        return None
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (state_dir / RECORD).write_text(f"{directory}\n")
    return directory


def agent_dir(fleet_cgroup: Path, agent: str) -> Path | None:
    """The agent's cgroup under the fleet's, made if missing (None if it cannot be)."""
    directory = fleet_cgroup / agent
    try:
        directory.mkdir(exist_ok=True)
    except OSError:
        return None
    return directory


def pids(state_dir: Path, agents: list[str] | None = None) -> set[int]:
    """Every process in the fleet's cgroup (or in these agents' cgroups)."""
    fleet_cgroup = _recorded(state_dir)
    return set() if fleet_cgroup is None else _listed(fleet_cgroup, agents)


def members(state_dir: Path, agents: list[str]) -> set[int] | None:
    """The processes in these agents' cgroups, or None where the kernel keeps no such list
    (no fleet cgroup, or an agent without one): then only a search of every process will do."""
    fleet_cgroup = _recorded(state_dir)
    if fleet_cgroup is None or not agents or not all((fleet_cgroup / a).is_dir() for a in agents):
        return None
    return _listed(fleet_cgroup, agents)


def _listed(fleet_cgroup: Path, agents: list[str] | None) -> set[int]:
    roots = [fleet_cgroup / a for a in agents] if agents else [fleet_cgroup]
    found: set[int] = set()
    for root in roots:
        for directory, _subdirs, files in os.walk(root):
            if PROCS not in files:
                continue
            with contextlib.suppress(OSError), open(os.path.join(directory, PROCS)) as f:
                found.update(int(line) for line in f if line.strip())
    return found


def remove(state_dir: Path, agents: list[str] | None = None) -> None:
    """Remove the (empty) cgroups of these agents, or the fleet's whole subtree and its record."""
    fleet_cgroup = _recorded(state_dir)
    if fleet_cgroup is None:
        return
    roots = [fleet_cgroup / a for a in agents] if agents else [fleet_cgroup]
    for root in roots:
        for directory, _subdirs, _files in sorted(os.walk(root), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
    if not agents and not fleet_cgroup.exists():
        with contextlib.suppress(OSError):
            (state_dir / RECORD).unlink()
