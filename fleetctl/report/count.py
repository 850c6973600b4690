"""Counting (pure): events, runs and claims in; a Report out.

Every count comes from the events a person can list with `fleetctl events`, one event at a
time, so a test can count the same events itself and compare. Agents end runs with
`exited`/`start-failed` (the run's failure class in `class`); task windows end with
`task-killed` (why: wall, idle, start, ...) and the settling event (`task-requeued`,
`task-done`, ...) that carries the run's exit code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from fleetctl.model import TASK_WINDOW_SEPARATOR, Event, FailureClass, Run, TaskAttempt
from fleetctl.report.activity import activity_time
from fleetctl.report.records import AgentSummary, Cycles, Incident, Report

# Events after an alert that mean its agent was dealt with (restarted or reset).
_CLEARS_ALERT = ("reset", "verified", "adopted")
TASK_STATES = ("added", "done", "failed", "needs-review", "needs-human")
# A task window's attempt ended with one of these; the event carries the run's exit.
_TASK_SETTLED = ("task-done", "task-requeued", "task-needs-review", "task-needs-human", "task-failed")
# Failure classes that are not crashes: the agent's service said no, the agent was fine.
_CLASS_COUNTS = {FailureClass.RATE_LIMITED.value: "rate_limited", FailureClass.AUTH.value: "auth"}
# Who ends task windows: the dispatcher, inside whichever pass (supervise or reconcile) ran it.
TASK_KILLER = "dispatch"


class _Tally:
    """The counts and incident lists while `build` walks the events."""

    def __init__(self, names: Iterable[str], pools: Iterable[str]) -> None:
        self.per: dict[str, Counter[str]] = {name: Counter() for name in names}
        self.pools = set(pools)
        for pool in self.pools:
            self.per.setdefault(pool, Counter())
        self.kills_by: dict[str, Counter[str]] = {}
        self.tasks: dict[str, Counter[str]] = {}
        self.lists: dict[str, list[Incident]] = {
            k: [] for k in ("crashes", "rate_limited", "auth", "kills", "stalls", "timeouts", "start_failures")
        }
        self.alerts: list[Incident] = []
        self.open_alerts: dict[int, Incident] = {}
        self.gave_up: dict[str, str] = {}

    def count(self, row: str | None, key: str, inc: Incident | None = None, listed: str | None = None) -> None:
        if row is not None:
            self.per.setdefault(row, Counter())[key] += 1
        if inc is not None:
            self.lists[listed or key].append(inc)

    def kill(self, row: str | None, inc: Incident) -> None:
        self.count(row, "kills", inc)
        if row is not None:
            self.kills_by.setdefault(row, Counter())[inc.by or "unknown"] += 1


def build(
    fleet: str,
    since: float,
    until: float,
    events: Sequence[Event],
    runs: Sequence[Run],
    *,
    agent_names: Iterable[str] = (),
    pool_names: Iterable[str] = (),
    failed_now: Mapping[str, str] | None = None,
    cycles: Cycles | None = None,
    tasks: Mapping[str, int] | None = None,
    task_states: Mapping[str, int] | None = None,
    attempts: Sequence[TaskAttempt] = (),
    unmatched_tasks: Sequence[int] = (),
    unmatched_count: int | None = None,
) -> Report:
    """Aggregate the events in [since, until] (and the runs that overlap it) into a Report.

    A run ends in exactly one class: a clean exit, a crash (non-zero code or a signal), a
    rate limit or an auth failure (the class the agent's kind gave it: not crashes), or a
    kill. A start failure that carries an exit also counts in that exit's class. Stalls,
    timeouts and start failures are counted on their own and are kills too when fleetctl
    ended the run. An alert stays open until its agent is verified running again, adopted
    or reset. A pool's task windows ("pool.17") are summed into one row named after the pool.
    """
    events = [e for e in events if since <= e.time <= until]
    t = _Tally(agent_names, pool_names)
    for e in events:
        row = e.agent.split(TASK_WINDOW_SEPARATOR, 1)[0] if e.agent else None
        if row is not None and e.agent != row:
            t.pools.add(row)
        _count_event(t, row, e)
        if e.kind in _CLEARS_ALERT and e.agent:
            for key in [k for k, a in t.open_alerts.items() if a.agent == e.agent]:
                del t.open_alerts[key]
    spent = activity_time(events, since, until, t.per)
    failed = dict(t.gave_up)
    if failed_now is not None:
        failed = {k: v for k, v in failed.items() if k in failed_now}  # reset since: no longer failed
        failed.update(failed_now)
    agents = tuple(
        AgentSummary(
            name=name,
            kills_by=dict(t.kills_by.get(name, {})),
            failed=failed.get(name),
            pool=name in t.pools,
            tasks=dict(t.tasks.get(name, {})),
            activity=spent.get(name, {}),
            **dict(c),
        )
        for name, c in sorted(t.per.items())
    )
    lists = {k: tuple(v) for k, v in t.lists.items()}
    return Report(
        fleet=fleet,
        since=since,
        until=until,
        agents=agents,
        crashes=lists["crashes"],
        rate_limited=lists["rate_limited"],
        auth=lists["auth"],
        kills=lists["kills"],
        stalls=lists["stalls"],
        timeouts=lists["timeouts"],
        start_failures=lists["start_failures"],
        failed_agents=failed,
        open_alerts=tuple(t.open_alerts.values()),
        alerts=tuple(t.alerts),
        events_by_kind=dict(Counter(e.kind for e in events)),
        cycles=cycles or Cycles(),
        duplicates=tuple(find_duplicates(runs) + find_duplicate_claims(attempts)),
        tasks=dict(tasks) if tasks is not None else None,
        task_states=dict(task_states) if task_states is not None else None,
        unmatched_tasks=tuple(unmatched_tasks),
        unmatched_count=len(unmatched_tasks) if unmatched_count is None else unmatched_count,
    )


def _count_event(t: _Tally, row: str | None, e: Event) -> None:
    inc = incident(e)
    kind = e.kind
    if kind == "spawned":
        t.count(row, "runs_started")
    elif kind == "respawned":
        t.count(row, "runs_started")
        t.count(row, "respawns")
    elif kind == "task-started":
        t.count(row, "runs_started")
        if _int(e.data.get("attempt")) > 1:
            t.count(row, "respawns")  # a later attempt of a task: the pool's retry
    elif kind in ("adopted", "verified", "backoff", "parked"):
        t.count(row, {"backoff": "backoffs"}.get(kind, kind))
    elif kind == "exited":
        _count_end(t, row, e, inc)
    elif kind == "start-failed":
        t.count(row, "start_failures", inc)
        if _exit_failure(e):
            _count_end(t, row, e, inc)
    elif kind == "stalled":
        t.count(row, "stalls", inc)
    elif kind == "timed-out":
        t.count(row, "timeouts", inc)
    elif kind == "killed":
        t.kill(row, inc)
    elif kind == "task-killed":
        t.kill(row, inc)
        why = inc.why
        if why == "wall":
            t.count(row, "timeouts", inc)
        elif why == "idle":
            t.count(row, "stalls", inc)
        elif why == "start":
            t.count(row, "start_failures", inc)
    elif kind in _TASK_SETTLED:
        if row is not None:
            t.tasks.setdefault(row, Counter())[kind.removeprefix("task-")] += 1
        if _exit_failure(e):
            t.count(row, "crashes", inc)
        elif e.data.get("exit_code") == 0:
            t.count(row, "clean_exits")
        if _int(e.data.get("gate_code")) != 0:  # failed, timed out, or could not run (re-queued)
            t.count(row, "gate_failures")
    elif kind == "gave-up":
        t.count(row, "gave_up")
        if row:
            t.gave_up[row] = e.reason
    elif kind == "alert":
        t.count(row, "alerts")
        t.alerts.append(inc)
        t.open_alerts[e.id or id(e)] = inc


def _count_end(t: _Tally, row: str | None, e: Event, inc: Incident) -> None:
    """An agent's run ended on its own: in its class (rate-limited, auth), else crash or clean."""
    cls = e.data.get("class")
    if isinstance(cls, str) and cls in _CLASS_COUNTS:
        t.count(row, _CLASS_COUNTS[cls], inc)
    elif _exit_failure(e) or (e.data.get("exit_code") is None and cls not in ("exited", None)):
        t.count(row, "crashes", inc)
    else:
        t.count(row, "clean_exits")


def _exit_failure(e: Event) -> bool:
    code, sig = e.data.get("exit_code"), e.data.get("exit_signal")
    return sig is not None or (code is not None and code != 0)


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def incident(e: Event) -> Incident:
    data = e.data
    code, sig = data.get("exit_code"), data.get("exit_signal")
    by = _str(data.get("by"))
    if by is None and e.kind == "task-killed":
        by = TASK_KILLER
    return Incident(
        time=e.time,
        agent=e.agent,
        kind=e.kind,
        detail=e.reason,
        run=_str(data.get("run")),
        by=by,
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
            if holder is not None and run.started < _end(holder.ended):
                out.append(f"{key}: run {run.id} started while run {holder.id} was still running")
            if holder is None or _end(run.ended) > _end(holder.ended):
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
            if holder is not None and a.started < _end(holder.ended):
                out.append(
                    f"task {task_id}: attempt {a.attempt} ({a.agent}) claimed while attempt "
                    f"{holder.attempt} ({holder.agent}) still held it"
                )
            if holder is None or _end(a.ended) > _end(holder.ended):
                holder = a
    return out


def _end(ended: float | None) -> float:
    return float("inf") if ended is None else ended
