"""Agents, their runs, events and meta counters: what supervision records.

Counters and claims are single UPDATE statements, never read-modify-write; a run's end is
recorded once (a second process that saw the same death gets False).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from fleetctl.model import AgentRecord, Event, FailureClass, Run
from fleetctl.store import rows
from fleetctl.store.backend import Backend

_AGENT_COLUMNS = (
    "name, desired, failed_reason, parked_until, counter_reset_at, health_failures, stalled_since, "
    "last_activity, activity_mark"
)


class RunQueries:
    def __init__(self, db: Backend) -> None:
        self.db = db

    # --- agents -------------------------------------------------------------------------

    def records(self, since: float, names: Iterable[str] = ()) -> dict[str, AgentRecord]:
        """Each agent's record with its latest runs and every run started since `since`."""
        run_rows = self.db.rows(
            f"SELECT {rows.RUN_COLUMNS} FROM (SELECT *, ROW_NUMBER() OVER "
            "(PARTITION BY agent ORDER BY started DESC) AS rn FROM runs "
            "WHERE ? IS NULL OR host IS NULL OR host = ?) AS ranked "
            "WHERE rn <= 3 OR started >= ? ORDER BY agent, started DESC",
            (self.db.host, self.db.host, since),
        )
        agents = self.db.rows(f"SELECT {_AGENT_COLUMNS} FROM agents")
        runs: dict[str, list[Run]] = {}
        for row in run_rows:
            runs.setdefault(row[1], []).append(rows.run(row))
        out = {}
        for name, desired, failed, parked, reset_at, health, stalled, activity, mark in agents:
            out[name] = AgentRecord(
                name=name,
                desired=desired,
                failed_reason=failed,
                parked_until=parked,
                counter_reset_at=reset_at,
                health_failures=health,
                stalled_since=stalled,
                last_activity=activity,
                activity_mark=mark,
                runs=tuple(runs.pop(name, ())),
            )
        for name, agent_runs in runs.items():
            out[name] = AgentRecord(name=name, runs=tuple(agent_runs))
        wanted = set(names)
        return {k: v for k, v in out.items() if not wanted or k in wanted}

    def ensure_agents(self, names: Iterable[str]) -> None:
        with self.db.transaction() as db:
            db.executemany("INSERT INTO agents (name) VALUES (?) ON CONFLICT (name) DO NOTHING", [(n,) for n in names])

    def set_desired(self, names: Iterable[str], desired: str) -> None:
        with self.db.transaction() as db:
            for name in names:
                db.execute("INSERT INTO agents (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,))
                db.execute("UPDATE agents SET desired = ? WHERE name = ?", (desired, name))

    def update_agent(self, name: str, **fields: object) -> None:
        if not fields:
            return
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.db.transaction() as db:
            db.execute("INSERT INTO agents (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,))
            db.execute(f"UPDATE agents SET {cols} WHERE name = ?", (*fields.values(), name))

    def bump_health_failures(self, name: str, failed: bool, now: float) -> None:
        count = "health_failures + 1" if failed else "0"
        with self.db.transaction() as db:
            db.execute(f"UPDATE agents SET health_failures = {count}, health_checked = ? WHERE name = ?", (now, name))

    def health_checked(self) -> dict[str, float]:
        return dict(self.db.rows("SELECT name, health_checked FROM agents WHERE health_checked IS NOT NULL"))

    def reset(self, name: str, now: float) -> None:
        with self.db.transaction() as db:
            db.execute("INSERT INTO agents (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,))
            db.execute(
                "UPDATE agents SET failed_reason = NULL, parked_until = NULL, counter_reset_at = ?, "
                "health_failures = 0, stalled_since = NULL WHERE name = ?",
                (now, name),
            )

    def fail_agent(self, name: str, reason: str) -> bool:
        """Mark an agent failed; True only for the caller that did it (one alert per incident)."""
        with self.db.transaction() as db:
            db.execute("INSERT INTO agents (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,))
            cur = db.execute(
                "UPDATE agents SET failed_reason = ? WHERE name = ? AND failed_reason IS NULL", (reason, name)
            )
            return cur.rowcount == 1

    def forget(self, name: str) -> None:
        with self.db.transaction() as db:
            db.execute("DELETE FROM agents WHERE name = ?", (name,))

    # --- runs ---------------------------------------------------------------------------

    def add_run(self, run: Run, pid_start: float | None = None) -> None:
        with self.db.transaction() as db:
            db.execute("INSERT INTO agents (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (run.agent,))
            db.execute(
                "INSERT INTO runs (id, agent, started, pid, pid_start, window_id, pane_id, respawn, fallback, "
                "verified, fingerprint, task_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.id,
                    run.agent,
                    run.started,
                    run.pid,
                    pid_start,
                    run.window_id,
                    run.pane_id,
                    int(run.respawn),
                    int(run.fallback),
                    run.verified,
                    run.fingerprint,
                    run.task_id,
                ),
            )
            db.execute(
                "UPDATE agents SET last_activity = NULL, activity_mark = '', health_failures = 0, "
                "stalled_since = NULL WHERE name = ?",
                (run.agent,),
            )

    def verify_run(self, run_id: str, now: float) -> bool:
        with self.db.transaction() as db:
            cur = db.execute("UPDATE runs SET verified = ? WHERE id = ? AND verified IS NULL", (now, run_id))
            return cur.rowcount == 1

    def end_run(
        self,
        run_id: str,
        now: float,
        *,
        exit_code: int | None = None,
        exit_signal: int | None = None,
        failure_class: FailureClass | None = None,
        stopped_by: str | None = None,
        stop_reason: str | None = None,
    ) -> bool:
        """Record a run's end once; a second caller (another process) gets False."""
        failure = failure_class.value if failure_class else None
        with self.db.transaction() as db:
            cur = db.execute(
                "UPDATE runs SET ended = ?, exit_code = ?, exit_signal = ?, failure_class = ?, "
                "stopped_by = ?, stop_reason = ? WHERE id = ? AND ended IS NULL",
                (now, exit_code, exit_signal, failure, stopped_by, stop_reason, run_id),
            )
            return cur.rowcount == 1

    def run(self, run_id: str) -> Run | None:
        row = self.db.row(f"SELECT {rows.RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        return rows.run(row) if row else None

    def runs_since(self, since: float) -> list[Run]:
        found = self.db.rows(f"SELECT {rows.RUN_COLUMNS} FROM runs WHERE started >= ? ORDER BY started", (since,))
        return [rows.run(r) for r in found]

    # --- events and meta ----------------------------------------------------------------

    def add_event(self, event: Event) -> int:
        with self.db.transaction() as db:
            cur = db.execute(
                "INSERT INTO events (time, kind, agent, reason, data) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (event.time, event.kind, event.agent, event.reason, json.dumps(event.data, sort_keys=True)),
            )
            return int(cur.fetchone()[0])

    def events(
        self,
        since: float = 0.0,
        agent: str | None = None,
        after_id: int = 0,
        limit: int = 100_000,
        host: str | None = None,
    ) -> list[Event]:
        query = "SELECT id, time, kind, agent, reason, data, host FROM events WHERE time >= ? AND id > ?"
        params: list[object] = [since, after_id]
        if agent:
            query += " AND agent = ?"
            params.append(agent)
        if host:
            query += " AND host = ?"
            params.append(host)
        query += " ORDER BY id LIMIT ?"
        params.append(limit)
        return [
            Event(id=i, time=t, kind=k, agent=a, reason=r, data=json.loads(d), host=h)
            for i, t, k, a, r, d, h in self.db.rows(query, params)
        ]

    def bump(self, key: str, by: int = 1) -> None:
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = CAST(meta.value AS INTEGER) + ?",
                (key, str(by), by),
            )

    def meta(self) -> dict[str, str]:
        return dict(self.db.rows("SELECT key, value FROM meta"))

    def set_meta(self, key: str, value: str) -> None:
        with self.db.transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                (key, value, value),
            )
