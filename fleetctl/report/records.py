"""The report's records: what `fleetctl report` says, and its JSON shape."""

from __future__ import annotations

from fleetctl.record import field, record

REPORT_SCHEMA_VERSION = 2
# The counts every row has, in the order the text table shows them; `totals` sums them.
TOTAL_KEYS = (
    "runs_started",
    "respawns",
    "clean_exits",
    "crashes",
    "rate_limited",
    "auth",
    "start_failures",
    "stalls",
    "timeouts",
    "kills",
    "gate_failures",
    "alerts",
)


@record
class Incident:
    """One crash, kill, stall, timeout, start failure or alert, as the report lists it."""

    time: float
    agent: str | None
    kind: str
    detail: str
    run: str | None = None
    by: str | None = None
    why: str | None = None
    exit_code: int | None = None
    exit_signal: int | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "time": self.time,
            "agent": self.agent,
            "kind": self.kind,
            "detail": self.detail,
            "run": self.run,
            "by": self.by,
            "why": self.why,
            "exit_code": self.exit_code,
            "exit_signal": self.exit_signal,
        }


@record
class AgentSummary:
    """One agent's (or one pool's task windows') counts: one per way a run can end."""

    name: str
    runs_started: int = 0
    respawns: int = 0
    adopted: int = 0
    verified: int = 0
    clean_exits: int = 0
    crashes: int = 0
    rate_limited: int = 0
    auth: int = 0
    start_failures: int = 0
    stalls: int = 0
    timeouts: int = 0
    kills: int = 0
    kills_by: dict[str, int] = field(default_factory=dict)
    gate_failures: int = 0
    backoffs: int = 0
    parked: int = 0
    gave_up: int = 0
    alerts: int = 0
    failed: str | None = None
    pool: bool = False
    # A pool's settled attempts by outcome (done, requeued, needs-review, needs-human, failed),
    # from the task windows' events: the per-pool share of Report.tasks.
    tasks: dict[str, int] = field(default_factory=dict)
    # Seconds in each activity (working, waiting, asking, limited, retrying, ...) in the window,
    # from the activity events (fleetctl.report.activity); empty for agents with no reading.
    activity: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "pool": self.pool,
            "runs_started": self.runs_started,
            "respawns": self.respawns,
            "adopted": self.adopted,
            "verified": self.verified,
            "clean_exits": self.clean_exits,
            "crashes": self.crashes,
            "rate_limited": self.rate_limited,
            "auth": self.auth,
            "start_failures": self.start_failures,
            "stalls": self.stalls,
            "timeouts": self.timeouts,
            "kills": self.kills,
            "kills_by": dict(sorted(self.kills_by.items())),
            "gate_failures": self.gate_failures,
            "backoffs": self.backoffs,
            "parked": self.parked,
            "gave_up": self.gave_up,
            "alerts": self.alerts,
            "failed": self.failed,
            "tasks": dict(sorted(self.tasks.items())),
            "activity_s": dict(self.activity),
        }


@record
class Cycles:
    total: int = 0
    busy: int = 0
    seconds: float = 0.0

    @property
    def busy_share(self) -> float:
        return self.busy / self.total if self.total else 0.0


@record
class Report:
    fleet: str
    since: float
    until: float
    agents: tuple[AgentSummary, ...]
    crashes: tuple[Incident, ...]
    kills: tuple[Incident, ...]
    stalls: tuple[Incident, ...]
    timeouts: tuple[Incident, ...]
    start_failures: tuple[Incident, ...]
    failed_agents: dict[str, str]
    open_alerts: tuple[Incident, ...]
    alerts: tuple[Incident, ...]
    events_by_kind: dict[str, int]
    cycles: Cycles
    duplicates: tuple[str, ...]
    tasks: dict[str, int] | None = None
    task_states: dict[str, int] | None = None
    unmatched_tasks: tuple[int, ...] = ()
    unmatched_count: int = 0
    rate_limited: tuple[Incident, ...] = ()
    auth: tuple[Incident, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "schema": REPORT_SCHEMA_VERSION,
            "fleet": self.fleet,
            "since": self.since,
            "until": self.until,
            "agents": [a.as_json() for a in self.agents],
            "totals": self.totals(),
            "crashes": [i.as_json() for i in self.crashes],
            "rate_limited": [i.as_json() for i in self.rate_limited],
            "auth": [i.as_json() for i in self.auth],
            "kills": [i.as_json() for i in self.kills],
            "stalls": [i.as_json() for i in self.stalls],
            "timeouts": [i.as_json() for i in self.timeouts],
            "start_failures": [i.as_json() for i in self.start_failures],
            "failed_agents": dict(sorted(self.failed_agents.items())),
            "alerts": [i.as_json() for i in self.alerts],
            "open_alerts": [i.as_json() for i in self.open_alerts],
            "events_by_kind": dict(sorted(self.events_by_kind.items())),
            "supervise": {
                "cycles": self.cycles.total,
                "busy_cycles": self.cycles.busy,
                "busy_share": round(self.cycles.busy_share, 4),
                "seconds": round(self.cycles.seconds, 3),
            },
            "duplicates": {"count": len(self.duplicates), "details": list(self.duplicates)},
            "tasks": self.tasks,
            "task_states": self.task_states,
            "unmatched_tasks": {"count": self.unmatched_count, "ids": list(self.unmatched_tasks)},
        }

    def totals(self) -> dict[str, int]:
        return {k: sum(int(getattr(a, k)) for a in self.agents) for k in TOTAL_KEYS}
