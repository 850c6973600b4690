"""The tasks counted as "no pool can take" are exactly those no pool's dispatch claims
(checked against the real claim query on a real SQLite file)."""

from __future__ import annotations

from pathlib import Path

from fleetctl.model import PoolSpec
from fleetctl.store import NewTask, StateStore
from fleetctl.taskmatch import queued_unmatched, unmatched, why_unmatched

POOLS = (
    PoolSpec(name="fix", command="x", labels=("bug", "crash")),
    PoolSpec(name="docs", command="x", labels=("docs",)),
)
TASKS = [
    ("a crash", ("crash",), None),
    ("docs and a bug", ("docs", "bug"), None),
    ("a question", ("question",), None),
    ("unlabelled", (), None),
    ("for docs by name", ("question",), "docs"),
]


def test_unmatched_is_what_no_pool_claims(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.add_tasks([NewTask(title=t, labels=labels, pool=pool) for t, labels, pool in TASKS], 1.0)
    lost = {t.title for t in unmatched(store.tasks(state="queued"), POOLS)}
    assert lost == {"a question", "unlabelled"}
    count, ids = queued_unmatched(store, POOLS)
    assert count == 2 and [store.task(i).title for i in ids] == ["a question", "unlabelled"]  # type: ignore[union-attr]
    assert queued_unmatched(store, POOLS, limit=1) == (2, ids[:1])
    claimed = set()
    for pool in POOLS:
        while task := store.claim_task(now=2.0, lease=60, max_attempts=3, pool=pool.name, labels=pool.labels):
            claimed.add(task.title)
    assert claimed == {t for t, _, _ in TASKS} - lost
    assert {t.title for t in store.tasks(state="queued")} == lost


def test_a_pool_without_labels_takes_every_unassigned_task(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.add_tasks([NewTask(title="anything", labels=("whatever",))], 1.0)
    assert unmatched(store.tasks(), (*POOLS, PoolSpec(name="any", command="x"))) == []
    assert queued_unmatched(store, (*POOLS, PoolSpec(name="any", command="x"))) == (0, [])
    assert queued_unmatched(store, ()) == (0, [])
    assert unmatched(store.tasks(), ()) == []  # no pools: the backlog is for `task next`
    (task,) = unmatched(store.tasks(), POOLS)
    assert why_unmatched(task, POOLS) == (
        f"task {task.id}: no pool takes its labels (whatever); fix takes bug, crash; docs takes docs"
    )
