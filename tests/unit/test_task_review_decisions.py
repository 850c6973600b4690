"""Pure review decisions (gate could not run, prune due) and the review store with a fake clock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fleetctl import dispatch, review
from fleetctl.attempts import RunEnd, gate_could_not_run, verdict
from fleetctl.dispatch import prune_due
from fleetctl.errors import ConfigError, UsageError
from fleetctl.fleet import Fleet
from fleetctl.model import FleetSpec, PoolSpec, Task, TaskState
from fleetctl.store import SCHEMA_VERSION, NewTask, StateStore
from fleetctl.store import schema as schema_module
from fleetctl.store.review import AttemptResult
from fleetctl.tasks import TaskBoard

NOW = 1_000_000.0
DAY = 86400.0


@pytest.mark.parametrize(
    ("code", "output", "expected"),
    [
        (127, "", True),
        (126, "permission denied", True),
        (1, "/usr/bin/python3: No module named pytest", True),
        (1, "/venv/bin/python3.11: No module named pytest", True),
        (1, "/bin/sh: 1: pytest: not found", True),
        (2, "bash: line 1: pytest: command not found", True),
        (1, "FAILED tests/test_x.py::test_a - assert 1 == 2\n1 failed", False),
        (1, "E   ModuleNotFoundError: No module named 'app.missing'", False),  # the code under test is broken
        (124, "", False),
    ],
)
def test_a_gate_that_could_not_run(code: int, output: str, expected: bool) -> None:
    assert gate_could_not_run(code, output) is expected


def test_a_gate_that_could_not_run_requeues_as_a_setup_error_even_without_attempts_left() -> None:
    task = Task(id=1, title="t", state=TaskState.RUNNING, attempt=3, max_attempts=3)
    v = verdict(task, RunEnd(exit_code=0, gate_code=1, gate_output="python3: No module named pytest"), gate=True)
    assert (v.state, v.setup_error, v.kind) == (TaskState.QUEUED, True, "task-requeued")
    assert v.reason == "the gate could not run (exit 1): python3: No module named pytest; check the pool's set-up"
    assert v.failure == "gate could not run: pythonN: No module named pytest"  # numbers normalised
    ran = verdict(task, RunEnd(exit_code=0, gate_code=1, gate_output="1 failed"), gate=True)
    assert (ran.state, ran.setup_error) == (TaskState.NEEDS_REVIEW, False)


@pytest.mark.parametrize(
    ("state", "merged", "finished", "expected"),
    [
        (TaskState.RUNNING, True, NOW - 30 * DAY, False),
        (TaskState.QUEUED, False, None, False),
        (TaskState.NEEDS_REVIEW, False, NOW - 30 * DAY, False),
        (TaskState.NEEDS_HUMAN, False, NOW - 30 * DAY, False),
        (TaskState.DONE, True, NOW, True),
        (TaskState.DONE, False, NOW - 6 * DAY, False),
        (TaskState.DONE, False, NOW - 7 * DAY, True),
        (TaskState.FAILED, False, NOW - 8 * DAY, True),
        (TaskState.CANCELLED, False, NOW - DAY, False),
    ],
)
def test_prune_due(state: TaskState, merged: bool, finished: float | None, expected: bool) -> None:
    due, why = prune_due(state, merged, finished, NOW, 7 * DAY)
    assert due is expected, why


def test_prune_says_why() -> None:
    assert prune_due(TaskState.DONE, False, NOW - 8 * DAY, NOW, 7 * DAY) == (True, "done 8d ago (worktree_keep 7d)")
    assert prune_due(TaskState.NEEDS_REVIEW, False, NOW, NOW, 7 * DAY) == (False, "needs-review: kept")
    assert dispatch.prune_due(TaskState.DONE, True, NOW, NOW, DAY) == (True, "done and merged")


def test_gate_env_strips_fleetctls_venv_unless_the_pool_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", "/opt/fleet-venv")
    lines = "\n".join(review.gate_env_lines(PoolSpec(name="p", command="c")))
    assert "/opt/fleet-venv/bin:" in lines and "unset VIRTUAL_ENV" in lines
    own = review.gate_env_lines(PoolSpec(name="p", command="c", env=(("VIRTUAL_ENV", "/x"), ("PATH", "/x/bin"))))
    assert own == []


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state")


def test_accept_and_reject_need_review_and_record_who(store: StateStore) -> None:
    [(tid, _)] = store.add_tasks([NewTask(title="t", acceptance="tests pass")], NOW)
    assert store.review.work(tid).acceptance == "tests pass"
    task = store.claim_task(now=NOW, lease=60.0, max_attempts=1, agent="w1")
    assert task is not None
    assert store.review.review(tid, TaskState.DONE, "alice", None, NOW, ("needs-review",)) is None  # still running
    assert store.settle_task(tid, 1, TaskState.NEEDS_REVIEW, NOW, reason="gate failed")
    store.review.record_attempt(AttemptResult(task_id=tid, attempt=1, exit_code=0, cls="gate failed", gate_code=1))
    requeued = store.review.review(tid, TaskState.QUEUED, "bob", "fix it", NOW + 1, ("needs-review",))
    assert requeued is not None and requeued.state is TaskState.QUEUED and requeued.attempts_left == 1
    assert store.attempts(tid)[0].reason == "gate failed; review: fix it"
    assert store.review.attempt_results(tid)[1].cls == "gate failed"
    work = store.review.work(tid)
    assert (work.reviewed_by, work.reviewed_at) == ("bob", NOW + 1)


def test_a_holder_check_refuses_a_lost_lease(store: StateStore) -> None:
    [(tid, _)] = store.add_tasks([NewTask(title="t")], NOW)
    store.claim_task(now=NOW, lease=10.0, max_attempts=3, agent="w1")
    assert store.renew_held(tid, "w1", NOW + 100, NOW + 5)
    assert not store.renew_held(tid, "w2", NOW + 100, NOW + 5)
    assert store.claim_task(now=NOW + 50, lease=10.0, max_attempts=3, agent="w2") is None  # renewed: still w1's
    assert store.claim_task(now=NOW + 101, lease=10.0, max_attempts=3, agent="w2") is not None  # expired
    assert not store.settle_task(tid, 2, TaskState.DONE, NOW + 102, holder="w1")
    assert not store.renew_held(tid, "w1", NOW + 200, NOW + 102)
    assert store.settle_task(tid, 2, TaskState.DONE, NOW + 102, holder="w2")


def test_a_schema_2_database_gains_the_new_tables_and_keeps_its_tasks(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    conn = sqlite3.connect(state / "fleet.db")
    for statement in schema_module.statements():
        if "task_work" not in statement and "attempt_results" not in statement:
            conn.execute(statement)
    conn.execute("INSERT INTO tasks (title, created, updated) VALUES ('old', 1, 1)")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    store = StateStore(state)
    assert [t.title for t in store.tasks()] == ["old"]
    assert store.review.work(1).acceptance == ""
    store.review.set_work(1, base="abc")
    assert store.review.work(1).base == "abc"
    version = sqlite3.connect(state / "fleet.db").execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION == 8


def _board(tmp_path: Path) -> TaskBoard:
    state = tmp_path / "state"
    spec = FleetSpec(name="unit", path=tmp_path / "fleet.toml", state_dir=state, pools=())
    return TaskBoard(Fleet(spec))


def test_acceptance_from_add_and_import_and_bad_values(tmp_path: Path) -> None:
    board = _board(tmp_path)
    tid = board.add("x", acceptance="  the tests pass  ")
    assert board.work(tid).acceptance == "the tests pass"
    lines = tmp_path / "backlog.jsonl"
    lines.write_text('{"title": "y", "acceptance": "no warnings"}\n')
    (imported,) = board.import_jsonl(lines)
    assert board.work(imported).acceptance == "no warnings"
    lines.write_text('{"title": "z", "acceptance": ["list"]}\n')
    with pytest.raises(ConfigError) as exc:
        board.import_jsonl(lines)
    assert exc.value.message == f"{lines}:1: acceptance: expected a string (the acceptance criteria)"


def test_review_needs_a_needs_review_task(tmp_path: Path) -> None:
    board = _board(tmp_path)
    tid = board.add("x")
    with pytest.raises(UsageError) as exc:
        board.accept(tid, "alice")
    assert exc.value.message == f"task {tid} is queued; only a needs-review task can be accepted"
    with pytest.raises(UsageError) as exc:
        board.reject(tid, "alice", note=" ")
    assert exc.value.message == "--note: expected what is wrong with the work"
    with pytest.raises(UsageError) as exc:
        board.diff(tid)
    assert exc.value.message == f"task {tid} has no worktree (its pool has no worktree workspace, or it never ran)"
