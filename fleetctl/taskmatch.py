"""Which pool can take a task: the rule `claim_task` applies, for warnings and counts.

A task names its pool, or carries labels that one pool's `labels` share, or goes to a pool
without labels (which takes any unassigned task). A task no pool can take stays queued
until an outside claimer (`fleetctl task next`) takes it: people are told, not surprised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from fleetctl.model import PoolSpec, Task

if TYPE_CHECKING:
    from fleetctl.runtime.context import Runtime
    from fleetctl.store import StateStore

SHOWN_IDS = 20


def takes(pool: PoolSpec, task: Task) -> bool:
    """Would this pool's dispatch claim the task (the SQL in store.tasks.claim_task)?"""
    if task.pool is not None:
        return task.pool == pool.name
    return not pool.labels or bool(set(pool.labels) & set(task.labels))


def unmatched(tasks: Iterable[Task], pools: Sequence[PoolSpec]) -> list[Task]:
    """The tasks no pool takes; none when the fleet has no pools (the backlog is for `task next`)."""
    if not pools:
        return []
    return [t for t in tasks if not any(takes(p, t) for p in pools)]


def why_unmatched(task: Task, pools: Sequence[PoolSpec]) -> str:
    """One line for a person: what the task carries and what the pools take."""
    offered = "; ".join(f"{p.name} takes {', '.join(p.labels)}" for p in pools if p.labels)
    if task.pool is not None:
        return (
            f"task {task.id}: pool {task.pool!r} is not in the fleet file (pools: {', '.join(p.name for p in pools)})"
        )
    labels = ", ".join(task.labels) if task.labels else "none"
    return f"task {task.id}: no pool takes its labels ({labels}); {offered}"


def warnings(fleet: Runtime, ids: Sequence[int]) -> list[str]:
    """`warning: ...` lines for the just-added tasks (by id) that no pool of the fleet takes."""
    pools = fleet.spec.pools
    if not pools or not ids:
        return []
    tasks = [t for t in (fleet.store.task(i) for i in dict.fromkeys(ids)) if t is not None]
    return [f"warning: {why_unmatched(t, pools)}; it stays queued" for t in unmatched(tasks, pools)]


def queued_unmatched(store: StateStore, pools: Sequence[PoolSpec], limit: int = SHOWN_IDS) -> tuple[int, list[int]]:
    """(how many queued tasks no pool takes, the first `limit` ids), in one query each.

    The same rule as `takes`, in SQL: `status` runs it on every call, and reading a backlog
    of 20,000 queued tasks into records to test them takes most of a second.
    """
    if not pools or not store.exists():
        return 0, []
    names = [p.name for p in pools]
    where = f"t.state = 'queued' AND ((t.pool IS NOT NULL AND t.pool NOT IN ({','.join('?' * len(names))}))"
    params: list[object] = list(names)
    if all(p.labels for p in pools):  # a pool without labels takes every unassigned task
        labels = sorted({label for p in pools for label in p.labels})
        where += (
            " OR (t.pool IS NULL AND NOT EXISTS (SELECT 1 FROM task_labels l WHERE l.task_id = t.id "
            f"AND l.label IN ({','.join('?' * len(labels))})))"
        )
        params += labels
    where += ")"
    count = store.database.rows(f"SELECT count(*) FROM tasks t WHERE {where}", params)[0][0]
    ids = [
        r[0]
        for r in store.database.rows(f"SELECT t.id FROM tasks t WHERE {where} ORDER BY t.id LIMIT ?", (*params, limit))
    ]
    return int(count), [int(i) for i in ids]
