"""One pass: observe -> plan -> apply -> record. The caller holds the store's lock.

Also what a pass samples on the way: each idle-watched agent's activity and the health
checks that are due.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from fleetctl import plan as planner
from fleetctl import wake
from fleetctl.model import AgentRecord, AgentSpec, AgentState, Event, Observation
from fleetctl.record import field, record, replace
from fleetctl.runtime import actions, activity, launcher, logs, observe, retrying
from fleetctl.runtime.context import Runtime, WatchList
from fleetctl.runtime.events import emit
from fleetctl.sessions import budget, context
from fleetctl.sessions import start as sessions

if TYPE_CHECKING:
    import subprocess

HEALTH_TIMEOUT_SECONDS = 10.0


@record(frozen=False)
class TickResult:
    plan: planner.Plan
    failures: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def acted(self) -> bool:
        return bool(self.plan.actions)


def tick(
    rt: Runtime, *, supervisor: bool = True, only: set[str] | None = None, restart: Collection[str] = ()
) -> TickResult:
    """One observe -> plan -> apply pass over the fleet (or only some agents: no removals,
    no supervisor, no dispatch); `restart`: see plan.plan."""
    rt.store.check_same_file()
    wake.ensure(rt.wake_fifo)
    now = rt.now()
    listing, records = observe.records_while_listing(rt, now)
    # CPU time of whole trees matters only to idle_timeout; without it, this pass takes
    # tmux's word for each pane instead of reading every process (a respawn after a run
    # ended finds what the run left by its FLEET_RUN: runtime.terminate).
    run_files = observe.run_files(rt)
    watched = activity.watched(rt.spec, records)  # live agents of known kinds: their children's CPU is evidence
    trees = bool(watched) or any(s.idle_timeout is not None for s in rt.spec.agents)
    obs = observe.observe(rt, ports_for=observe.verifiable(records, rt.spec, now), trees=trees, listing=listing)
    launcher.sweep_scripts(rt, run_files, obs, records)  # before this pass writes any: a killed pass's leftovers
    ended = observe.find_ended(rt, obs, records, now)
    if ended:
        # What was written, applied to what was read: no second read of the store.
        records = observe.simulate_ended(records, actions.apply_ended(rt, ended, now), now)
    sampled = sample_activity(rt, obs, records, now)
    sessions.note_new(rt, records, now)
    if budget.enforce(rt, obs, records, now) or context.check(rt, obs, records, now):  # budgets; a full context
        records = rt.records(now)
    look_again = activity.observe_activity(rt, obs, records, now) if watched else None
    if watched and retrying.enforce(rt, obs, records, now):  # retrying past retry_timeout
        records = rt.records(now)
    health_due, checked = run_health(rt, obs, records, now)
    if sampled or checked:
        records = rt.records(now)
    spec, planned = rt.spec, records
    if only is not None:
        spec = replace(rt.spec, agents=tuple(a for a in rt.spec.agents if a.name in only))
        planned = {k: v for k, v in records.items() if k in only}
    if watched and any(a.idle_timeout is not None for a in rt.spec.agents):
        plan = activity.plan_by_activity(rt, spec, obs, planned, now, observe.heartbeats(rt), restart)
    else:
        plan = planner.plan(spec, planned, obs, now, observe.heartbeats(rt), restart)
    if only is not None:
        plan = replace(plan, actions=tuple(a for a in plan.actions if not isinstance(a, planner.Remove)))
    for due in (health_due, look_again):
        if due is not None:
            plan = replace(plan, wake_at=due if plan.wake_at is None else min(plan.wake_at, due))
    result = TickResult(plan=plan)
    result.failures += actions.apply(rt, plan, obs, records, now)
    for end in ended:
        view = plan.views.get(end.run.agent)
        if view is not None and view.state is AgentState.BACKOFF and view.next_retry is not None:
            data: dict[str, object] = {"next_retry": view.next_retry, "respawns": view.respawns}
            emit(rt, "backoff", end.run.agent, f"next retry in {view.next_retry - now:.1f}s", data, now)
    if supervisor and rt.spec.supervisor and only is None:
        launcher.ensure_supervisor(rt, obs, records)
    logs.maintain(rt, obs, records)
    if only is None:
        from fleetctl import pools  # only passes that act need dispatch: keep `status` light

        wake_at = pools.on_tick(rt, obs)  # dispatch tasks, deliver pending wakes
        if wake_at is not None:
            current = result.plan.wake_at
            result.plan = replace(result.plan, wake_at=wake_at if current is None else min(current, wake_at))
        # Only a wait without a deadline ends in a quiet look (runtime.supervisor): no watch list otherwise.
        idle = not (result.acted or rt.spec.pools or watched or result.plan.wake_at is not None)
        rt.seen.watch = watch_list(rt, obs, records) if idle else None
    return result


def watch_list(rt: Runtime, obs: Observation, records: dict[str, AgentRecord]) -> WatchList:
    """What the quiet look checks until the next full pass: each live run's pane process."""
    out: WatchList = []
    # The pass read no process unless it scanned: read each live pane's now, for its start time.
    live = [a.pane.pid for a in obs.agents.values() if a.alive]
    table = rt.seen.panes if rt.seen.panes.procs else rt.procs.read(live)
    for spec in rt.spec.agents:
        record, agent = records.get(spec.name), obs.agents.get(spec.name)
        run = record.current if record else None
        info = table.procs.get(agent.pane.pid) if agent is not None and agent.alive else None
        if run is not None and run.live and info is not None:
            out.append((run.id, info.pid, info.start_time))
    return out


def sample_activity(rt: Runtime, obs: Observation, records: dict[str, AgentRecord], now: float) -> bool:
    """Remember when each idle-watched agent's tree last used CPU or did I/O (True: something changed)."""
    changed_any = False
    for spec in rt.spec.agents:
        if spec.idle_timeout is None:
            continue
        record, agent = records.get(spec.name), obs.agents.get(spec.name)
        if record is None or agent is None or not agent.alive:
            continue
        mark = f"{agent.cpu_seconds:.2f}:{agent.io_bytes}"
        if mark != record.activity_mark:
            changed = now if record.activity_mark else record.last_activity
            rt.store.update_agent(spec.name, activity_mark=mark, last_activity=changed)
            changed_any = True
    return changed_any


def run_health(rt: Runtime, obs: Observation, records: dict[str, AgentRecord], now: float) -> tuple[float | None, bool]:
    """Run due health checks concurrently; return when the next one is due, and whether any ran."""
    if not any(spec.health for spec in rt.spec.agents):
        return None, False
    import subprocess  # passes that act only: `status` never imports it

    checked = rt.store.health_checked()
    due: list[tuple[AgentSpec, subprocess.Popen[bytes]]] = []
    next_due: float | None = None
    for spec in rt.spec.agents:
        record, agent = records.get(spec.name), obs.agents.get(spec.name)
        run = record.current if record else None
        if not spec.health or run is None or run.verified is None or not run.live or agent is None:
            continue
        last = max(checked.get(spec.name, 0.0), run.verified)
        if now - last < spec.health_interval:
            when = last + spec.health_interval
            next_due = when if next_due is None else min(next_due, when)
            continue
        proc = subprocess.Popen(
            ["/bin/sh", "-c", spec.health],
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        due.append((spec, proc))
    for spec, proc in due:
        try:
            failed = proc.wait(timeout=min(spec.health_interval, HEALTH_TIMEOUT_SECONDS)) != 0
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            failed = True
        rt.store.bump_health_failures(spec.name, failed, now)
        if failed:
            emit(rt, "health-failed", spec.name, f"health check `{spec.health}` failed", {}, now)
        when = now + spec.health_interval
        next_due = when if next_due is None else min(next_due, when)
    return next_due, bool(due)
