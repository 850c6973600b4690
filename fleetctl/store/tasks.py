"""The task backlog and the pools' breakers.

Every state change is one transaction that also writes its event, so the event log and
the task table can never disagree. A claim is a single `UPDATE ... WHERE id = (SELECT
... LIMIT 1) RETURNING`: inside BEGIN IMMEDIATE on SQLite; on PostgreSQL one statement with
its attempt and event rows (store.claim_pg), the row chosen FOR UPDATE SKIP LOCKED; either
way two claimers can never get the same task.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from fleetctl.model import Breaker, BreakerState, Run, Task, TaskAttempt, TaskState
from fleetctl.record import record
from fleetctl.store import rows
from fleetctl.store.backend import Backend, Conn
from fleetctl.store.claim_pg import claim_at_once

OPEN_STATES = ("queued", "running", "needs-review", "needs-human")
# The running tasks whose lease decides when they are lost: pulled tasks, and on a shared
# store the window tasks of other hosts (a dead host stops renewing them). This host's
# window tasks are watched through their windows instead. Parameters: this host, twice.
_LEASED = "(run_id IS NULL OR (? IS NOT NULL AND host IS NOT NULL AND host <> ?))"
# On PostgreSQL a claim re-queues expired leases first at most this often (per process): the
# sweep is a statement of its own, and supervisors sweep on every pass anyway.
LEASE_SWEEP_SECONDS = 1.0
# After adding this many tasks at once, PostgreSQL's statistics are refreshed: with none yet
# (a new store), the planner sorts every queued task on each claim instead of taking the
# first from the queue's index (1.1 ms against 0.16 ms a claim at 1,500 queued).
ANALYZE_AFTER_TASKS = 100


@record
class NewTask:
    """A validated task to add (the CLI and import check the fields before this)."""

    title: str
    body: str = ""
    priority: int = 2
    labels: tuple[str, ...] = ()
    pool: str | None = None
    key: str | None = None
    max_attempts: int = 3
    acceptance: str = ""


def add_event(db: Conn, now: float, kind: str, agent: str | None, reason: str, data: dict[str, object]) -> None:
    """The event of a change, written in the change's own transaction."""
    db.execute(
        "INSERT INTO events (time, kind, agent, reason, data) VALUES (?, ?, ?, ?, ?)",
        (now, kind, agent, reason, json.dumps(data, sort_keys=True)),
    )


class KeyConflict(Exception):
    """Another open task already has this task's key."""


class TaskQueries:
    def __init__(self, db: Backend) -> None:
        self.db = db
        self._swept = float("-inf")  # when this process last re-queued expired leases before a claim

    # --- reading ----------------------------------------------------------------------

    def _labels(self, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        out: dict[int, list[str]] = {}
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            found = self.db.rows(
                f"SELECT task_id, label FROM task_labels WHERE task_id IN ({marks}) ORDER BY task_id, label", chunk
            )
            for tid, label in found:
                out.setdefault(tid, []).append(label)
        return {k: tuple(v) for k, v in out.items()}

    def _tasks(self, found: list[Any]) -> list[Task]:
        labels = self._labels([r[0] for r in found]) if found else {}
        return [rows.task(r, labels.get(r[0], ())) for r in found]

    def task(self, task_id: int) -> Task | None:
        row = self.db.row(f"SELECT {rows.TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
        return self._tasks([row])[0] if row else None

    def tasks(self, state: str | None = None, pool: str | None = None, limit: int = 1_000_000) -> list[Task]:
        query, params = f"SELECT {rows.TASK_COLUMNS} FROM tasks WHERE 1 = 1", []
        if state is not None:
            query += " AND state = ?"
            params.append(state)
        if pool is not None:
            query += " AND pool = ?"
            params.append(pool)
        query += " ORDER BY CASE state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END, priority, id LIMIT ?"
        return self._tasks(self.db.rows(query, (*params, limit)))

    def task_counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in TaskState}
        counts.update(dict(self.db.rows("SELECT state, count(*) FROM tasks GROUP BY state")))
        return counts

    def queued_by_pool(self) -> dict[str | None, int]:
        return dict(self.db.rows("SELECT pool, count(*) FROM tasks WHERE state = 'queued' GROUP BY pool"))

    def attempts(self, task_id: int) -> list[TaskAttempt]:
        found = self.db.rows(
            f"SELECT {rows.ATTEMPT_COLUMNS} FROM task_attempts WHERE task_id = ? ORDER BY attempt", (task_id,)
        )
        return [rows.attempt(r) for r in found]

    def next_lease_expiry(self) -> float | None:
        """The earliest lease of a pulled task (window tasks are watched through their window)."""
        row = self.db.row(
            f"SELECT min(lease_until) FROM tasks WHERE state = 'running' AND {_LEASED}", (self.db.host, self.db.host)
        )
        return row[0] if row else None

    def window_tasks(self) -> list[tuple[Task, Run | None]]:
        """Every task with a window run that needs watching: running, or whose run still lives."""
        found = self.db.rows(
            f"SELECT t.id, {rows.RUN_COLUMNS_OF_R} FROM tasks t LEFT JOIN runs r ON r.id = t.run_id "
            "WHERE t.state = 'running' AND t.run_id IS NOT NULL AND (? IS NULL OR t.host IS NULL OR t.host = ?) "
            f"UNION SELECT r.task_id, {rows.RUN_COLUMNS_OF_R} FROM runs r "
            "WHERE r.task_id IS NOT NULL AND r.ended IS NULL AND (? IS NULL OR r.host IS NULL OR r.host = ?)",
            (self.db.host,) * 4,
        )
        runs: dict[int, Run | None] = {}
        for row in found:
            run = rows.run(row[1:]) if row[1] is not None else None
            if run is not None and not run.live and runs.get(row[0]) is not None:
                continue  # keep the live run when a task has an old ended one too
            runs[row[0]] = run
        task_rows = []
        for chunk in _chunks(sorted(runs), 500):
            marks = ",".join("?" * len(chunk))
            task_rows += self.db.rows(f"SELECT {rows.TASK_COLUMNS} FROM tasks WHERE id IN ({marks})", chunk)
        return [(t, runs[t.id]) for t in self._tasks(task_rows)]

    # --- writing: the backlog --------------------------------------------------------

    def add_tasks(self, items: Sequence[NewTask], now: float) -> list[tuple[int, bool]]:
        """Insert tasks in one transaction; a key with an open task gives that task's id (created False)."""
        out: list[tuple[int, bool]] = []
        with self.db.transaction() as db:
            for item in items:
                if item.key is not None:
                    marks = ",".join("?" * len(OPEN_STATES))
                    row = db.execute(
                        f"SELECT id FROM tasks WHERE key = ? AND state IN ({marks})", (item.key, *OPEN_STATES)
                    ).fetchone()
                    if row is not None:
                        out.append((row[0], False))
                        continue
                cur = db.execute(
                    "INSERT INTO tasks (title, body, priority, pool, key, max_attempts, created, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (item.title, item.body, item.priority, item.pool, item.key, item.max_attempts, now, now),
                )
                tid = int(cur.fetchone()[0])
                db.executemany(
                    "INSERT INTO task_labels (task_id, label) VALUES (?, ?)",
                    [(tid, label) for label in sorted(set(item.labels))],
                )
                if item.acceptance:
                    db.execute("INSERT INTO task_work (task_id, acceptance) VALUES (?, ?)", (tid, item.acceptance))
                add_event(
                    db, now, "task-added", None, item.title, {"task": tid, "priority": item.priority, "pool": item.pool}
                )
                out.append((tid, True))
            if any(created for _, created in out):
                self.db.wake(db)
        if self.db.kind == "postgresql" and sum(created for _, created in out) >= ANALYZE_AFTER_TASKS:
            with self.db.transaction() as db:  # fresh statistics, so a claim walks the queue's index
                db.execute("ANALYZE tasks")
        return out

    def claim_task(
        self,
        *,
        now: float,
        lease: float,
        max_attempts: int,
        agent: str | None = None,
        pool: str | None = None,
        labels: Sequence[str] = (),
        any_pool: bool = False,
    ) -> Task | None:
        """Claim the most urgent queued task in one UPDATE ... RETURNING (attempt + 1).

        `agent` None means a pool window: the holder becomes "<pool>.<id>". With a pool, the
        candidates are that pool's tasks plus unassigned tasks (carrying one of `labels`,
        when the pool has labels); without one, only unassigned tasks.
        """
        where = "t.state = 'queued'"
        params: list[object] = []
        if pool is not None:
            if labels:
                marks = ",".join("?" * len(labels))
                where += (
                    f" AND (t.pool = ? OR (t.pool IS NULL AND EXISTS (SELECT 1 FROM task_labels l "
                    f"WHERE l.task_id = t.id AND l.label IN ({marks}))))"
                )
                params += [pool, *labels]
            else:
                where += " AND (t.pool = ? OR t.pool IS NULL)"
                params.append(pool)
        elif not any_pool:
            where += " AND t.pool IS NULL"
        holder = "?" if agent is not None else "? || '.' || id"
        if self.db.kind == "postgresql":
            if not self._swept <= now < self._swept + LEASE_SWEEP_SECONDS:
                self.expire_leases(now)
                self._swept = now
            values = (agent if agent is not None else pool, self.db.host, now + lease, max_attempts, now, now, *params)
            return claim_at_once(self.db, holder, where, [*values, now, self.db.host or os.uname().nodename, now])
        with self.db.transaction() as db:
            self._expire(db, now)
            row = db.execute(
                f"UPDATE tasks SET state = 'running', attempt = attempt + 1, agent = {holder}, host = ?, "
                "lease_until = ?, max_attempts = ?, run_id = NULL, started = ?, updated = ?, outcome = NULL, "
                "result = NULL "
                f"WHERE id = (SELECT t.id FROM tasks t WHERE {where} ORDER BY t.priority, t.id LIMIT 1"
                f"{self.db.skip_locked}) "
                f"RETURNING {rows.TASK_COLUMNS}",
                (agent if agent is not None else pool, self.db.host, now + lease, max_attempts, now, now, *params),
            ).fetchone()
            if row is None:
                return None
            task = rows.task(row, ())
            db.execute(
                "INSERT INTO task_attempts (task_id, attempt, agent, started, host) VALUES (?, ?, ?, ?, ?)",
                (task.id, task.attempt, task.agent, now, self.db.host or os.uname().nodename),
            )
            add_event(
                db,
                now,
                "task-claimed",
                task.agent,
                f"attempt {task.attempt}: {task.title}",
                {"task": task.id, "attempt": task.attempt},
            )
        return self._tasks([row])[0]

    def _expire(self, db: Conn, now: float) -> list[int]:
        """Re-queue pulled tasks whose lease ran out (needs-human when out of attempts)."""
        expired = db.execute(
            "UPDATE tasks SET state = CASE WHEN attempt - budget_from >= max_attempts THEN 'needs-human' "
            "ELSE 'queued' END, agent = NULL, lease_until = NULL, updated = ?, "
            "reason = 'lease of ' || agent || ' expired', "
            "finished = CASE WHEN attempt - budget_from >= max_attempts THEN ? ELSE NULL END "
            f"WHERE state = 'running' AND {_LEASED} AND lease_until < ? RETURNING id, attempt, state, reason",
            (now, now, self.db.host, self.db.host, now),
        ).fetchall()
        for tid, attempt, state, reason in expired:
            db.execute(
                "UPDATE task_attempts SET ended = ?, outcome = 'expired', reason = ? WHERE task_id = ? AND attempt = ?",
                (now, reason, tid, attempt),
            )
            kind = "task-needs-human" if state == "needs-human" else "task-requeued"
            add_event(db, now, kind, None, reason, {"task": tid, "attempt": attempt})
        if any(state == "queued" for _, _, state, _ in expired):
            self.db.wake(db)
        return [r[0] for r in expired]

    def expire_leases(self, now: float) -> list[int]:
        with self.db.transaction() as db:
            return self._expire(db, now)

    def attach_run(self, task_id: int, attempt: int, run_id: str) -> bool:
        """Tie a claimed task to its window run (before the window opens)."""
        with self.db.transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET run_id = ? WHERE id = ? AND attempt = ? AND state = 'running'",
                (run_id, task_id, attempt),
            )
            db.execute(
                "UPDATE task_attempts SET run_id = ? WHERE task_id = ? AND attempt = ?", (run_id, task_id, attempt)
            )
            return cur.rowcount == 1

    def renew_lease(self, task_id: int, run_id: str, until: float) -> bool:
        """Extend the lease of a window run, only while that run holds the task: a lease that ran
        out and went to another claimer stays theirs."""
        with self.db.transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET lease_until = ? WHERE id = ? AND state = 'running' AND run_id = ?",
                (until, task_id, run_id),
            )
            return cur.rowcount == 1

    def renew_held(self, task_id: int, agent: str, until: float, now: float) -> bool:
        """Extend the lease of `agent`, only while it still holds the task (an expired lease is lost)."""
        with self.db.transaction() as db:
            self._expire(db, now)
            cur = db.execute(
                "UPDATE tasks SET lease_until = ?, updated = ? WHERE id = ? AND state = 'running' AND agent = ?",
                (until, now, task_id, agent),
            )
            return cur.rowcount == 1

    def settle_task(
        self,
        task_id: int,
        attempt: int,
        state: TaskState,
        now: float,
        *,
        reason: str | None = None,
        result: str | None = None,
        outcome: str | None = None,
        event: tuple[str, str | None, str, dict[str, object]] | None = None,
        only_from: Sequence[str] = ("running",),
        holder: str | None = None,
        refund: bool = False,
    ) -> bool:
        """Move one attempt of a task to its next state, once; False if someone else already did.

        `holder`: only while that agent holds the task. `refund`: the attempt does not count
        against the budget (the pool's set-up failed, not the agent).
        """
        final = state.terminal
        marks = ",".join("?" * len(only_from))
        with self.db.transaction() as db:
            cur = db.execute(
                f"UPDATE tasks SET state = ?, updated = ?, reason = COALESCE(?, reason), "
                "result = COALESCE(?, result), outcome = ?, finished = ?, "
                "agent = CASE WHEN ? THEN agent ELSE NULL END, run_id = CASE WHEN ? THEN run_id ELSE NULL END, "
                "lease_until = CASE WHEN ? = 'running' THEN lease_until ELSE NULL END, "
                "budget_from = budget_from + ? "
                f"WHERE id = ? AND attempt = ? AND state IN ({marks}) AND (? IS NULL OR agent = ?)",
                (
                    state.value,
                    now,
                    reason,
                    result,
                    outcome,
                    now if final else None,
                    final,
                    final,
                    state.value,
                    1 if refund else 0,
                    task_id,
                    attempt,
                    *only_from,
                    holder,
                    holder,
                ),
            )
            if cur.rowcount != 1:
                return False
            if state is not TaskState.RUNNING:
                db.execute(
                    "UPDATE task_attempts SET ended = ?, outcome = ?, reason = ? "
                    "WHERE task_id = ? AND attempt = ? AND ended IS NULL",
                    (now, state.value if final else "requeued", reason, task_id, attempt),
                )
            if event is not None:
                add_event(db, now, *event)
            if state is TaskState.QUEUED:
                self.db.wake(db)
            return True

    def mark_outcome(
        self, task_id: int, attempt: int, outcome: str, result: str | None, now: float, holder: str | None = None
    ) -> bool:
        """A window agent said it is done; its gate decides once the window ends."""
        with self.db.transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET outcome = ?, result = COALESCE(?, result), updated = ? "
                "WHERE id = ? AND attempt = ? AND state = 'running' AND (? IS NULL OR agent = ?)",
                (outcome, result, now, task_id, attempt, holder, holder),
            )
            if cur.rowcount == 1:
                add_event(db, now, "task-reported", None, outcome, {"task": task_id, "attempt": attempt})
            return cur.rowcount == 1

    def cancel_task(self, task_id: int, now: float) -> Task | None:
        with self.db.transaction() as db:
            row = db.execute(
                "UPDATE tasks SET state = 'cancelled', updated = ?, finished = ?, lease_until = NULL "
                f"WHERE id = ? AND state IN ('queued', 'running', 'needs-review', 'needs-human') "
                f"RETURNING {rows.TASK_COLUMNS}",
                (now, now, task_id),
            ).fetchone()
            if row is None:
                return None
            task = rows.task(row, ())
            db.execute(
                "UPDATE task_attempts SET ended = ?, outcome = 'cancelled' "
                "WHERE task_id = ? AND attempt = ? AND ended IS NULL",
                (now, task_id, task.attempt),
            )
            add_event(db, now, "task-cancelled", task.agent, task.title, {"task": task_id, "attempt": task.attempt})
            return task

    def retry_task(self, task_id: int, now: float) -> Task | None:
        with self.db.transaction() as db:
            try:
                row = db.execute(
                    "UPDATE tasks SET state = 'queued', updated = ?, finished = NULL, agent = NULL, run_id = NULL, "
                    "lease_until = NULL, outcome = NULL, budget_from = attempt "
                    "WHERE id = ? AND state NOT IN ('queued', 'running') "
                    f"RETURNING {rows.TASK_COLUMNS}",
                    (now, task_id),
                ).fetchone()
            except self.db.refused:
                raise KeyConflict(task_id) from None
            if row is None:
                return None
            add_event(db, now, "task-retried", None, row[1], {"task": task_id})
            self.db.wake(db)
            return rows.task(row, ())

    # --- breakers ---------------------------------------------------------------------

    def breakers(self) -> dict[str, Breaker]:
        found = self.db.rows("SELECT pool, state, signature, streak, opened_at, reason FROM breakers")
        return {
            p: Breaker(pool=p, state=BreakerState(s), signature=sig, streak=n, opened_at=at, reason=r)
            for p, s, sig, n, at, r in found
        }

    def save_breaker(
        self, breaker: Breaker, event: tuple[str, str | None, str, dict[str, object]] | None, now: float
    ) -> None:
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO breakers (pool, state, signature, streak, opened_at, reason) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (pool) DO UPDATE SET state = excluded.state, signature = excluded.signature, "
                "streak = excluded.streak, opened_at = excluded.opened_at, reason = excluded.reason",
                (
                    breaker.pool,
                    breaker.state.value,
                    breaker.signature,
                    breaker.streak,
                    breaker.opened_at,
                    breaker.reason,
                ),
            )
            if event is not None:
                add_event(db, now, *event)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
