"""Two hosts on one PostgreSQL store: claims once, rows carry their host, each host watches its
own windows, and a dead host's expired leases are re-queued by the living."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fleetctl import dispatch
from fleetctl.model import Event, Run, TaskState
from fleetctl.store import NewTask, StateStore

NOW = 1_000.0


@pytest.fixture
def hosts(pg_url: str, tmp_path: Path) -> Iterator[tuple[StateStore, StateStore]]:
    alpha = StateStore(tmp_path / "alpha", pg_url, "alpha")
    beta = StateStore(tmp_path / "beta", pg_url, "beta")
    yield alpha, beta
    alpha.close()
    beta.close()


def test_rows_carry_the_host_that_wrote_them(hosts: tuple[StateStore, StateStore], pg_url: str) -> None:
    alpha, beta = hosts
    alpha.add_tasks([NewTask("a"), NewTask("b")], NOW)
    first = alpha.claim_task(now=NOW, lease=60.0, max_attempts=3, agent="wa")
    second = beta.claim_task(now=NOW, lease=60.0, max_attempts=3, agent="wb")
    assert first is not None and second is not None and first.id != second.id
    assert alpha.attempts(first.id)[0].host == "alpha" and alpha.attempts(second.id)[0].host == "beta"
    beta.add_run(Run(id="rb", agent="wb", started=NOW))
    beta.add_event(Event(time=NOW, kind="spawned", agent="wb"))
    with psycopg.connect(pg_url) as conn:
        runs = conn.execute("SELECT id, host FROM runs").fetchall()
        claimed = conn.execute("SELECT host, count(*) FROM events WHERE kind = 'task-claimed' GROUP BY host")
        spawned = conn.execute("SELECT host FROM events WHERE kind = 'spawned'").fetchall()
        assert runs == [("rb", "beta")] and dict(claimed.fetchall()) == {"alpha": 1, "beta": 1}
    assert spawned == [("beta",)]
    assert [e.kind for e in alpha.events(host="beta")] == ["task-claimed", "spawned"]
    assert {e.host for e in alpha.events()} == {"alpha", "beta"}


def test_each_host_watches_its_own_windows_and_requeues_a_dead_hosts_expired_lease(
    hosts: tuple[StateStore, StateStore],
) -> None:
    alpha, beta = hosts
    [(tid, _)] = beta.add_tasks([NewTask("window work", pool="coder")], NOW)
    task = beta.claim_task(now=NOW, lease=30.0, max_attempts=3, pool="coder")
    assert task is not None and task.id == tid
    beta.add_run(Run(id="r1", agent=task.agent or "", started=NOW, pane_id="%3", task_id=tid, verified=NOW))
    assert beta.attach_run(tid, 1, "r1")
    assert [t.id for t, _ in beta.window_tasks()] == [tid] and alpha.window_tasks() == []
    assert alpha.live_verified_panes() == {} and beta.live_verified_panes() == {task.agent: "%3"}
    # beta's own window task is watched through its window, never expired by its own lease...
    assert beta.expire_leases(NOW + 31) == []
    assert alpha.next_lease_expiry() == NOW + 30
    # ...but beta stopped renewing it (it died): alpha re-queues it and claims it.
    assert alpha.expire_leases(NOW + 31) == [tid]
    again = alpha.claim_task(now=NOW + 32, lease=30.0, max_attempts=3, pool="coder")
    assert again is not None and again.id == tid and again.attempt == 2
    assert [(a.host, a.outcome) for a in alpha.attempts(tid)] == [("beta", "expired"), ("alpha", None)]
    # Had beta only stalled, its late renewal must not extend alpha's lease, and its window,
    # still listed for it to close, no longer holds the task.
    assert alpha.attach_run(tid, 2, "r2")
    assert not beta.renew_lease(tid, "r1", NOW + 100)
    latest = alpha.task(tid)
    assert latest is not None and latest.lease_until == NOW + 62
    [(seen, run)] = beta.window_tasks()
    assert run is not None and run.id == "r1" and not dispatch.holds(seen, run)
    assert alpha.renew_lease(tid, "r2", NOW + 90)
    latest = alpha.task(tid)
    assert latest is not None and latest.lease_until == NOW + 90
    assert alpha.settle_task(tid, 2, TaskState.DONE, NOW + 40)


def _claimer(url: str, host: str, state_dir: str, out: str) -> None:
    store = StateStore(Path(state_dir), url, host)
    got = []
    while (task := store.claim_task(now=NOW, lease=600, max_attempts=3, agent=f"p{out[-3:]}")) is not None:
        got.append(task.id)
    Path(out).write_text(json.dumps(got))


@pytest.mark.timeout(120)
def test_two_hosts_times_four_claimers_take_every_task_once(pg_url: str, tmp_path: Path) -> None:
    store = StateStore(tmp_path / "seed", pg_url, "alpha")
    store.add_tasks([NewTask(f"t{i}") for i in range(600)], NOW)
    ctx = multiprocessing.get_context("fork")
    jobs = [(host, tmp_path / f"{host}-{i:03d}") for host in ("alpha", "beta") for i in range(4)]
    procs = [ctx.Process(target=_claimer, args=(pg_url, h, str(tmp_path / h), str(o))) for h, o in jobs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(100)
        assert p.exitcode == 0
    claimed = [tid for _, o in jobs for tid in json.loads(o.read_text())]
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 600
    store.close()
