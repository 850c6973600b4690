"""Read-only queries for the operator tools (report, events, metrics), mixed into StateStore.

Kept apart from store.py so the tools can grow without touching the core store; every
query still goes through the store's connection and its corrupt/locked error mapping.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from fleetctl.model import Run, TaskAttempt

# Supervise cycles are counted per minute, so `report --since` can say how many ran in
# any window; buckets older than this are pruned as new ones are written.
CYCLE_BUCKET_SECONDS = 60
CYCLE_KEEP_SECONDS = 35 * 86400
_CYCLES_TABLE = (
    "CREATE TABLE IF NOT EXISTS supervise_cycles (bucket INTEGER PRIMARY KEY, cycles INTEGER NOT NULL, "
    "busy INTEGER NOT NULL, seconds REAL NOT NULL)"
)

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every command milliseconds
if TYPE_CHECKING:
    from fleetctl.errors import StoreError


class OpsQueries:
    """Queries for `report`, `events` and `metrics`; StateStore supplies `db` and `_corrupt`."""

    if TYPE_CHECKING:
        db: sqlite3.Connection

        def _corrupt(self, exc: sqlite3.Error) -> StoreError: ...

    def runs_between(self, since: float, until: float | None = None) -> list[Run]:
        """Runs started in [since, until), or still running or ended in it (what a report covers)."""
        from fleetctl.store import _RUN_COLUMNS, _run

        until_ = float("inf") if until is None else until
        try:
            rows = self.db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE started < ? AND (ended IS NULL OR ended >= ?) ORDER BY started",
                (until_, since),
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        return [_run(r) for r in rows]

    def last_event_id(self) -> int:
        try:
            row = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        return int(row[0])

    def event_totals(self, since: float = 0.0) -> dict[str, int]:
        """kind -> how many events since `since`."""
        try:
            rows = self.db.execute("SELECT kind, COUNT(*) FROM events WHERE time >= ? GROUP BY kind", (since,))
            return {kind: int(n) for kind, n in rows.fetchall()}
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    def run_totals(self) -> dict[str, tuple[int, int]]:
        """agent -> (runs ever started, of which respawns)."""
        try:
            rows = self.db.execute("SELECT agent, COUNT(*), SUM(respawn) FROM runs GROUP BY agent").fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        return {agent: (int(n), int(respawns or 0)) for agent, n, respawns in rows}

    def agent_rows(self) -> dict[str, tuple[str, str | None]]:
        """name -> (desired, failed_reason) for every agent the store knows."""
        try:
            rows = self.db.execute("SELECT name, desired, failed_reason FROM agents").fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        return {name: (desired, failed) for name, desired, failed in rows}

    def record_cycle(self, now: float, acted: bool, seconds: float) -> None:
        """Count one supervise cycle in its minute bucket and remember how long it took."""
        bucket = int(now // CYCLE_BUCKET_SECONDS)
        try:
            with _tx(self.db) as db:
                db.execute(_CYCLES_TABLE)
                db.execute(
                    "INSERT INTO supervise_cycles (bucket, cycles, busy, seconds) VALUES (?, 1, ?, ?) "
                    "ON CONFLICT(bucket) DO UPDATE SET cycles = cycles + 1, busy = busy + excluded.busy, "
                    "seconds = seconds + excluded.seconds",
                    (bucket, int(acted), seconds),
                )
                db.execute(
                    "DELETE FROM supervise_cycles WHERE bucket < ?",
                    (bucket - CYCLE_KEEP_SECONDS // CYCLE_BUCKET_SECONDS,),
                )
                for key, value in (("supervise_last_cycle_seconds", seconds), ("supervise_last_cycle_at", now)):
                    db.execute(
                        "INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, repr(value)),
                    )
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    def cycles_since(self, since: float) -> tuple[int, int, float]:
        """(cycles, cycles that acted, seconds spent) in the minute buckets from `since` on."""
        try:
            if not self._has_table("supervise_cycles"):
                return 0, 0, 0.0
            row = self.db.execute(
                "SELECT COALESCE(SUM(cycles), 0), COALESCE(SUM(busy), 0), COALESCE(SUM(seconds), 0) "
                "FROM supervise_cycles WHERE bucket >= ?",
                (int(since // CYCLE_BUCKET_SECONDS),),
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        return int(row[0]), int(row[1]), float(row[2])

    def _has_table(self, name: str) -> bool:
        row = self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        return row is not None

    def task_attempts_between(self, since: float, until: float) -> list[TaskAttempt]:
        """Task claims alive at any time in [since, until] (for duplicate detection)."""
        try:
            if not self._has_table("task_attempts"):
                return []
            rows = self.db.execute(
                "SELECT task_id, attempt, agent, started, run_id, ended, outcome, reason FROM task_attempts "
                "WHERE started <= ? AND (ended IS NULL OR ended >= ?) ORDER BY task_id, attempt",
                (until, since),
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        return [TaskAttempt(*r) for r in rows]

    def dispatch_latencies(self, since: float) -> list[float]:
        """Seconds from a task's creation to its first claim, for first claims since `since`."""
        try:
            if not self._has_table("task_attempts"):
                return []
            rows = self.db.execute(
                "SELECT a.started - t.created FROM task_attempts a JOIN tasks t ON t.id = a.task_id "
                "WHERE a.attempt = 1 AND a.started >= ?",
                (since,),
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        return [max(0.0, float(r[0])) for r in rows]

    def meta_values(self) -> dict[str, str]:
        try:
            return dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    def meta_value(self, key: str) -> str | None:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        return None if row is None else str(row[0])


@contextlib.contextmanager
def _tx(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    from fleetctl.store import _tx as store_tx

    with store_tx(db) as conn:
        yield conn
