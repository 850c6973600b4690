"""The backlog, message and breaker queries against both backends (a real SQLite file and a real
PostgreSQL database), and TaskBoard's input checks."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetctl.errors import ConfigError, UsageError
from fleetctl.fleet import Fleet
from fleetctl.model import Breaker, BreakerState, FleetSpec, PoolSpec, TaskState
from fleetctl.store import KeyConflict, NewTask, StateStore
from fleetctl.tasks import TaskBoard

NOW = 1_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    state = StateStore(tmp_path / "state", url)
    yield state
    state.close()


def claim(store: StateStore, now: float = NOW, **kw: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {"now": now, "lease": 60.0, "max_attempts": 3, "agent": "w1"}
    values.update(kw)
    return store.claim_task(**values)  # type: ignore[arg-type]


def test_priority_then_first_in_first_out(store: StateStore) -> None:
    ids = [
        tid
        for tid, _ in store.add_tasks(
            [NewTask("a", priority=2), NewTask("b", priority=0), NewTask("c", priority=2), NewTask("d", priority=0)],
            NOW,
        )
    ]
    order = [claim(store).id for _ in ids]
    assert order == [ids[1], ids[3], ids[0], ids[2]]
    assert claim(store) is None


def test_key_deduplicates_while_open(store: StateStore) -> None:
    [(first, created)] = store.add_tasks([NewTask("a", key="issue-54")], NOW)
    assert created
    assert store.add_tasks([NewTask("again", key="issue-54")], NOW) == [(first, False)]
    task = claim(store)
    assert store.add_tasks([NewTask("while running", key="issue-54")], NOW) == [(first, False)]
    assert store.settle_task(task.id, task.attempt, TaskState.DONE, NOW)
    [(second, created)] = store.add_tasks([NewTask("after done", key="issue-54")], NOW)
    assert created and second != first
    if store.url is None:
        with pytest.raises(Exception, match="key"):  # retrying the first would make two open tasks with one key
            TaskBoard(_fleet(store.state_dir)).retry(first)
    with pytest.raises(KeyConflict):
        store.retry_task(first, NOW)
    assert store.task(first).state is TaskState.DONE  # the refused retry changed nothing


def test_claim_filters_by_pool_and_labels(store: StateStore) -> None:
    ids = [
        tid
        for tid, _ in store.add_tasks(
            [
                NewTask("py", labels=("python",)),
                NewTask("go", labels=("go",)),
                NewTask("mine", pool="coder"),
                NewTask("plain"),
            ],
            NOW,
        )
    ]
    got = claim(store, agent=None, pool="coder", labels=("python",))
    assert got.id == ids[0] and got.agent == f"coder.{ids[0]}"
    assert claim(store, agent=None, pool="coder", labels=("python",)).id == ids[2]
    assert claim(store, agent=None, pool="coder", labels=("python",)) is None  # go and plain do not match
    assert claim(store).id == ids[1]  # no pool: any unassigned task
    assert claim(store, agent=None, pool="other").id == ids[3]  # a pool without labels takes unassigned tasks


def test_lease_expiry_requeues_then_needs_human(store: StateStore) -> None:
    [(tid, _)] = store.add_tasks([NewTask("slow", max_attempts=2)], NOW)
    first = claim(store, max_attempts=2)
    assert first.attempt == 1 and first.lease_until == NOW + 60
    assert claim(store, now=NOW + 30) is None  # lease still held
    second = claim(store, now=NOW + 61, agent="w2", max_attempts=2)  # expired: re-queued, then claimed again
    assert (second.id, second.attempt, second.agent) == (tid, 2, "w2")
    assert store.expire_leases(NOW + 200) == [tid]
    task = store.task(tid)
    assert task.state is TaskState.NEEDS_HUMAN and task.reason == "lease of w2 expired"
    assert [a.outcome for a in store.attempts(tid)] == ["expired", "expired"]
    kinds = [e.kind for e in store.events() if e.data.get("task") == tid]
    assert kinds == ["task-added", "task-claimed", "task-requeued", "task-claimed", "task-needs-human"]


def test_settle_happens_once(store: StateStore) -> None:
    store.add_tasks([NewTask("a")], NOW)
    task = claim(store)
    assert store.settle_task(task.id, task.attempt, TaskState.QUEUED, NOW, reason="boom")
    assert not store.settle_task(task.id, task.attempt, TaskState.DONE, NOW)
    again = claim(store)
    assert again.attempt == 2 and not store.settle_task(task.id, 1, TaskState.DONE, NOW)  # a stale attempt


def test_retry_restarts_the_budget(store: StateStore) -> None:
    store.add_tasks([NewTask("a", max_attempts=1)], NOW)
    task = claim(store, max_attempts=1)
    store.settle_task(task.id, 1, TaskState.NEEDS_HUMAN, NOW, reason="x")
    retried = store.retry_task(task.id, NOW)
    assert retried.state is TaskState.QUEUED and retried.attempts_left == 1 and retried.attempt == 1
    assert store.retry_task(task.id, NOW) is None  # already queued


def _claimer(state_dir: str, url: str | None, out: str) -> None:
    store = StateStore(Path(state_dir), url)
    got = []
    while (task := store.claim_task(now=NOW, lease=600, max_attempts=3, agent=f"p{out[-5:]}")) is not None:
        got.append(task.id)
    Path(out).write_text(json.dumps(got))


@pytest.mark.timeout(120)
def test_eight_processes_claim_every_task_exactly_once(store: StateStore, tmp_path: Path) -> None:
    store.add_tasks([NewTask(f"t{i}") for i in range(1000)], NOW)
    ctx = multiprocessing.get_context("fork")
    outs = [tmp_path / f"claims-{i:05d}" for i in range(8)]
    procs = [ctx.Process(target=_claimer, args=(str(store.state_dir), store.url, str(o))) for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(100)
        assert p.exitcode == 0
    claimed = [tid for o in outs for tid in json.loads(o.read_text())]
    assert len(claimed) == 1000 and len(set(claimed)) == 1000
    assert store.task_counts()["running"] == 1000
    assert sum(1 for e in store.events() if e.kind == "task-claimed") == 1000
    assert all(len(store.attempts(tid)) == 1 for tid in claimed[:50])


def test_messages_once_per_recipient_and_key(store: StateStore) -> None:
    first = store.add_messages("human", ["a", "b"], "stand up", "standup-1", True, NOW)
    assert all(created for _, created in first)
    again = store.add_messages("human", ["a", "b", "c"], "stand up", "standup-1", True, NOW)
    assert [c for _, c in again] == [False, False, True]
    assert [m.id for m, _ in zip(store.pending_wakes(), range(3), strict=False)] == [
        first[0][0],
        first[1][0],
        again[2][0],
    ]
    mid = first[0][0]
    assert store.claim_wake(mid, NOW) and not store.claim_wake(mid, NOW)
    store.ack_messages([mid], NOW)
    assert [m.id for m in store.messages("a", unread=True)] == []


def test_breakers_round_trip(store: StateStore) -> None:
    b = Breaker("coder", BreakerState.OPEN, "sig", 3, NOW, "3 consecutive failures")
    store.save_breaker(b, ("breaker-opened", "coder", "x", {}), NOW)
    assert store.breakers() == {"coder": b}
    store.save_breaker(Breaker("coder"), None, NOW)
    assert store.breakers()["coder"].state is BreakerState.CLOSED


# --- TaskBoard input checks -----------------------------------------------------------------


def _fleet(state_dir: Path) -> Fleet:
    spec = FleetSpec(
        name="unit",
        path=state_dir.parent / "fleet.toml",
        state_dir=state_dir,
        pools=(PoolSpec(name="coder", command="x", max_attempts=5),),
    )
    return Fleet(spec)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": "  "}, "title: expected a non-empty title"),
        ({"title": "x", "priority": 5}, "priority: expected an integer from 0 (most urgent) to 4, got 5"),
        ({"title": "x", "pool": "nope"}, 'pool: expected a pool of the fleet file (pools: coder), got "nope"'),
    ],
)
def test_add_rejects_bad_input(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as exc:
        TaskBoard(_fleet(tmp_path / "s")).add(**kwargs)  # type: ignore[arg-type]
    assert exc.value.message == message


def test_add_takes_the_pools_max_attempts(tmp_path: Path) -> None:
    board = TaskBoard(_fleet(tmp_path / "s"))
    assert board.show(board.add("x", pool="coder")).max_attempts == 5


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ['{"title": "a"}', "{not json"],
            "tasks.jsonl:2: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        ),
        (['{"title": "a"}', '{"title": "b", "priority": 9}'], "tasks.jsonl:2: priority: expected an integer"),
        (['{"title": "a", "owner": "me"}'], "tasks.jsonl:1: owner: unknown key; expected: title, body"),
        (['{"body": "no title"}'], "tasks.jsonl:1: title: required"),
        (['["a"]'], "tasks.jsonl:1: expected one JSON object per line"),
        (['{"title": "a", "pool": "ghost"}'], "tasks.jsonl:1: pool: expected a pool of the fleet file"),
        (['{"title": "a", "labels": "python"}'], "tasks.jsonl:1: labels: expected a list"),
    ],
)
def test_import_is_all_or_nothing_with_file_line_and_key(tmp_path: Path, lines: list[str], message: str) -> None:
    board = TaskBoard(_fleet(tmp_path / "s"))
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as exc:
        board.import_jsonl(path)
    assert exc.value.exit_code == 2
    assert exc.value.message.replace(str(tmp_path) + "/", "").startswith(message)
    assert board.list() == []


def test_import_adds_every_field(tmp_path: Path) -> None:
    board = TaskBoard(_fleet(tmp_path / "s"))
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        '{"title": "a", "body": "b", "priority": 0, "labels": ["x", "y"], "pool": "coder", "key": "k"}\n'
        "\n"
        '{"title": "c"}\n'
    )
    first, second = board.import_jsonl(path)
    task = board.show(first)
    assert (task.body, task.priority, task.labels, task.pool, task.key) == ("b", 0, ("x", "y"), "coder", "k")
    assert board.import_jsonl(path) == [first, second + 1]  # the key deduplicates, the other is new
    assert board.counts()["queued"] == 3


def test_done_and_fail_need_a_running_task(tmp_path: Path) -> None:
    board = TaskBoard(_fleet(tmp_path / "s"))
    tid = board.add("x")
    with pytest.raises(UsageError, match="task 1 is queued; only a running task can be marked done"):
        board.done(tid)
    assert board.next("w1").id == tid
    assert board.done(tid, "shipped").state is TaskState.DONE
    assert board.done(tid).result == "shipped"  # idempotent
    with pytest.raises(UsageError, match="is done; only a running task can be marked fail"):
        board.fail(tid, "no")
    other = board.add("y")
    board.next("w1")
    assert board.fail(other, "cannot reproduce").state is TaskState.FAILED
    assert board.retry(other).state is TaskState.QUEUED
    assert board.cancel(other).state is TaskState.CANCELLED
    with pytest.raises(UsageError, match="only an open task can be cancelled"):
        board.cancel(other)
