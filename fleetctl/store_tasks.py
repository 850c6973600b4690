"""Backlog, message and breaker queries of the StateStore (a mixin: StateStore inherits it).

Every state change is one transaction that also writes its event, so the event log and
the task table can never disagree. A claim is a single `UPDATE ... WHERE id = (SELECT
... LIMIT 1) RETURNING` inside BEGIN IMMEDIATE: two claimers can never get the same task.
SQL stays portable (no INSERT OR IGNORE, no JSON functions) for a later PostgreSQL store.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence

from fleetctl.model import (
    Breaker,
    BreakerState,
    Message,
    Run,
    Task,
    TaskAttempt,
    TaskState,
)
from fleetctl.record import record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every command milliseconds
if TYPE_CHECKING:
    from typing import Any

TASK_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 2,
    pool TEXT,
    key TEXT,
    state TEXT NOT NULL DEFAULT 'queued',
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    budget_from INTEGER NOT NULL DEFAULT 0,
    agent TEXT,
    run_id TEXT,
    lease_until REAL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    started REAL,
    finished REAL,
    outcome TEXT,
    result TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (state, priority, id);
CREATE INDEX IF NOT EXISTS tasks_lease ON tasks (state, lease_until);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_open_key ON tasks (key)
    WHERE key IS NOT NULL AND state IN ('queued', 'running', 'needs-review', 'needs-human');
CREATE TABLE IF NOT EXISTS task_labels (
    task_id INTEGER NOT NULL,
    label TEXT NOT NULL,
    PRIMARY KEY (task_id, label)
);
CREATE INDEX IF NOT EXISTS task_labels_by_label ON task_labels (label, task_id);
CREATE TABLE IF NOT EXISTS task_attempts (
    task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    agent TEXT NOT NULL,
    run_id TEXT,
    started REAL NOT NULL,
    ended REAL,
    outcome TEXT,
    reason TEXT,
    PRIMARY KEY (task_id, attempt)
);
CREATE INDEX IF NOT EXISTS runs_by_task ON runs (task_id);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    text TEXT NOT NULL,
    key TEXT,
    wake INTEGER NOT NULL DEFAULT 0,
    delivered REAL,
    read REAL
);
CREATE INDEX IF NOT EXISTS messages_by_recipient ON messages (recipient, id);
CREATE UNIQUE INDEX IF NOT EXISTS messages_once ON messages (recipient, key) WHERE key IS NOT NULL;
CREATE TABLE IF NOT EXISTS breakers (
    pool TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'closed',
    signature TEXT,
    streak INTEGER NOT NULL DEFAULT 0,
    opened_at REAL,
    reason TEXT NOT NULL DEFAULT ''
)
"""

OPEN_STATES = ("queued", "running", "needs-review", "needs-human")
_TASK_COLUMNS = (
    "id, title, body, priority, pool, key, state, attempt, max_attempts, budget_from, agent, run_id, "
    "lease_until, created, updated, started, finished, outcome, result, reason"
)
_MESSAGE_COLUMNS = "id, time, sender, recipient, text, key, wake, delivered, read"
_RUN_COLUMNS = (
    "r.id, r.agent, r.started, r.pid, r.window_id, r.pane_id, r.respawn, r.fallback, r.verified, r.ended, "
    "r.exit_code, r.exit_signal, r.failure_class, r.stopped_by, r.stop_reason, r.fingerprint, r.task_id"
)


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


def _task(row: Sequence[Any], labels: tuple[str, ...]) -> Task:
    (tid, title, body, priority, pool, key, state, attempt, max_attempts, budget_from, agent, run_id,
     lease_until, created, updated, started, finished, outcome, result, reason) = tuple(row)[:20]  # fmt: skip
    return Task(
        id=tid, title=title, body=body, priority=priority, labels=labels, pool=pool, key=key,
        state=TaskState(state), attempt=attempt, max_attempts=max_attempts, budget_from=budget_from,
        agent=agent, run_id=run_id, lease_until=lease_until, created=created, updated=updated,
        started=started, finished=finished, outcome=outcome, result=result, reason=reason,
    )  # fmt: skip


def _message(row: Sequence[Any]) -> Message:
    mid, time, sender, recipient, text, key, wake, delivered, read = tuple(row)
    return Message(mid, time, sender, recipient, text, key, bool(wake), delivered, read)


def _event(db: sqlite3.Connection, now: float, kind: str, agent: str | None, reason: str,
           data: dict[str, object]) -> None:  # fmt: skip
    db.execute(
        "INSERT INTO events (time, kind, agent, reason, data) VALUES (?, ?, ?, ?, ?)",
        (now, kind, agent, reason, json.dumps(data, sort_keys=True)),
    )


class KeyConflict(Exception):
    """Another open task already has this task's key."""


class TaskQueries:
    """Mixed into StateStore: expects `self.db` and `self.transaction()`."""

    db: sqlite3.Connection

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:  # pragma: no cover
        raise NotImplementedError

    # --- reading ----------------------------------------------------------------------

    def _labels(self, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        out: dict[int, list[str]] = {}
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT task_id, label FROM task_labels WHERE task_id IN ({marks}) ORDER BY task_id, label", chunk
            )
            for tid, label in rows.fetchall():
                out.setdefault(tid, []).append(label)
        return {k: tuple(v) for k, v in out.items()}

    def _tasks(self, rows: list[Any]) -> list[Task]:
        labels = self._labels([r[0] for r in rows]) if rows else {}
        return [_task(r, labels.get(r[0], ())) for r in rows]

    def task(self, task_id: int) -> Task | None:
        row = self.db.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return self._tasks([row])[0] if row else None

    def tasks(self, state: str | None = None, pool: str | None = None, limit: int = 1_000_000) -> list[Task]:
        query, params = f"SELECT {_TASK_COLUMNS} FROM tasks WHERE 1 = 1", []
        if state is not None:
            query += " AND state = ?"
            params.append(state)
        if pool is not None:
            query += " AND pool = ?"
            params.append(pool)
        query += " ORDER BY CASE state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END, priority, id LIMIT ?"
        return self._tasks(self.db.execute(query, (*params, limit)).fetchall())

    def task_counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in TaskState}
        counts.update(dict(self.db.execute("SELECT state, count(*) FROM tasks GROUP BY state").fetchall()))
        return counts

    def queued_by_pool(self) -> dict[str | None, int]:
        rows = self.db.execute("SELECT pool, count(*) FROM tasks WHERE state = 'queued' GROUP BY pool")
        return dict(rows.fetchall())

    def attempts(self, task_id: int) -> list[TaskAttempt]:
        rows = self.db.execute(
            "SELECT task_id, attempt, agent, started, run_id, ended, outcome, reason FROM task_attempts "
            "WHERE task_id = ? ORDER BY attempt",
            (task_id,),
        )
        return [TaskAttempt(*r) for r in rows.fetchall()]

    def next_lease_expiry(self) -> float | None:
        """The earliest lease of a pulled task (window tasks are watched through their window)."""
        row = self.db.execute(
            "SELECT min(lease_until) FROM tasks WHERE state = 'running' AND run_id IS NULL"
        ).fetchone()
        return row[0] if row else None

    def window_tasks(self) -> list[tuple[Task, Run | None]]:
        """Every task with a window run that needs watching: running, or whose run still lives."""
        from fleetctl.store import _run

        rows = self.db.execute(
            f"SELECT t.id, {_RUN_COLUMNS} FROM tasks t LEFT JOIN runs r ON r.id = t.run_id "
            "WHERE t.state = 'running' AND t.run_id IS NOT NULL "
            f"UNION SELECT r.task_id, {_RUN_COLUMNS} FROM runs r WHERE r.task_id IS NOT NULL AND r.ended IS NULL"
        ).fetchall()
        runs: dict[int, Run | None] = {}
        for row in rows:
            run = _run(row[1:]) if row[1] is not None else None
            if run is not None and not run.live and runs.get(row[0]) is not None:
                continue  # keep the live run when a task has an old ended one too
            runs[row[0]] = run
        tasks = self._tasks(
            [r for chunk in _chunks(sorted(runs), 500) for r in self.db.execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id IN ({','.join('?' * len(chunk))})", chunk).fetchall()]
        )  # fmt: skip
        return [(t, runs[t.id]) for t in tasks]

    # --- writing: the backlog --------------------------------------------------------

    def add_tasks(self, items: Sequence[NewTask], now: float) -> list[tuple[int, bool]]:
        """Insert tasks in one transaction; a key with an open task gives that task's id (created False)."""
        out: list[tuple[int, bool]] = []
        with self.transaction() as db:
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
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (item.title, item.body, item.priority, item.pool, item.key, item.max_attempts, now, now),
                )
                tid = int(cur.lastrowid or 0)
                db.executemany("INSERT INTO task_labels (task_id, label) VALUES (?, ?)",
                               [(tid, label) for label in sorted(set(item.labels))])  # fmt: skip
                _event(db, now, "task-added", None, item.title, {"task": tid, "priority": item.priority,
                                                                 "pool": item.pool})  # fmt: skip
                out.append((tid, True))
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
                where += (f" AND (t.pool = ? OR (t.pool IS NULL AND EXISTS (SELECT 1 FROM task_labels l "
                          f"WHERE l.task_id = t.id AND l.label IN ({marks}))))")  # fmt: skip
                params += [pool, *labels]
            else:
                where += " AND (t.pool = ? OR t.pool IS NULL)"
                params.append(pool)
        elif not any_pool:
            where += " AND t.pool IS NULL"
        holder = "?" if agent is not None else "? || '.' || id"
        with self.transaction() as db:
            self._expire(db, now)
            row = db.execute(
                f"UPDATE tasks SET state = 'running', attempt = attempt + 1, agent = {holder}, lease_until = ?, "
                "max_attempts = ?, run_id = NULL, started = ?, updated = ?, outcome = NULL, result = NULL "
                f"WHERE id = (SELECT t.id FROM tasks t WHERE {where} ORDER BY t.priority, t.id LIMIT 1) "
                f"RETURNING {_TASK_COLUMNS}",
                (agent if agent is not None else pool, now + lease, max_attempts, now, now, *params),
            ).fetchone()
            if row is None:
                return None
            task = _task(row, ())
            db.execute("INSERT INTO task_attempts (task_id, attempt, agent, started) VALUES (?, ?, ?, ?)",
                       (task.id, task.attempt, task.agent, now))  # fmt: skip
            _event(db, now, "task-claimed", task.agent, f"attempt {task.attempt}: {task.title}",
                   {"task": task.id, "attempt": task.attempt})  # fmt: skip
        return self._tasks([row])[0]

    def _expire(self, db: sqlite3.Connection, now: float) -> list[int]:
        """Re-queue pulled tasks whose lease ran out (needs-human when out of attempts)."""
        rows = db.execute(
            "UPDATE tasks SET state = CASE WHEN attempt - budget_from >= max_attempts THEN 'needs-human' "
            "ELSE 'queued' END, agent = NULL, lease_until = NULL, updated = ?, "
            "reason = 'lease of ' || agent || ' expired', "
            "finished = CASE WHEN attempt - budget_from >= max_attempts THEN ? ELSE NULL END "
            "WHERE state = 'running' AND run_id IS NULL AND lease_until < ? RETURNING id, attempt, state, reason",
            (now, now, now),
        ).fetchall()
        for tid, attempt, state, reason in rows:
            db.execute("UPDATE task_attempts SET ended = ?, outcome = 'expired', reason = ? "
                       "WHERE task_id = ? AND attempt = ?", (now, reason, tid, attempt))  # fmt: skip
            kind = "task-needs-human" if state == "needs-human" else "task-requeued"
            _event(db, now, kind, None, reason, {"task": tid, "attempt": attempt})
        return [r[0] for r in rows]

    def expire_leases(self, now: float) -> list[int]:
        with self.transaction() as db:
            return self._expire(db, now)

    def attach_run(self, task_id: int, attempt: int, run_id: str) -> bool:
        """Tie a claimed task to its window run (before the window opens)."""
        with self.transaction() as db:
            cur = db.execute("UPDATE tasks SET run_id = ? WHERE id = ? AND attempt = ? AND state = 'running'",
                             (run_id, task_id, attempt))  # fmt: skip
            db.execute("UPDATE task_attempts SET run_id = ? WHERE task_id = ? AND attempt = ?",
                       (run_id, task_id, attempt))  # fmt: skip
            return cur.rowcount == 1

    def renew_lease(self, task_id: int, until: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE tasks SET lease_until = ? WHERE id = ? AND state = 'running'", (until, task_id))

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
    ) -> bool:
        """Move one attempt of a task to its next state, once; False if someone else already did."""
        final = state.terminal
        marks = ",".join("?" * len(only_from))
        with self.transaction() as db:
            cur = db.execute(
                f"UPDATE tasks SET state = ?, updated = ?, reason = COALESCE(?, reason), "
                "result = COALESCE(?, result), outcome = ?, finished = ?, "
                "agent = CASE WHEN ? THEN agent ELSE NULL END, run_id = CASE WHEN ? THEN run_id ELSE NULL END, "
                "lease_until = CASE WHEN ? = 'running' THEN lease_until ELSE NULL END "
                f"WHERE id = ? AND attempt = ? AND state IN ({marks})",
                (state.value, now, reason, result, outcome, now if final else None, final, final, state.value,
                 task_id, attempt, *only_from),
            )  # fmt: skip
            if cur.rowcount != 1:
                return False
            if state is not TaskState.RUNNING:
                db.execute(
                    "UPDATE task_attempts SET ended = ?, outcome = ?, reason = ? "
                    "WHERE task_id = ? AND attempt = ? AND ended IS NULL",
                    (now, state.value if final else "requeued", reason, task_id, attempt),
                )
            if event is not None:
                _event(db, now, *event)
            return True

    def mark_outcome(self, task_id: int, attempt: int, outcome: str, result: str | None, now: float) -> bool:
        """A window agent said it is done; its gate decides once the window ends."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE tasks SET outcome = ?, result = COALESCE(?, result), updated = ? "
                "WHERE id = ? AND attempt = ? AND state = 'running'",
                (outcome, result, now, task_id, attempt),
            )
            if cur.rowcount == 1:
                _event(db, now, "task-reported", None, outcome, {"task": task_id, "attempt": attempt})
            return cur.rowcount == 1

    def cancel_task(self, task_id: int, now: float) -> Task | None:
        with self.transaction() as db:
            row = db.execute(
                "UPDATE tasks SET state = 'cancelled', updated = ?, finished = ?, lease_until = NULL "
                f"WHERE id = ? AND state IN ('queued', 'running', 'needs-review', 'needs-human') "
                f"RETURNING {_TASK_COLUMNS}",
                (now, now, task_id),
            ).fetchone()
            if row is None:
                return None
            task = _task(row, ())
            db.execute("UPDATE task_attempts SET ended = ?, outcome = 'cancelled' "
                       "WHERE task_id = ? AND attempt = ? AND ended IS NULL", (now, task_id, task.attempt))  # fmt: skip
            _event(db, now, "task-cancelled", task.agent, task.title, {"task": task_id, "attempt": task.attempt})
            return task

    def retry_task(self, task_id: int, now: float) -> Task | None:
        with self.transaction() as db:
            try:
                row = db.execute(
                    "UPDATE tasks SET state = 'queued', updated = ?, finished = NULL, agent = NULL, run_id = NULL, "
                    "lease_until = NULL, outcome = NULL, budget_from = attempt "
                    "WHERE id = ? AND state NOT IN ('queued', 'running') "
                    f"RETURNING {_TASK_COLUMNS}",
                    (now, task_id),
                ).fetchone()
            except sqlite3.IntegrityError:
                raise KeyConflict(task_id) from None
            if row is None:
                return None
            _event(db, now, "task-retried", None, row[1], {"task": task_id})
            return _task(row, ())

    # --- breakers ---------------------------------------------------------------------

    def breakers(self) -> dict[str, Breaker]:
        rows = self.db.execute("SELECT pool, state, signature, streak, opened_at, reason FROM breakers").fetchall()
        return {p: Breaker(p, BreakerState(s), sig, n, at, r) for p, s, sig, n, at, r in rows}

    def save_breaker(self, breaker: Breaker, event: tuple[str, str | None, str, dict[str, object]] | None,
                     now: float) -> None:  # fmt: skip
        with self.transaction() as db:
            db.execute(
                "INSERT INTO breakers (pool, state, signature, streak, opened_at, reason) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (pool) DO UPDATE SET state = excluded.state, signature = excluded.signature, "
                "streak = excluded.streak, opened_at = excluded.opened_at, reason = excluded.reason",
                (breaker.pool, breaker.state.value, breaker.signature, breaker.streak, breaker.opened_at,
                 breaker.reason),
            )  # fmt: skip
            if event is not None:
                _event(db, now, *event)

    # --- messages ---------------------------------------------------------------------

    def add_messages(self, sender: str, recipients: Sequence[str], text: str, key: str | None, wake: bool,
                     now: float) -> list[tuple[int, bool]]:  # fmt: skip
        """One message per recipient; a (recipient, key) already sent gives the earlier id (created False)."""
        out = []
        with self.transaction() as db:
            for recipient in recipients:
                if key is not None:
                    row = db.execute("SELECT id FROM messages WHERE recipient = ? AND key = ?",
                                     (recipient, key)).fetchone()  # fmt: skip
                    if row is not None:
                        out.append((row[0], False))
                        continue
                cur = db.execute(
                    "INSERT INTO messages (time, sender, recipient, text, key, wake) VALUES (?, ?, ?, ?, ?, ?)",
                    (now, sender, recipient, text, key, int(wake)),
                )
                out.append((int(cur.lastrowid or 0), True))
        return out

    def messages(self, recipient: str, unread: bool = False) -> list[Message]:
        query = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE recipient = ?"
        if unread:
            query += " AND read IS NULL"
        return [_message(r) for r in self.db.execute(query + " ORDER BY id", (recipient,)).fetchall()]

    def message(self, message_id: int) -> Message | None:
        row = self.db.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone()
        return _message(row) if row else None

    def ack_messages(self, ids: Sequence[int], now: float) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE messages SET read = ? WHERE id = ? AND read IS NULL", [(now, i) for i in ids])

    def pending_wakes(self) -> list[Message]:
        rows = self.db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE wake = 1 AND delivered IS NULL ORDER BY id"
        ).fetchall()
        return [_message(r) for r in rows]

    def live_verified_panes(self) -> dict[str, str]:
        """agent -> pane id of its live, verified run: where a wake may be typed."""
        rows = self.db.execute(
            "SELECT agent, pane_id FROM runs WHERE ended IS NULL AND verified IS NOT NULL AND pane_id IS NOT NULL "
            "ORDER BY started"
        ).fetchall()
        return dict(rows)

    def claim_wake(self, message_id: int, now: float) -> bool:
        """Take the right to type one wake into a pane: exactly one process gets True."""
        with self.transaction() as db:
            cur = db.execute("UPDATE messages SET delivered = ? WHERE id = ? AND delivered IS NULL", (now, message_id))
            return cur.rowcount == 1

    def unclaim_wake(self, message_id: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE messages SET delivered = NULL WHERE id = ?", (message_id,))


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
