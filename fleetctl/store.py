"""StateStore: the fleet's memory in SQLite (WAL). Every query of the project lives here.

The store records intent, history and counters; it never decides whether something is
alive (that is re-observed every time). Every change is one transaction, and counters
and claims are single UPDATE statements, never read-modify-write.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from fleetctl.errors import StoreError
from fleetctl.model import AgentRecord, Event, FailureClass, Run
from fleetctl.store_ops import OpsQueries
from fleetctl.store_tasks import TASK_SCHEMA, TaskQueries

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every command milliseconds
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 2
DB_NAME = "fleet.db"
LOCK_NAME = "lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    name TEXT PRIMARY KEY,
    desired TEXT NOT NULL DEFAULT 'running',
    failed_reason TEXT,
    parked_until REAL,
    counter_reset_at REAL NOT NULL DEFAULT 0,
    health_failures INTEGER NOT NULL DEFAULT 0,
    health_checked REAL,
    stalled_since REAL,
    last_activity REAL,
    activity_mark TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    started REAL NOT NULL,
    pid INTEGER,
    pid_start REAL,
    window_id TEXT,
    pane_id TEXT,
    respawn INTEGER NOT NULL DEFAULT 0,
    fallback INTEGER NOT NULL DEFAULT 0,
    verified REAL,
    ended REAL,
    exit_code INTEGER,
    exit_signal INTEGER,
    failure_class TEXT,
    stopped_by TEXT,
    stop_reason TEXT,
    fingerprint TEXT NOT NULL DEFAULT '',
    task_id INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_agent ON runs (agent, started DESC);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    agent TEXT,
    reason TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_RUN_COLUMNS = (
    "id, agent, started, pid, window_id, pane_id, respawn, fallback, verified, ended, exit_code, "
    "exit_signal, failure_class, stopped_by, stop_reason, fingerprint, task_id"
)


def _run(row: sqlite3.Row | tuple[Any, ...]) -> Run:
    (rid, agent, started, pid, window_id, pane_id, respawn, fallback, verified, ended, exit_code,
     exit_signal, failure_class, stopped_by, stop_reason, fingerprint, task_id) = tuple(row)[:17]  # fmt: skip
    # Positional, in Run's field order: a status builds one per stored run, so this is hot.
    return Run(rid, agent, started, pid, window_id, pane_id, bool(respawn), bool(fallback), verified, ended,
               exit_code, exit_signal, FailureClass(failure_class) if failure_class else None, stopped_by,
               stop_reason, fingerprint, task_id)  # fmt: skip


class StateStore(OpsQueries, TaskQueries):
    """One SQLite file in the fleet's state dir, plus the lock file beside it."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / DB_NAME
        self._db: sqlite3.Connection | None = None
        self._ino: int | None = None

    # --- connection -------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._connect()
        return self._db

    def _connect(self) -> sqlite3.Connection:
        try:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.state_dir}: cannot create the state dir ({exc.strerror})") from None
        try:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout = 30000")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: written by a newer fleetctl (schema {version} > {SCHEMA_VERSION})",
                    hint="upgrade fleetctl, or move the file aside to start with fresh state",
                )
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                with _tx(db):
                    for statement in (_SCHEMA + ";" + TASK_SCHEMA).split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("SELECT count(*) FROM agents").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        self._ino = self.path.stat().st_ino
        return db

    def _corrupt(self, exc: sqlite3.Error) -> StoreError:
        if "locked" in str(exc):
            return StoreError(
                f"{self.path}: the state database is locked by another process ({exc})",
                hint="wait for the other fleetctl to finish, or find it with `fuser` and stop it",
            )
        return StoreError(
            f"{self.path}: the state database is unreadable ({exc})",
            hint=f"move it aside (mv {self.path} {self.path}.bad); `fleetctl reconcile` then adopts the running agents",
        )

    def check_same_file(self) -> None:
        """Reconnect if the database file was deleted or replaced under us."""
        if self._db is None:
            return
        try:
            ino = self.path.stat().st_ino
        except FileNotFoundError:
            ino = None
        if ino != self._ino:
            self.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with _tx(self.db) as db:
                yield db
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    @contextlib.contextmanager
    def lock(self, blocking: bool = True) -> Iterator[bool]:
        """The fleet-wide mutation lock (reconcile, supervise ticks, up, down).

        flock is released by the kernel when its holder dies, so it can never go stale.
        """
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # --- agents and runs ----------------------------------------------------------

    def records(self, since: float, names: Iterable[str] = ()) -> dict[str, AgentRecord]:
        """Each agent's record with its latest run and every run started since `since`."""
        try:
            rows = self.db.execute(
                f"SELECT {_RUN_COLUMNS} FROM (SELECT *, ROW_NUMBER() OVER "
                "(PARTITION BY agent ORDER BY started DESC) AS rn FROM runs) "
                "WHERE rn <= 3 OR started >= ? ORDER BY agent, started DESC",
                (since,),
            ).fetchall()
            agents = self.db.execute(
                "SELECT name, desired, failed_reason, parked_until, counter_reset_at, health_failures, "
                "stalled_since, last_activity, activity_mark FROM agents"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        runs: dict[str, list[Run]] = {}
        for row in rows:
            runs.setdefault(row[1], []).append(_run(row))
        out = {}
        for name, desired, failed, parked, reset_at, health, stalled, activity, mark in agents:
            out[name] = AgentRecord(
                name=name, desired=desired, failed_reason=failed, parked_until=parked,
                counter_reset_at=reset_at, health_failures=health, stalled_since=stalled,
                last_activity=activity, activity_mark=mark, runs=tuple(runs.pop(name, ())),
            )  # fmt: skip
        for name, agent_runs in runs.items():
            out[name] = AgentRecord(name=name, runs=tuple(agent_runs))
        wanted = set(names)
        return {k: v for k, v in out.items() if not wanted or k in wanted}

    def ensure_agents(self, names: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO agents (name) VALUES (?)", [(n,) for n in names])

    def set_desired(self, names: Iterable[str], desired: str) -> None:
        with self.transaction() as db:
            for name in names:
                db.execute("INSERT OR IGNORE INTO agents (name) VALUES (?)", (name,))
                db.execute("UPDATE agents SET desired = ? WHERE name = ?", (desired, name))

    def update_agent(self, name: str, **fields: object) -> None:
        if not fields:
            return
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO agents (name) VALUES (?)", (name,))
            db.execute(f"UPDATE agents SET {cols} WHERE name = ?", (*fields.values(), name))

    def bump_health_failures(self, name: str, failed: bool, now: float) -> None:
        with self.transaction() as db:
            if failed:
                db.execute(
                    "UPDATE agents SET health_failures = health_failures + 1, health_checked = ? WHERE name = ?",
                    (now, name),
                )
            else:
                db.execute("UPDATE agents SET health_failures = 0, health_checked = ? WHERE name = ?", (now, name))

    def health_checked(self) -> dict[str, float]:
        rows = self.db.execute("SELECT name, health_checked FROM agents WHERE health_checked IS NOT NULL")
        return dict(rows.fetchall())

    def reset(self, name: str, now: float) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO agents (name) VALUES (?)", (name,))
            db.execute(
                "UPDATE agents SET failed_reason = NULL, parked_until = NULL, counter_reset_at = ?, "
                "health_failures = 0, stalled_since = NULL WHERE name = ?",
                (now, name),
            )

    def fail_agent(self, name: str, reason: str) -> bool:
        """Mark an agent failed; True only for the caller that did it (one alert per incident)."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO agents (name) VALUES (?)", (name,))
            cur = db.execute(
                "UPDATE agents SET failed_reason = ? WHERE name = ? AND failed_reason IS NULL", (reason, name)
            )
            return cur.rowcount == 1

    def forget(self, name: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM agents WHERE name = ?", (name,))

    def add_run(self, run: Run, pid_start: float | None = None) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO agents (name) VALUES (?)", (run.agent,))
            db.execute(
                "INSERT INTO runs (id, agent, started, pid, pid_start, window_id, pane_id, respawn, fallback, "
                "verified, fingerprint, task_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run.id, run.agent, run.started, run.pid, pid_start, run.window_id, run.pane_id,
                 int(run.respawn), int(run.fallback), run.verified, run.fingerprint, run.task_id),
            )  # fmt: skip
            db.execute(
                "UPDATE agents SET last_activity = NULL, activity_mark = '', health_failures = 0, "
                "stalled_since = NULL WHERE name = ?",
                (run.agent,),
            )

    def verify_run(self, run_id: str, now: float) -> bool:
        with self.transaction() as db:
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
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE runs SET ended = ?, exit_code = ?, exit_signal = ?, failure_class = ?, "
                "stopped_by = ?, stop_reason = ? WHERE id = ? AND ended IS NULL",
                (now, exit_code, exit_signal, failure_class.value if failure_class else None,
                 stopped_by, stop_reason, run_id),
            )  # fmt: skip
            return cur.rowcount == 1

    def run(self, run_id: str) -> Run | None:
        row = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    def runs_since(self, since: float) -> list[Run]:
        rows = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE started >= ? ORDER BY started", (since,))
        return [_run(r) for r in rows.fetchall()]

    # --- events -------------------------------------------------------------------

    def add_event(self, event: Event) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO events (time, kind, agent, reason, data) VALUES (?, ?, ?, ?, ?)",
                (event.time, event.kind, event.agent, event.reason, json.dumps(event.data, sort_keys=True)),
            )
            return int(cur.lastrowid or 0)

    def events(
        self, since: float = 0.0, agent: str | None = None, after_id: int = 0, limit: int = 100_000
    ) -> list[Event]:
        query = "SELECT id, time, kind, agent, reason, data FROM events WHERE time >= ? AND id > ?"
        params: list[object] = [since, after_id]
        if agent:
            query += " AND agent = ?"
            params.append(agent)
        query += " ORDER BY id LIMIT ?"
        params.append(limit)
        try:
            rows = self.db.execute(query, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        return [Event(id=i, time=t, kind=k, agent=a, reason=r, data=json.loads(d)) for i, t, k, a, r, d in rows]

    # --- meta ---------------------------------------------------------------------

    def bump(self, key: str, by: int = 1) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + ?",
                (key, str(by), by),
            )

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                       (key, value, value))  # fmt: skip


@contextlib.contextmanager
def _tx(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE so writers queue on the lock instead of failing on upgrade."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    else:
        db.execute("COMMIT")
