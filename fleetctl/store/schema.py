"""The store's tables, and the versioned migrations that make them. Each change of shape is a
new entry in MIGRATIONS and bumps SCHEMA_VERSION.

Schema 3 is the baseline: its statements are all IF NOT EXISTS, so a SQLite file of schema
1 or 2 gets the tables it lacks. Later versions are applied in order, once, in one
transaction under the store's lock (BEGIN IMMEDIATE on SQLite, an advisory lock on
PostgreSQL), when `up`, `reconcile` or any command first opens the store.

The SQL is written once for both backends; `for_postgresql` maps SQLite's column types
(REAL is 4 bytes in PostgreSQL: timestamps need DOUBLE PRECISION).
"""

from __future__ import annotations

SCHEMA_VERSION = 8

CORE = """
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

BACKLOG = """
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
);
CREATE TABLE IF NOT EXISTS task_work (
    task_id INTEGER PRIMARY KEY,
    acceptance TEXT NOT NULL DEFAULT '',
    worktree TEXT,
    branch TEXT,
    base TEXT,
    reviewed_by TEXT,
    reviewed_at REAL,
    merged TEXT,
    pruned REAL
);
CREATE TABLE IF NOT EXISTS attempt_results (
    task_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    exit_code INTEGER,
    exit_signal INTEGER,
    class TEXT NOT NULL DEFAULT '',
    gate_code INTEGER,
    gate_tail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (task_id, attempt)
)
"""


CYCLES = (
    "CREATE TABLE IF NOT EXISTS supervise_cycles (bucket INTEGER PRIMARY KEY, cycles INTEGER NOT NULL, "
    "busy INTEGER NOT NULL, seconds REAL NOT NULL)"
)


# What each agent of a known kind was last seen doing (fleetctl.runtime.activity writes it).
ACTIVITY = """
CREATE TABLE IF NOT EXISTS agent_activity (
    agent TEXT PRIMARY KEY,
    activity TEXT NOT NULL DEFAULT '-',
    detail TEXT NOT NULL DEFAULT '',
    reset_at REAL,
    since REAL NOT NULL DEFAULT 0,
    evidence TEXT NOT NULL DEFAULT '',
    pane_id TEXT NOT NULL DEFAULT '',
    pane_activity REAL NOT NULL DEFAULT 0,
    looked REAL NOT NULL DEFAULT 0,
    tree_cpu REAL NOT NULL DEFAULT 0,
    nudged REAL,
    nudges INTEGER NOT NULL DEFAULT 0
)
"""


# Actions asked of another host's supervisor (restart, stop), and their results
# (fleetctl.store.requests); the host that runs the agent carries them out.
REQUESTS = (
    "CREATE TABLE IF NOT EXISTS requests (id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, "
    "host TEXT NOT NULL, agent TEXT NOT NULL, action TEXT NOT NULL, sender TEXT NOT NULL DEFAULT '', "
    "taken REAL, finished REAL, ok INTEGER, result TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX IF NOT EXISTS requests_open ON requests (host, taken)",
)

# Whether a working agent's screen still progresses (fleetctl.kinds.progress): a hung API call is not work.
_PROGRESS = "ALTER TABLE agent_activity ADD COLUMN progress TEXT NOT NULL DEFAULT ''"
_PROGRESSED = "ALTER TABLE agent_activity ADD COLUMN progressed {real} NOT NULL DEFAULT 0"


def statements() -> list[str]:
    """Every CREATE statement, in order (all are IF NOT EXISTS, so re-running them is a no-op)."""
    return [s.strip() for s in (CORE + ";" + BACKLOG).split(";") if s.strip()]


HOSTS = (
    "CREATE TABLE IF NOT EXISTS hosts (name TEXT PRIMARY KEY, seen REAL NOT NULL, "
    "interval REAL NOT NULL DEFAULT 0, pid INTEGER, observation TEXT NOT NULL DEFAULT '[]')"
)
# On PostgreSQL each connection says which host it is (set_config('fleet.host')), so the
# rows a host writes carry it without every INSERT naming it; on SQLite (one host) it is NULL.
_HOST_DEFAULT = " DEFAULT current_setting('fleet.host', true)"


def migrations(kind: str = "sqlite") -> list[tuple[int, list[str]]]:
    """(version, statements) in order; a store at version v runs those above v."""
    default = _HOST_DEFAULT if kind == "postgresql" else ""
    real = "DOUBLE PRECISION" if kind == "postgresql" else "REAL"
    hosts = [f"ALTER TABLE {table} ADD COLUMN host TEXT{default}" for table in ("runs", "events", "task_attempts")]
    return [
        (3, statements()),
        (4, [CYCLES]),
        (5, [*hosts, "ALTER TABLE tasks ADD COLUMN host TEXT", HOSTS]),
        (6, [ACTIVITY.strip()]),
        (7, list(REQUESTS)),
        (8, [_PROGRESS, _PROGRESSED.format(real=real)]),
    ]


def for_postgresql(statement: str) -> str:
    """A CREATE statement in PostgreSQL's types: identity keys, 8-byte floats and integers."""
    return (
        statement.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
        .replace(" REAL", " DOUBLE PRECISION")
        .replace(" INTEGER", " BIGINT")
    )
