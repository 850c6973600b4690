"""A claim on PostgreSQL in one round trip: the task, its attempt row, its event and its
labels in one statement (its own transaction on the autocommit connection), the row chosen
FOR UPDATE SKIP LOCKED so claimers on every host take different tasks without waiting.

SQLite claims inside BEGIN IMMEDIATE instead (store.tasks), where round trips cost nothing.
The event's data is written as json.dumps(sort_keys=True) writes it.
"""

from __future__ import annotations

from fleetctl.model import Task
from fleetctl.store import rows
from fleetctl.store.backend import Backend


def claim_at_once(db: Backend, holder: str, where: str, params: list[object]) -> Task | None:
    """PostgreSQL: the claim, its attempt row, its event and its labels in one statement
    (one round trip, its own transaction); the row is chosen FOR UPDATE SKIP LOCKED."""
    found = db.row(
        "WITH claimed AS ("
        f"UPDATE tasks SET state = 'running', attempt = attempt + 1, agent = {holder}, host = ?, "
        "lease_until = ?, max_attempts = ?, run_id = NULL, started = ?, updated = ?, outcome = NULL, "
        "result = NULL "
        f"WHERE id = (SELECT t.id FROM tasks t WHERE {where} ORDER BY t.priority, t.id LIMIT 1 "
        f"FOR UPDATE SKIP LOCKED) RETURNING {rows.TASK_COLUMNS}), "
        "attempt_row AS (INSERT INTO task_attempts (task_id, attempt, agent, started, host) "
        "SELECT id, attempt, agent, ?, ? FROM claimed), "
        "event_row AS (INSERT INTO events (time, kind, agent, reason, data) "
        "SELECT ?, 'task-claimed', agent, 'attempt ' || attempt || ': ' || title, "
        """'{"attempt": ' || attempt || ', "task": ' || id || '}' FROM claimed) """
        f"SELECT {rows.TASK_COLUMNS}, (SELECT array_agg(l.label ORDER BY l.label) FROM task_labels l "
        "WHERE l.task_id = claimed.id) FROM claimed",
        params,
    )
    if found is None:
        return None
    *row, labels = found
    return rows.task(row, tuple(labels or ()))
