"""What is true now, derived without changing anything: the planner's views and `status` rows.

Safe while anything else runs: ended runs are simulated, never recorded, and nothing is
started or stopped.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetctl import plan as planner
from fleetctl.model import TASK_WINDOW_SEPARATOR, AgentRecord, AgentSpec, AgentState, Observation, PaneInfo
from fleetctl.record import record, replace
from fleetctl.runtime import observe
from fleetctl.runtime.context import Runtime


@record
class AgentStatus:
    """One row of `status`: what a person (or a script) needs about an agent."""

    name: str
    state: AgentState
    pid: int | None
    port: int | None
    window: str | None
    uptime_s: float | None
    respawns: int
    max_respawns: int
    last_exit: str | None
    last_output_s: float | None
    reason: str
    next_retry_s: float | None
    failure_class: str | None
    task: int | None = None
    session: str | None = None  # the conversation on disk a kind with sessions is in (fleetctl/sessions)
    session_age_s: float | None = None  # since its transcript was last written
    usage: dict[str, object] | None = None  # tokens and cost of the current run (kinds that record them)
    activity: str = "-"  # what an agent of a known kind is doing (fleetctl.kinds.Activity), as last read
    activity_detail: str = ""  # the question, the limit or retry line
    reset_at: float | None = None  # when a limit lifts (epoch seconds)
    labels: tuple[str, ...] = ()  # the agent's labels (`send --label`)

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state.value,
            "pid": self.pid,
            "port": self.port,
            "window": self.window,
            "uptime_s": None if self.uptime_s is None else round(self.uptime_s, 1),
            "respawns": self.respawns,
            "max_respawns": self.max_respawns,
            "last_exit": self.last_exit,
            "last_output_s": None if self.last_output_s is None else round(self.last_output_s, 1),
            "reason": self.reason,
            "next_retry_s": None if self.next_retry_s is None else round(self.next_retry_s, 1),
            "failure_class": self.failure_class,
            "task": self.task,
            "session": self.session,
            "session_age_s": None if self.session_age_s is None else round(self.session_age_s, 1),
            "usage": self.usage,
            "activity": self.activity,
            "activity_detail": self.activity_detail,
            "reset_at": self.reset_at,
            "labels": list(self.labels),
        }


@record
class TaskWindowStatus:
    """One running task window (`<pool>.<task id>`): what `status` shows below the agents.

    `activity` is '-' until task windows get an activity reading of their own.
    """

    name: str
    pool: str
    task: int
    title: str
    attempt: int
    state: str
    runtime_s: float | None
    window: str | None
    pid: int | None
    activity: str = "-"
    max_attempts: int = 1

    def as_json(self) -> dict[str, object]:
        """The keys of an agent's row (so scripts reading `name`, `state`, `window` keep working), and the task's."""
        return {
            "name": self.name,
            "kind": "task",
            "state": self.state,
            "pid": self.pid,
            "port": None,
            "window": self.window,
            "uptime_s": None if self.runtime_s is None else round(self.runtime_s, 1),
            "pool": self.pool,
            "task": self.task,
            "title": self.title,
            "attempt": self.attempt,
            "activity": self.activity,
        }


# How a task window's state shows where agents' states are expected (the TUI's table).
_WINDOW_AGENT_STATE = {
    "running": AgentState.RUNNING,
    "gating": AgentState.RUNNING,
    "starting": AgentState.STARTING,
    "ending": AgentState.COMPLETED,
    "no window": AgentState.STOPPED,
}


def window_row(window: TaskWindowStatus) -> AgentStatus:
    """A task window as an agent-shaped row (the TUI lists both in one table): the attempt
    stands in the respawn column, the task's title is the reason."""
    return AgentStatus(
        name=window.name,
        state=_WINDOW_AGENT_STATE.get(window.state, AgentState.RUNNING),
        pid=window.pid,
        port=None,
        window=window.window,
        uptime_s=window.runtime_s,
        respawns=max(0, window.attempt - 1),
        max_respawns=max(0, window.max_attempts - 1),
        last_exit=None,
        last_output_s=None,
        reason=f"task {window.task} ({window.state}): {window.title}",
        next_retry_s=None,
        failure_class=None,
        task=window.task,
    )


def views(
    rt: Runtime, specs: Sequence[AgentSpec] | None = None
) -> tuple[planner.Plan, Observation, dict[str, AgentRecord]]:
    """What the planner would do now, without doing it: ended runs are simulated, not recorded."""
    now = rt.now()
    listing, records = observe.records_while_listing(rt, now)
    obs = observe.observe(
        rt, ports_for=observe.verifiable(records, rt.spec, now), trees=False, listing=listing, read_only=True
    )
    records = observe.simulate_ended(records, observe.find_ended(rt, obs, records, now), now)
    spec = rt.spec if specs is None else replace(rt.spec, agents=tuple(specs))
    if any(a.kind != "generic" and a.idle_timeout is not None for a in spec.agents) and rt.store.path.exists():
        from fleetctl.runtime import activity  # idle_timeout of kind agents goes by their activity

        return activity.plan_by_activity(rt, spec, obs, records, now, observe.heartbeats(rt)), obs, records
    return planner.plan(spec, records, obs, now, observe.heartbeats(rt)), obs, records


def status(rt: Runtime, names: Sequence[str] = ()) -> list[AgentStatus]:
    """Observe and derive, changing nothing (safe while anything else runs)."""
    specs = rt.resolve(names)
    plan, obs, records = views(rt, specs)
    return with_activity(rt, _with_sessions(rt, specs, _rows(specs, plan, obs, records), obs.time), obs)


def _with_sessions(rt: Runtime, specs: Sequence[AgentSpec], rows: list[AgentStatus], now: float) -> list[AgentStatus]:
    """Each row with the session its agent is in, read from disk (kinds with sessions only)."""
    if all(s.kind == "generic" for s in specs):
        return rows
    from fleetctl.sessions import spend
    from fleetctl.sessions.start import current

    out = []
    for spec, row_ in zip(specs, rows, strict=True):
        info = current(rt, spec, now)
        if info is not None:
            row_ = replace(row_, session=info.id, session_age_s=info.age_s)
        used = spend.since(rt, spec, now - row_.uptime_s) if row_.uptime_s is not None else None
        out.append(row_ if used is None else replace(row_, usage=used.as_json()))
    return out


def _rows(
    specs: Sequence[AgentSpec], plan: planner.Plan, obs: Observation, records: dict[str, AgentRecord]
) -> list[AgentStatus]:
    return [
        row(s, as_status(plan.views[s.name], records.get(s.name)), records.get(s.name), obs, obs.time) for s in specs
    ]


def status_and_tasks(rt: Runtime, names: Sequence[str] = ()) -> tuple[list[AgentStatus], list[TaskWindowStatus]]:
    """The agents' rows and the task windows' rows from one observation, changing nothing.

    Names of the form `pool.id` pick task windows; the others are agents (all when none is named).
    """
    windows = [n for n in names if task_window_name(rt, n)]
    agent_names = [n for n in names if n not in windows]
    specs = rt.resolve(agent_names) if agent_names or not names else []
    plan, obs, records = views(rt, specs)
    rows = with_activity(rt, _with_sessions(rt, specs, _rows(specs, plan, obs, records), obs.time), obs)
    tasks = task_windows(rt, obs)
    if names:
        tasks = [t for t in tasks if t.name in windows]
    return rows, tasks


def with_activity(rt: Runtime, rows: list[AgentStatus], obs: Observation) -> list[AgentStatus]:
    """Each live agent's activity as the supervision pass last read it from the same pane
    (status never captures a pane); `-` for generic agents and for agents that do not run."""
    kinds = {a.name: a.kind for a in rt.spec.agents}
    if all(kinds.get(r.name, "generic") == "generic" for r in rows) or not rt.store.path.exists():
        return rows
    seen = rt.store.activities()
    out = []
    for r in rows:
        found, agent = seen.get(r.name), obs.agents.get(r.name)
        if found is not None and agent is not None and agent.alive and found.pane_id == agent.pane.pane_id:
            r = parked(
                replace(r, activity=found.activity, activity_detail=found.detail, reset_at=found.reset_at), obs.time
            )
        out.append(r)
    return out


def parked(row_: AgentStatus, now: float) -> AgentStatus:
    """A live agent at a rate or usage limit is parked until its reset (the next retry), as a
    headless one that exited at its limit is: it waits, it is not killed, no respawn is spent."""
    if row_.activity != "limited" or row_.state is not AgentState.RUNNING:
        return row_
    retry = None if row_.reset_at is None else max(0.0, row_.reset_at - now)
    reason = f"limited: {row_.activity_detail}" if row_.activity_detail else "limited"
    return replace(row_, state=AgentState.PARKED, reason=reason, next_retry_s=retry)


def task_window_name(rt: Runtime, name: str) -> bool:
    """Is this a task window's name: a pool of the fleet file, a dot, a task id?"""
    pool, sep, task = name.partition(TASK_WINDOW_SEPARATOR)
    return bool(sep) and task.isdigit() and rt.spec.pool(pool) is not None


def task_windows(rt: Runtime, obs: Observation) -> list[TaskWindowStatus]:
    """Every task window the store watches, with its pane as tmux showed it (sorted by pool, task)."""
    if not rt.spec.pools or not rt.store.exists():
        return []
    panes = {p.pane_id: p for p in obs.others if TASK_WINDOW_SEPARATOR in p.window_name}
    listed = observe.run_files(rt)  # the runs directory, listed once for every window
    by_name = {p.window_name: p for p in panes.values()}
    out = []
    for task, run in rt.store.window_tasks():
        name = run.agent if run is not None else (task.agent or f"{task.pool}{TASK_WINDOW_SEPARATOR}{task.id}")
        pane = panes.get(run.pane_id) if run is not None and run.pane_id else None
        pane = pane or by_name.get(name)
        out.append(
            TaskWindowStatus(
                name=name,
                pool=name.split(TASK_WINDOW_SEPARATOR, 1)[0],
                task=task.id,
                title=task.title,
                attempt=task.attempt,
                state=_window_state(listed, run.id if run is not None else None, pane),
                runtime_s=max(0.0, obs.time - run.started) if run is not None and run.live else None,
                window=pane.window_id if pane is not None else None,
                pid=pane.pid if pane is not None and not pane.dead else None,
                max_attempts=task.max_attempts,
            )
        )
    return sorted(out, key=lambda t: (t.pool, t.task))


def _window_state(listed: set[str], run_id: str | None, pane: PaneInfo | None) -> str:
    """running; gating (the agent exited, the pool's gate runs); ending (exit written); starting; no window."""
    if run_id is None:
        return "starting"  # claimed; its run is recorded once its window has opened
    if pane is None:
        return "no window"
    if pane.dead:
        return "ending"
    if f"{run_id}.exit" in listed:
        return "ending"
    if f"{run_id}.agent" in listed:
        return "gating"
    return "running"


def as_status(view: planner.AgentView, record_: AgentRecord | None) -> planner.AgentView:
    """The plan's view says what to do next; status says what is true now."""
    run = record_.current if record_ else None
    if view.state is AgentState.STARTING and (run is None or not run.live):
        if run is None:
            return replace(view, state=AgentState.STOPPED, reason="not started")
        return replace(
            view,
            state=AgentState.BACKOFF,
            reason=f"respawn due; last: {run.stop_reason or 'ended'}",
            respawns=max(0, view.respawns - 1),
        )
    return view


def row(
    spec: AgentSpec, view: planner.AgentView, record_: AgentRecord | None, obs: Observation, now: float
) -> AgentStatus:
    agent = obs.agents.get(spec.name)
    run = record_.current if record_ else None
    live = agent is not None and agent.alive
    last_exit = None
    if record_:
        finished = next((r for r in record_.runs if not r.live), None)
        if finished is not None:
            last_exit = finished.exit_text()
            if finished.stopped_by == "down":
                last_exit = "stopped"
            elif finished.stopped_by is not None:
                last_exit = f"killed ({(finished.stop_reason or '').split(':')[0] or finished.stopped_by})"
    return AgentStatus(
        name=spec.name,
        state=view.state,
        pid=agent.pane.pid if live and agent else None,
        port=spec.port,
        window=agent.pane.window_id if agent else None,
        uptime_s=now - run.started if live and run is not None and run.live else None,
        respawns=view.respawns,
        max_respawns=spec.max_respawns,
        last_exit=last_exit,
        last_output_s=max(0.0, now - agent.pane.activity) if agent and agent.pane.activity else None,
        reason=view.reason,
        next_retry_s=max(0.0, view.next_retry - now) if view.next_retry else None,
        failure_class=(run.failure_class.value if run and run.failure_class else None),
        task=run.task_id if run else None,
        labels=spec.labels,
    )


def describe(action: planner.Action) -> str:
    """One action in words, for `reconcile --dry-run`."""
    if isinstance(action, planner.Spawn):
        return f"spawn {action.agent} ({action.reason})" + (" as a respawn" if action.respawn else "")
    if isinstance(action, planner.Kill):
        return f"kill {action.agent}: {action.reason}: {action.detail}"
    if isinstance(action, planner.Verify):
        return f"verify {action.agent}"
    if isinstance(action, planner.GiveUp):
        return f"give up on {action.agent}: {action.reason}"
    if isinstance(action, planner.Adopt):
        return f"adopt {action.agent} (window {action.window_id}, pid {action.pid})"
    if isinstance(action, planner.Remove):
        return f"remove {action.agent} (no longer in the fleet file)"
    return f"mark {action.agent} stalled: {action.detail}"
