"""Each attempt records the machine it ran on, and a database from before hosts were recorded upgrades
in place."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

from fleetctl.store import SCHEMA_VERSION, NewTask, StateStore
from fleetctl.store import schema as schema_module

# task_attempts as schema 3 wrote it: no host column.
SCHEMA_3_ATTEMPTS = """CREATE TABLE task_attempts (
    task_id INTEGER NOT NULL, attempt INTEGER NOT NULL, agent TEXT NOT NULL, run_id TEXT,
    started REAL NOT NULL, ended REAL, outcome TEXT, reason TEXT, PRIMARY KEY (task_id, attempt))"""


def test_a_schema_3_database_gains_the_host_column_and_keeps_its_attempts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    conn = sqlite3.connect(state / "fleet.db")
    for statement in schema_module.statements():
        conn.execute(SCHEMA_3_ATTEMPTS if "TABLE IF NOT EXISTS task_attempts" in statement else statement)
    conn.execute("INSERT INTO tasks (title, created, updated, attempt, state) VALUES ('old', 1, 1, 1, 'failed')")
    conn.execute(
        "INSERT INTO task_attempts (task_id, attempt, agent, started, outcome) VALUES (1, 1, 'w', 2, 'failed')"
    )
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()

    store = StateStore(state)
    (old,) = store.attempts(1)
    assert (old.agent, old.outcome, old.host) == ("w", "failed", None)
    ((tid, _),) = store.add_tasks([NewTask("new")], now=10.0)
    claimed = store.claim_task(now=11.0, lease=60.0, max_attempts=3, agent="w2")
    assert claimed is not None and claimed.id == tid
    assert [a.host for a in store.attempts(tid)] == [socket.gethostname()]
    store.close()
    version = sqlite3.connect(state / "fleet.db").execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION == 8
