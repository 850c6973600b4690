"""`fleetctl report`: what changed since a time, aggregated from the event log and the runs.

`build()` is pure (events, runs, agent state, cycle counts and task counts in; a Report
out), so every count is derived from the same events a person can list with
`fleetctl events`, and tests can check the two agree exactly. `load()` gathers the inputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from fleetctl.model import TASK_WINDOW_SEPARATOR, Event, Run, TaskAttempt
from fleetctl.record import field, record

if TYPE_CHECKING:
    from fleetctl.runtime.context import Runtime

REPORT_SCHEMA_VERSION = 1
# Events after an alert that mean its agent was dealt with (restarted or reset).
_CLEARS_ALERT = ("reset", "verified", "adopted")
TASK_STATES = ("added", "done", "failed", "needs-review", "needs-human")


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
    name: str
    runs_started: int = 0
    respawns: int = 0
    adopted: int = 0
    verified: int = 0
    clean_exits: int = 0
    crashes: int = 0
    start_failures: int = 0
    stalls: int = 0
    timeouts: int = 0
    kills: int = 0
    kills_by: dict[str, int] = field(default_factory=dict)
    backoffs: int = 0
    parked: int = 0
    gave_up: int = 0
    alerts: int = 0
    failed: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "runs_started": self.runs_started,
            "respawns": self.respawns,
            "adopted": self.adopted,
            "verified": self.verified,
            "clean_exits": self.clean_exits,
            "crashes": self.crashes,
            "start_failures": self.start_failures,
            "stalls": self.stalls,
            "timeouts": self.timeouts,
            "kills": self.kills,
            "kills_by": dict(sorted(self.kills_by.items())),
            "backoffs": self.backoffs,
            "parked": self.parked,
            "gave_up": self.gave_up,
            "alerts": self.alerts,
            "failed": self.failed,
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

    def as_json(self) -> dict[str, object]:
        return {
            "schema": REPORT_SCHEMA_VERSION,
            "fleet": self.fleet,
            "since": self.since,
            "until": self.until,
            "agents": [a.as_json() for a in self.agents],
            "totals": self.totals(),
            "crashes": [i.as_json() for i in self.crashes],
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
        }

    def totals(self) -> dict[str, int]:
        keys = ("runs_started", "respawns", "crashes", "start_failures", "stalls", "timeouts", "kills", "alerts")
        return {k: sum(int(getattr(a, k)) for a in self.agents) for k in keys}


# --- aggregation (pure) ----------------------------------------------------------------


def build(
    fleet: str,
    since: float,
    until: float,
    events: Sequence[Event],
    runs: Sequence[Run],
    *,
    agent_names: Iterable[str] = (),
    failed_now: Mapping[str, str] | None = None,
    cycles: Cycles | None = None,
    tasks: Mapping[str, int] | None = None,
    task_states: Mapping[str, int] | None = None,
    attempts: Sequence[TaskAttempt] = (),
) -> Report:
    """Aggregate the events in [since, until] (and the runs that overlap it) into a Report.

    Crashes are runs that ended on their own with a non-zero code or a signal: `exited`
    events, and `start-failed` events that carry such an exit (those count under both).
    A clean exit is not a crash; a start killed for not verifying in time is only a start failure. Every kill is a
    `killed` event, whatever caused it; stalls and timeouts are also counted on their own.
    An alert stays open until its agent is verified running again, adopted or reset.
    A pool's task windows ("pool.17") are summed into one row named after the pool.
    """
    events = [e for e in events if since <= e.time <= until]
    per: dict[str, Counter[str]] = {}
    kills_by: dict[str, Counter[str]] = {}
    crashes, kills, stalls, timeouts, start_failures, alerts = [], [], [], [], [], []
    open_alerts: dict[int, Incident] = {}
    gave_up: dict[str, str] = {}
    for name in agent_names:
        per.setdefault(name, Counter())
    for e in events:
        row = e.agent.split(TASK_WINDOW_SEPARATOR, 1)[0] if e.agent else None  # a pool's task windows: one row
        counts = per.setdefault(row, Counter()) if row else Counter()
        inc = _incident(e)
        if e.kind == "spawned":
            counts["runs_started"] += 1
        elif e.kind == "respawned":
            counts["runs_started"] += 1
            counts["respawns"] += 1
        elif e.kind == "adopted":
            counts["adopted"] += 1
        elif e.kind == "verified":
            counts["verified"] += 1
        elif e.kind == "exited":
            if _is_crash(e):
                counts["crashes"] += 1
                crashes.append(inc)
            else:
                counts["clean_exits"] += 1
        elif e.kind == "start-failed":
            counts["start_failures"] += 1
            start_failures.append(inc)
            if _has_exit_failure(e):
                counts["crashes"] += 1
                crashes.append(inc)
        elif e.kind == "stalled":
            counts["stalls"] += 1
            stalls.append(inc)
        elif e.kind == "timed-out":
            counts["timeouts"] += 1
            timeouts.append(inc)
        elif e.kind == "killed":
            counts["kills"] += 1
            kills.append(inc)
            if row:
                kills_by.setdefault(row, Counter())[inc.by or "unknown"] += 1
        elif e.kind == "backoff":
            counts["backoffs"] += 1
        elif e.kind == "parked":
            counts["parked"] += 1
        elif e.kind == "gave-up":
            counts["gave_up"] += 1
            if row:
                gave_up[row] = e.reason
        elif e.kind == "alert":
            counts["alerts"] += 1
            alerts.append(inc)
            open_alerts[e.id or id(e)] = inc
        if e.kind in _CLEARS_ALERT and e.agent:
            for key in [k for k, a in open_alerts.items() if a.agent == e.agent]:
                del open_alerts[key]
    failed = dict(gave_up)
    if failed_now is not None:
        failed = {k: v for k, v in failed.items() if k in failed_now}  # reset since: no longer failed
        failed.update(failed_now)
    agents = tuple(
        AgentSummary(name=name, kills_by=dict(kills_by.get(name, {})), failed=failed.get(name), **dict(c))
        for name, c in sorted(per.items())
    )
    return Report(
        fleet=fleet,
        since=since,
        until=until,
        agents=agents,
        crashes=tuple(crashes),
        kills=tuple(kills),
        stalls=tuple(stalls),
        timeouts=tuple(timeouts),
        start_failures=tuple(start_failures),
        failed_agents=failed,
        open_alerts=tuple(open_alerts.values()),
        alerts=tuple(alerts),
        events_by_kind=dict(Counter(e.kind for e in events)),
        cycles=cycles or Cycles(),
        duplicates=tuple(find_duplicates(runs) + find_duplicate_claims(attempts)),
        tasks=dict(tasks) if tasks is not None else None,
        task_states=dict(task_states) if task_states is not None else None,
    )


def _has_exit_failure(e: Event) -> bool:
    code, sig = e.data.get("exit_code"), e.data.get("exit_signal")
    return sig is not None or (code is not None and code != 0)


def _is_crash(e: Event) -> bool:
    code, sig = e.data.get("exit_code"), e.data.get("exit_signal")
    if sig is not None:
        return True
    if code is not None:
        return code != 0
    return e.data.get("class") not in ("exited", None)


def _incident(e: Event) -> Incident:
    data = e.data
    code, sig = data.get("exit_code"), data.get("exit_signal")
    return Incident(
        time=e.time,
        agent=e.agent,
        kind=e.kind,
        detail=e.reason,
        run=_str(data.get("run")),
        by=_str(data.get("by")),
        why=_str(data.get("why")),
        exit_code=code if isinstance(code, int) else None,
        exit_signal=sig if isinstance(sig, int) else None,
    )


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def find_duplicates(runs: Sequence[Run]) -> list[str]:
    """Runs of one agent, or of one task, that were alive at the same time (must never happen)."""
    out = []
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(f"agent {run.agent}", []).append(run)
        if run.task_id is not None:
            groups.setdefault(f"task {run.task_id}", []).append(run)
    for key, group in sorted(groups.items()):
        group.sort(key=lambda r: r.started)
        holder: Run | None = None  # the run seen so far that ends last
        for run in group:
            if holder is not None and run.started < _end(holder):
                out.append(f"{key}: run {run.id} started while run {holder.id} was still running")
            if holder is None or _end(run) > _end(holder):
                holder = run
    return out


def find_duplicate_claims(attempts: Sequence[TaskAttempt]) -> list[str]:
    """Claims of one task that were held at the same time: the task was dispatched twice."""
    out = []
    by_task: dict[int, list[TaskAttempt]] = {}
    for a in attempts:
        by_task.setdefault(a.task_id, []).append(a)
    for task_id, group in sorted(by_task.items()):
        group.sort(key=lambda a: (a.started, a.attempt))
        holder: TaskAttempt | None = None
        for a in group:
            if holder is not None and a.started < _claim_end(holder):
                out.append(
                    f"task {task_id}: attempt {a.attempt} ({a.agent}) claimed while attempt "
                    f"{holder.attempt} ({holder.agent}) still held it"
                )
            if holder is None or _claim_end(a) > _claim_end(holder):
                holder = a
    return out


def _claim_end(a: TaskAttempt) -> float:
    return float("inf") if a.ended is None else a.ended


def _end(run: Run) -> float:
    return float("inf") if run.ended is None else run.ended


# --- gathering (reads the store and the task board) ---------------------------------------


def load(fleet: Runtime, since: float, until: float | None = None) -> Report:
    """Read what `build` needs from the fleet's store; changes nothing."""
    until = fleet.now() if until is None else until
    store = fleet.store
    events = _all_events(fleet, since) if store.path.exists() else []
    runs = store.runs_between(since, until) if store.path.exists() else []
    rows = store.agent_rows() if store.path.exists() else {}
    failed_now = {name: reason for name, (_desired, reason) in rows.items() if reason}
    total, busy, seconds = store.cycles_since(since) if store.path.exists() else (0, 0, 0.0)
    tasks, states = _task_counts(fleet, events)
    attempts = store.task_attempts_between(since, until) if store.path.exists() else []
    return build(
        fleet.spec.name,
        since,
        until,
        events,
        runs,
        agent_names=[a.name for a in fleet.spec.agents],
        failed_now=failed_now,
        cycles=Cycles(total=total, busy=busy, seconds=seconds),
        tasks=tasks,
        task_states=states,
        attempts=attempts,
    )


def _all_events(fleet: Runtime, since: float, page: int = 50_000) -> list[Event]:
    """Every event since `since`, fetched in pages (store.events caps one query)."""
    out: list[Event] = []
    after = 0
    while True:
        batch = fleet.store.events(since=since, after_id=after, limit=page)
        out += batch
        if len(batch) < page:
            return out
        after = batch[-1].id


def _task_counts(fleet: Runtime, events: Sequence[Event]) -> tuple[dict[str, int] | None, dict[str, int] | None]:
    """Task changes in the window (from task-* events) and the board now; None without tasks."""
    from fleetctl.tasks import TaskBoard

    states = dict(TaskBoard(fleet).counts()) if fleet.store.path.exists() else {}
    changes = dict.fromkeys(TASK_STATES, 0)
    for e in events:
        if e.kind.startswith("task-"):
            what = e.kind.removeprefix("task-")
            changes[what] = changes.get(what, 0) + 1
    return changes, states
