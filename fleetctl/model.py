"""Records and states shared by every layer. No I/O, no third-party imports."""

from __future__ import annotations

import enum
import json
import os
import re
from pathlib import Path
from typing import NamedTuple

from fleetctl.record import field, record


def digest(text: str) -> str:
    """SHA-256 of text, in hex."""
    import hashlib  # only passes that start or compare runs need it: ~2 ms off every `status`

    return hashlib.sha256(text.encode()).hexdigest()


# A host's name in a fleet across machines ([fleet] host, hosts = [...]).
HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
SECRET_MARKERS = ("TOKEN", "KEY", "SECRET", "PASSWORD")
SUPERVISOR_WINDOW = "_supervisor"
# Pool task windows are named "<pool>.<task id>"; "." never occurs in an agent name.
TASK_WINDOW_SEPARATOR = "."


def new_run_id() -> str:
    """12 random hex digits: unique enough per fleet, and cheaper to import than uuid."""
    return os.urandom(6).hex()


def is_secret(key: str) -> bool:
    """Env keys that must never be shown, logged or put on a command line."""
    upper = key.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


class RestartPolicy(enum.Enum):
    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    NEVER = "never"


class StallAction(enum.Enum):
    RESTART = "restart"
    NOTIFY = "notify"


class AgentState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    STALLED = "stalled"
    BACKOFF = "backoff"
    PARKED = "parked"
    FAILED = "failed"
    STOPPED = "stopped"
    COMPLETED = "completed"


class FailureClass(enum.Enum):
    """Why a run ended."""

    EXITED = "exited"
    CRASHED = "crashed"
    KILLED = "killed"
    RATE_LIMITED = "rate-limited"
    AUTH = "auth"
    STALLED = "stalled"


@record
class AgentSpec:
    """One agent as the fleet file describes it, after defaults and replica expansion."""

    name: str
    command: str
    port: int | None = None
    cwd: Path = Path()
    env: tuple[tuple[str, str], ...] = ()
    base: str = ""
    replica: int | None = None
    start_timeout: float = 10.0
    min_uptime: float = 1.0
    stop_timeout: float = 10.0
    restart: RestartPolicy = RestartPolicy.ON_FAILURE
    max_respawns: int = 5
    respawn_window: float = 600.0
    backoff: float = 1.0
    backoff_max: float = 60.0
    idle_timeout: float | None = None
    wall_timeout: float | None = None
    health: str | None = None
    health_interval: float = 10.0
    health_failures: int = 3
    fallback: str | None = None
    fallback_after: int = 3
    rate_limit_patterns: tuple[str, ...] = ()
    auth_patterns: tuple[str, ...] = ()
    rate_limit_park: float = 900.0
    heartbeat_file: Path | None = None
    stall_action: StallAction = StallAction.RESTART
    log_max_size: int = 10 * 1024 * 1024
    log_keep: int = 5
    doctor_patterns: tuple[str, ...] = ()
    pool: str | None = None
    task_id: int | None = None
    kind: str = "generic"  # an agent kind (fleetctl/kinds): how to read its screen and output
    resume: bool = True  # a start resumes the agent's latest session (kinds with sessions: fleetctl/sessions)
    max_cost_per_run: float | None = None  # budgets in US dollars and tokens (fleetctl/sessions/budget.py)
    max_tokens_per_run: int | None = None
    max_cost_per_day: float | None = None
    on_context_full: str = "notify"  # "off" | "notify" | "rotate" (fleetctl/sessions/context.py)
    handoff_timeout: float = 120.0
    hosts: tuple[str, ...] = ()  # the hosts it may run on; () = every host
    on_ask: str = "notify"  # a question on screen: notify a person, or approve (approve_patterns only) or deny it
    approve_patterns: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # `send --label L` reaches every agent that has L
    retry_timeout: float | None = 600.0  # the client's own API-error retry loop, then handled as the error it retries

    def fingerprint(self) -> str:
        """A digest of what a running process depends on; a change means restart."""
        payload = json.dumps(
            [self.command, self.port, str(self.cwd), sorted(self.env), self.fallback],
            sort_keys=True,
        )
        return digest(payload)[:16]

    def public_env(self) -> dict[str, str]:
        return {k: ("***" if is_secret(k) else v) for k, v in self.env}


@record
class PoolSpec:
    """A pool hands queued tasks to agent windows, one window per task."""

    name: str
    command: str
    slots: int = 1
    labels: tuple[str, ...] = ()
    workspace: str = "none"
    repo: Path = Path()
    cwd: Path = Path()
    env: tuple[tuple[str, str], ...] = ()
    wall_timeout: float | None = None
    idle_timeout: float | None = None
    max_attempts: int = 3
    gate: str | None = None
    breaker_threshold: int = 3
    breaker_cooldown: float = 300.0
    lease: float = 3600.0
    start_timeout: float = 10.0
    min_uptime: float = 0.0
    stop_timeout: float = 10.0
    log_max_size: int = 10 * 1024 * 1024
    log_keep: int = 5
    on_done: str = "keep"  # keep the branch, merge it into merge_into, or run pr_command
    merge_into: str | None = None  # None: the repository's current branch
    pr_command: str | None = None
    worktree_keep: float = 7 * 86400.0
    kind: str = "generic"
    hosts: tuple[str, ...] = ()  # the hosts whose supervisor runs its windows; () = every host


@record
class FleetSpec:
    name: str
    path: Path
    state_dir: Path
    agents: tuple[AgentSpec, ...] = ()
    pools: tuple[PoolSpec, ...] = ()
    on_alert: str | None = None
    supervisor: bool = True
    max_actions_per_tick: int = 50
    kinds: dict[str, object] = field(default_factory=dict)  # fleet.toml's [kinds.NAME] tables, validated
    store: str | None = None  # a PostgreSQL URL shared by the fleet's hosts; None: SQLite in state_dir
    host: str = ""  # this machine's name in the fleet
    heartbeat: float = 10.0  # on a shared store: how often this host's supervisor reports
    elsewhere: tuple[str, ...] = ()  # agents of the fleet file that run on other hosts (messages reach them)
    prune_every: float = 300.0  # how often the supervise loop removes finished tasks' worktrees

    @property
    def socket_name(self) -> str:
        """Each host supervises its own tmux server; two hosts of one fleet may share a machine."""
        return f"fleetctl-{self.name}-{self.host}" if self.store else f"fleetctl-{self.name}"

    def agent(self, name: str) -> AgentSpec | None:
        return next((a for a in self.agents if a.name == name), None)

    def pool(self, name: str) -> PoolSpec | None:
        return next((p for p in self.pools if p.name == name), None)


# --- observation -----------------------------------------------------------------


@record
class PaneInfo:
    """One tmux pane of the fleet's session, converted from tmux's strings once."""

    window_id: str
    window_name: str
    pane_id: str
    pid: int
    dead: bool
    dead_status: int | None
    activity: float
    window_index: int = -1
    title: str = ""  # the pane title an agent CLI sets (Claude Code: a spinner while it works)


class ProcInfo(NamedTuple):
    """One process as a scan saw it (a tuple: a scan makes hundreds, so cheap to build)."""

    pid: int
    ppid: int
    pgid: int
    start_time: float
    cpu_seconds: float


@record
class AgentObservation:
    """What tmux and /proc say about one agent's window right now."""

    pane: PaneInfo
    alive: bool
    tree: tuple[int, ...] = ()
    ports: frozenset[int] = frozenset()
    cpu_seconds: float = 0.0
    io_bytes: int = 0


@record
class Observation:
    time: float
    server_running: bool
    agents: dict[str, AgentObservation] = field(default_factory=dict)
    others: tuple[PaneInfo, ...] = ()


# --- history ---------------------------------------------------------------------


@record
class Run:
    id: str
    agent: str
    started: float
    pid: int | None = None
    window_id: str | None = None
    pane_id: str | None = None
    respawn: bool = False
    fallback: bool = False
    verified: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    exit_signal: int | None = None
    failure_class: FailureClass | None = None
    stopped_by: str | None = None
    stop_reason: str | None = None
    fingerprint: str = ""
    task_id: int | None = None

    @property
    def live(self) -> bool:
        return self.ended is None

    def exit_text(self) -> str:
        if self.exit_signal is not None:
            return f"signal {self.exit_signal}"
        if self.exit_code is not None:
            return f"code {self.exit_code}"
        return "unknown"


@record
class AgentRecord:
    """What the store remembers about one agent: intent, counters and recent runs."""

    name: str
    desired: str = "running"
    failed_reason: str | None = None
    parked_until: float | None = None
    counter_reset_at: float = 0.0
    health_failures: int = 0
    stalled_since: float | None = None
    last_activity: float | None = None
    activity_mark: str = ""
    runs: tuple[Run, ...] = ()

    @property
    def current(self) -> Run | None:
        return self.runs[0] if self.runs else None

    @property
    def failed(self) -> bool:
        return self.failed_reason is not None

    def respawn_times(self) -> list[float]:
        return [r.started for r in self.runs if r.respawn and r.started > self.counter_reset_at]


@record
class Event:
    time: float
    kind: str
    agent: str | None = None
    reason: str = ""
    data: dict[str, object] = field(default_factory=dict)
    id: int = 0
    host: str | None = None  # the host that recorded it (None: a one-machine store)


# --- backlog and messages ----------------------------------------------------------

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_LEASE_SECONDS = 3600.0


class TaskState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    NEEDS_REVIEW = "needs-review"
    NEEDS_HUMAN = "needs-human"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self not in (TaskState.QUEUED, TaskState.RUNNING)


@record
class Task:
    """One unit of backlog work. `attempt` counts claims; `agent` holds the current lease."""

    id: int
    title: str
    body: str = ""
    priority: int = 2
    labels: tuple[str, ...] = ()
    pool: str | None = None
    key: str | None = None
    state: TaskState = TaskState.QUEUED
    attempt: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    budget_from: int = 0
    agent: str | None = None
    run_id: str | None = None
    lease_until: float | None = None
    created: float = 0.0
    updated: float = 0.0
    started: float | None = None
    finished: float | None = None
    outcome: str | None = None
    result: str | None = None
    reason: str | None = None

    @property
    def attempts_left(self) -> int:
        """Attempts still allowed before needs-human (a retry restarts the budget)."""
        return max(0, self.max_attempts - (self.attempt - self.budget_from))

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "priority": self.priority,
            "labels": list(self.labels),
            "pool": self.pool,
            "key": self.key,
            "state": self.state.value,
            "attempt": self.attempt,
            "max_attempts": self.max_attempts,
            "agent": self.agent,
            "run": self.run_id,
            "lease_until": self.lease_until,
            "created": self.created,
            "updated": self.updated,
            "started": self.started,
            "finished": self.finished,
            "result": self.result,
            "reason": self.reason,
        }


@record
class TaskAttempt:
    """One claim of a task: who ran it, how it ended."""

    task_id: int
    attempt: int
    agent: str
    started: float
    run_id: str | None = None
    ended: float | None = None
    outcome: str | None = None
    reason: str | None = None
    host: str | None = None  # the machine it ran on (None: claimed before hosts were recorded)


@record
class Message:
    """One message in one recipient's inbox; a wake is also typed into the recipient's pane."""

    id: int
    time: float
    sender: str
    recipient: str
    text: str
    key: str | None = None
    wake: bool = False
    delivered: float | None = None
    read: float | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "time": self.time,
            "from": self.sender,
            "to": self.recipient,
            "text": self.text,
            "key": self.key,
            "wake": self.wake,
            "delivered": self.delivered,
            "read": self.read,
        }


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@record
class Breaker:
    """A pool's circuit breaker: `streak` consecutive failures with the same `signature`."""

    pool: str
    state: BreakerState = BreakerState.CLOSED
    signature: str | None = None
    streak: int = 0
    opened_at: float | None = None
    reason: str = ""


# --- what agents of known kinds are doing ---------------------------------------------


@record
class ActivityRow:
    """An agent's activity (a fleetctl.kinds.Activity value), since when, and the marks that say
    whether its pane changed since the last look: tmux's activity time and the tree's CPU."""

    agent: str
    activity: str = "-"
    detail: str = ""
    reset_at: float | None = None
    since: float = 0.0
    evidence: str = ""
    pane_id: str = ""
    pane_activity: float = 0.0
    looked: float = 0.0
    tree_cpu: float = 0.0
    nudged: float | None = None  # when the kind's continue text was last typed after a limit
    nudges: int = 0  # continue texts typed since the limit lifted (2 unanswered: an alert)
    progress: str = ""  # the working screen's fingerprint with spinners and timers masked (kinds.progress)
    progressed: float = 0.0  # when a working agent last showed progress (a new fingerprint, busy children)
