"""Queries for the operator tools (report, events, metrics) and the supervise-cycle counters.

Kept apart from the core queries so the tools can grow without touching them; every query
still goes through the Database and its error mapping.
"""

from __future__ import annotations

from fleetctl.model import Run, TaskAttempt
from fleetctl.store import rows
from fleetctl.store.backend import Backend

# Supervise cycles are counted per minute, so `report --since` can say how many ran in
# any window; buckets older than this are pruned as new ones are written.
CYCLE_BUCKET_SECONDS = 60
CYCLE_KEEP_SECONDS = 35 * 86400


class OpsQueries:
    def __init__(self, db: Backend) -> None:
        self.db = db

    def runs_between(self, since: float, until: float | None = None, host: str | None = None) -> list[Run]:
        """Runs started in [since, until), or still running or ended in it (what a report covers);
        `host`: only the runs of that host (a shared store)."""
        found = self.db.rows(
            f"SELECT {rows.RUN_COLUMNS} FROM runs WHERE started < ? AND (ended IS NULL OR ended >= ?) "
            "AND (? IS NULL OR host = ?) ORDER BY started",
            (float("inf") if until is None else until, since, host, host),
        )
        return [rows.run(r) for r in found]

    def last_event_id(self) -> int:
        row = self.db.row("SELECT COALESCE(MAX(id), 0) FROM events")
        return int(row[0]) if row else 0

    def event_totals(self, since: float = 0.0) -> dict[str, int]:
        """kind -> how many events since `since`."""
        found = self.db.rows("SELECT kind, COUNT(*) FROM events WHERE time >= ? GROUP BY kind", (since,))
        return {kind: int(n) for kind, n in found}

    def run_totals(self) -> dict[str, tuple[int, int]]:
        """agent -> (runs ever started, of which respawns)."""
        found = self.db.rows("SELECT agent, COUNT(*), SUM(respawn) FROM runs GROUP BY agent")
        return {agent: (int(n), int(respawns or 0)) for agent, n, respawns in found}

    def agent_rows(self) -> dict[str, tuple[str, str | None]]:
        """name -> (desired, failed_reason) for every agent the store knows."""
        found = self.db.rows("SELECT name, desired, failed_reason FROM agents")
        return {name: (desired, failed) for name, desired, failed in found}

    def record_cycle(self, now: float, acted: bool, seconds: float) -> None:
        """Count one supervise cycle in its minute bucket and remember how long it took."""
        bucket = int(now // CYCLE_BUCKET_SECONDS)
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO supervise_cycles (bucket, cycles, busy, seconds) VALUES (?, 1, ?, ?) "
                "ON CONFLICT(bucket) DO UPDATE SET cycles = supervise_cycles.cycles + 1, "
                "busy = supervise_cycles.busy + excluded.busy, seconds = supervise_cycles.seconds + excluded.seconds",
                (bucket, int(acted), seconds),
            )
            db.execute(
                "DELETE FROM supervise_cycles WHERE bucket < ?",
                (bucket - CYCLE_KEEP_SECONDS // CYCLE_BUCKET_SECONDS,),
            )
            for key, value in (("supervise_last_cycle_seconds", seconds), ("supervise_last_cycle_at", now)):
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, repr(value)),
                )

    def cycles_since(self, since: float) -> tuple[int, int, float]:
        """(cycles, cycles that acted, seconds spent) in the minute buckets from `since` on."""
        if not self._has_table("supervise_cycles"):
            return 0, 0, 0.0
        row = self.db.row(
            "SELECT COALESCE(SUM(cycles), 0), COALESCE(SUM(busy), 0), COALESCE(SUM(seconds), 0) "
            "FROM supervise_cycles WHERE bucket >= ?",
            (int(since // CYCLE_BUCKET_SECONDS),),
        )
        return (int(row[0]), int(row[1]), float(row[2])) if row else (0, 0, 0.0)

    def _has_table(self, name: str) -> bool:
        return self.db.has_table(name)

    def task_attempts_between(self, since: float, until: float, host: str | None = None) -> list[TaskAttempt]:
        """Task claims alive at any time in [since, until] (for duplicate detection); `host`: its own."""
        if not self._has_table("task_attempts"):
            return []
        found = self.db.rows(
            f"SELECT {rows.ATTEMPT_COLUMNS} FROM task_attempts "
            "WHERE started <= ? AND (ended IS NULL OR ended >= ?) AND (? IS NULL OR host = ?) "
            "ORDER BY task_id, attempt",
            (until, since, host, host),
        )
        return [rows.attempt(r) for r in found]

    def dispatch_latencies(self, since: float) -> list[float]:
        """Seconds from a task's creation to its first claim, for first claims since `since`."""
        if not self._has_table("task_attempts"):
            return []
        found = self.db.rows(
            "SELECT a.started - t.created FROM task_attempts a JOIN tasks t ON t.id = a.task_id "
            "WHERE a.attempt = 1 AND a.started >= ?",
            (since,),
        )
        return [max(0.0, float(r[0])) for r in found]

    def meta_values(self) -> dict[str, str]:
        return dict(self.db.rows("SELECT key, value FROM meta"))

    def meta_value(self, key: str) -> str | None:
        row = self.db.row("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])
