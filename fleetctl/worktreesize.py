"""Disk used by the pools' task worktrees, for `fleetctl doctor`: an overnight run leaves one per task
until they are pruned, and a person should see what they cost before the disk fills.

Counted as `du` does: allocated blocks, each hard-linked file once, symlinks not followed.
"""

from __future__ import annotations

import os
from pathlib import Path

from fleetctl.doctor import Check
from fleetctl.model import FleetSpec
from fleetctl.record import record

LARGEST_SHOWN = 3


@record
class WorktreeSize:
    """One task worktree (`<state dir>/worktrees/<pool>/<task id>`) and the bytes it holds on disk."""

    pool: str
    task: str
    path: Path
    size: int


def measure(root: Path) -> list[WorktreeSize]:
    """Every task worktree under root, largest first."""
    found = []
    try:
        pools = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    for pool in pools:
        try:
            tasks = sorted(t for t in pool.iterdir() if t.is_dir())
        except OSError:
            continue
        found += [WorktreeSize(pool.name, task.name, task, disk_use(task)) for task in tasks]
    return sorted(found, key=lambda w: (-w.size, w.pool, w.task))


def disk_use(path: Path) -> int:
    seen: set[tuple[int, int]] = set()
    total = 0
    for directory, dirs, files in os.walk(path, onerror=lambda _: None):
        for name in (*dirs, *files):
            try:
                st = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def size_text(size: int) -> str:
    """1023 B, 4.0 KiB, 12.3 MiB, 1.5 GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_worktrees(spec: FleetSpec) -> Check | None:
    """The task worktrees' count, total size and the largest few; None when no pool uses worktrees
    and none are left on disk."""
    root = spec.state_dir / "worktrees"
    sizes = measure(root)
    if not sizes:
        if not any(p.workspace == "worktree" for p in spec.pools):
            return None
        return Check("worktrees", True, f"no task worktrees in {root}")
    total = sum(w.size for w in sizes)
    largest = ", ".join(f"{w.pool}/{w.task} {size_text(w.size)}" for w in sizes[:LARGEST_SHOWN])
    count = f"{len(sizes)} task worktree{'s' if len(sizes) != 1 else ''}"
    hint = " (`fleetctl task prune` removes finished ones)"
    return Check("worktrees", True, f"{count}, {size_text(total)} in {root}; largest: {largest}{hint}")
