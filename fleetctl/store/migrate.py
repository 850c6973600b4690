"""`store migrate --to URL`: a one-machine SQLite store copied into a PostgreSQL store, so a
fleet that outgrows one machine keeps its backlog, messages, events and history.

One transaction on the target: it is all copied or nothing is. The target must hold no
tasks, messages or events yet (a copy never merges two fleets' histories). Rows that say
which host wrote them get this host's name; identity sequences continue after the copied ids.
"""

from __future__ import annotations

from pathlib import Path

from fleetctl.errors import UsageError
from fleetctl.store.db import Database
from fleetctl.store.pg import PgDatabase
from fleetctl.store.url import masked

TABLES = (
    "agents",
    "runs",
    "events",
    "meta",
    "tasks",
    "task_labels",
    "task_attempts",
    "task_work",
    "attempt_results",
    "messages",
    "breakers",
    "supervise_cycles",
)
IDENTITY = ("events", "tasks", "messages")  # tables whose id PostgreSQL generates


def copy(source: Path, url: str, host: str) -> dict[str, int]:
    """Copy every table of the SQLite store at `source` into the store at `url`: table -> rows."""
    if not source.exists():
        raise UsageError(f"{source}: no SQLite store to migrate")
    old = Database(source)
    new = PgDatabase(url, host)
    try:
        nonempty = [t for t in ("tasks", "messages", "events") if new.row(f"SELECT 1 FROM {t} LIMIT 1")]
        if nonempty:
            raise UsageError(
                f"{masked(url)} already holds {', '.join(nonempty)}: migrate into an empty store; nothing was copied"
            )
        counts: dict[str, int] = {}
        with new.transaction() as db:
            for table in TABLES:
                names = [r[1] for r in old.rows(f"PRAGMA table_info({table})")]
                if not names:
                    continue
                found = old.rows(f"SELECT {', '.join(names)} FROM {table}")
                if "host" in names:
                    at = names.index("host")
                    found = [(*r[:at], r[at] or host, *r[at + 1 :]) for r in found]
                marks = ", ".join("?" * len(names))
                db.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", found)
                counts[table] = len(found)
            for table in IDENTITY:
                db.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) "
                    f"FROM {table}"
                )
        return counts
    finally:
        old.close()
        new.close()
