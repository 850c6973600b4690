"""Agents, runs, events, meta, review and operator queries: the same answers from both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetctl.model import Event, FailureClass, Run, TaskState
from fleetctl.store import NewTask, StateStore
from fleetctl.store.review import AttemptResult

NOW = 1_000_000.123456


@pytest.fixture
def store(backend_store: StateStore) -> StateStore:
    return backend_store


def test_agents_and_runs_round_trip(store: StateStore) -> None:
    store.ensure_agents(["a", "b"])
    store.ensure_agents(["a"])
    store.set_desired(["b"], "stopped")
    store.update_agent("a", parked_until=NOW + 5, activity_mark="x")
    store.bump_health_failures("a", True, NOW)
    store.bump_health_failures("a", True, NOW)
    run = Run(id="r1", agent="a", started=NOW, pid=42, pane_id="%1", respawn=True, fingerprint="f")
    store.add_run(run, pid_start=NOW - 1)
    assert store.verify_run("r1", NOW + 1) and not store.verify_run("r1", NOW + 2)
    assert store.live_verified_panes() == {"a": "%1"}
    assert store.end_run("r1", NOW + 3, exit_code=1, failure_class=FailureClass.CRASHED)
    assert not store.end_run("r1", NOW + 4, exit_code=2)
    assert store.fail_agent("a", "gave up") and not store.fail_agent("a", "again")
    records = store.records(0.0)
    assert records["b"].desired == "stopped"
    a = records["a"]
    assert a.failed_reason == "gave up" and a.parked_until == NOW + 5 and a.health_failures == 0  # add_run resets
    [got] = a.runs
    assert got.started == NOW and got.respawn and got.exit_code == 1 and got.failure_class is FailureClass.CRASHED
    assert store.run("r1") == got and store.runs_since(NOW) == [got] and store.runs_between(0.0) == [got]
    assert store.run_totals() == {"a": (1, 1)}
    assert store.agent_rows()["a"] == ("running", "gave up")
    store.reset("a", NOW + 9)
    assert store.records(0.0)["a"].failed_reason is None
    store.forget("b")
    assert "b" not in store.agent_rows()


def test_events_meta_and_cycles(store: StateStore) -> None:
    first = store.add_event(Event(time=NOW, kind="spawned", agent="a", reason="100% sure?", data={"n": 1}))
    second = store.add_event(Event(time=NOW + 1, kind="exited", agent="b"))
    assert second > first == store.events()[0].id
    assert [(e.kind, e.reason, e.data) for e in store.events(agent="a")] == [("spawned", "100% sure?", {"n": 1})]
    assert [e.id for e in store.events(after_id=first)] == [second]
    assert store.last_event_id() == second
    assert store.event_totals(NOW + 0.5) == {"exited": 1}
    store.bump("spawns")
    store.bump("spawns", 2)
    store.set_meta("k", "v")
    store.set_meta("k", "w")
    assert store.meta() == {"spawns": "3", "k": "w"} and store.meta_value("k") == "w"
    store.record_cycle(NOW, True, 0.25)
    store.record_cycle(NOW + 1, False, 0.5)
    assert store.cycles_since(NOW - 60) == (2, 1, 0.75)
    assert store.meta_values()["supervise_last_cycle_at"] == repr(NOW + 1)


def test_review_work_and_attempt_results(store: StateStore) -> None:
    [(tid, _)] = store.add_tasks([NewTask("t", acceptance="tests pass")], NOW)
    task = store.claim_task(now=NOW, lease=60.0, max_attempts=1, agent="w1")
    assert task is not None and task.id == tid
    assert store.dispatch_latencies(0.0) == [0.0]
    assert [a.task_id for a in store.task_attempts_between(NOW, NOW)] == [tid]
    store.review.set_work(tid, worktree="/w", branch="b")
    store.review.record_attempt(AttemptResult(tid, 1, exit_code=0, cls="ok", gate_code=1, gate_tail="FAILED"))
    store.review.record_attempt(AttemptResult(tid, 1, exit_code=0, cls="ok", gate_code=0, gate_tail=""))
    assert store.review.attempt_results(tid)[1].gate_code == 0
    assert store.settle_task(tid, 1, TaskState.NEEDS_REVIEW, NOW, reason="gate failed")
    done = store.review.review(tid, TaskState.DONE, "ann", "fine", NOW + 1, ("needs-review",))
    assert done is not None and done.state is TaskState.DONE
    work = store.review.work(tid)
    assert (work.acceptance, work.worktree, work.reviewed_by) == ("tests pass", "/w", "ann")
    assert store.attempts(tid)[0].reason == "gate failed; review: fine"


def _open_and_count(url: str, out: str) -> None:
    Path(out).write_text(str(StateStore(Path(out).parent / "unused", url).task_counts()["queued"]))


def test_hosts_opening_a_new_postgresql_store_together_migrate_it_once(pg_url: str, tmp_path: Path) -> None:
    import multiprocessing

    import psycopg

    ctx = multiprocessing.get_context("fork")
    outs = [tmp_path / f"host-{i}" for i in range(4)]
    procs = [ctx.Process(target=_open_and_count, args=(pg_url, str(o))) for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert [o.read_text() for o in outs] == ["0"] * 4
    with psycopg.connect(pg_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [3, 4, 5, 6, 7, 8]
