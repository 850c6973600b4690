"""Pure decisions: (fleet spec, stored history, one observation, now) -> a Plan.

Nothing here does I/O or reads a clock, so every policy (verification, restart modes,
respawn caps, backoff, timeouts, health, fallback, parking, adoption) is unit-tested
with plain numbers.
"""

from __future__ import annotations

from collections.abc import Collection

from fleetctl.model import (
    AgentObservation,
    AgentRecord,
    AgentSpec,
    AgentState,
    FailureClass,
    FleetSpec,
    Observation,
    PaneInfo,
    RestartPolicy,
    Run,
    StallAction,
)
from fleetctl.record import field, record

# How often to look again while a spawn waits for its port.
VERIFY_POLL_SECONDS = 0.05


# --- actions ---------------------------------------------------------------------


@record
class Spawn:
    agent: str
    reason: str
    respawn: bool = False
    fallback: bool = False
    replaces: str | None = None


@record
class Verify:
    agent: str
    run_id: str


@record
class Kill:
    """End a live run: TERM the group, wait stop_timeout, KILL, sweep its FLEET_RUN."""

    agent: str
    run_id: str
    reason: str
    detail: str
    failure_class: FailureClass = FailureClass.KILLED
    then_spawn: bool = False


@record
class GiveUp:
    agent: str
    reason: str


@record
class MarkStalled:
    agent: str
    detail: str


@record
class Adopt:
    agent: str
    window_id: str
    pane_id: str
    pid: int


@record
class Remove:
    """An agent no longer in the fleet file: stop what runs, close its window, forget it."""

    agent: str
    run_id: str | None
    window_id: str | None


Action = Spawn | Verify | Kill | GiveUp | MarkStalled | Adopt | Remove


@record
class AgentView:
    """One agent's derived state, for status, the TUI and exit codes."""

    name: str
    state: AgentState
    reason: str = ""
    next_retry: float | None = None
    respawns: int = 0


@record
class Plan:
    actions: tuple[Action, ...] = ()
    views: dict[str, AgentView] = field(default_factory=dict)
    wake_at: float | None = None


# --- policies --------------------------------------------------------------------


def backoff_delay(spec: AgentSpec, n: int) -> float:
    """Delay before respawn n (1-based): backoff * 2^(n-1), capped at backoff_max."""
    if n < 1 or spec.backoff <= 0:
        return 0.0
    return min(spec.backoff * 2.0 ** min(n - 1, 60), spec.backoff_max)


def respawns_used(spec: AgentSpec, record: AgentRecord, now: float) -> int:
    """Respawns inside the sliding window, not counting those before a reset."""
    return sum(1 for t in record.respawn_times() if t > now - spec.respawn_window)


def is_failure(run: Run) -> bool:
    """Did this run end in a way that spends the respawn budget?"""
    if run.failure_class is None or run.stopped_by in ("down", "restart", "config", "remove"):
        return False
    if run.failure_class is FailureClass.EXITED:
        return False
    return run.failure_class is not FailureClass.RATE_LIMITED


def use_fallback(spec: AgentSpec, record: AgentRecord) -> bool:
    """Switch to the fallback after fallback_after consecutive failed runs of the primary."""
    if not spec.fallback:
        return False
    failures = 0
    for run in record.runs:
        if run.started <= record.counter_reset_at or run.live:
            continue
        if run.fallback:
            if is_failure(run) or failures:
                continue
            return True  # the fallback is in use and healthy enough: stay on it
        if not is_failure(run):
            break
        failures += 1
    return failures >= spec.fallback_after


def last_activity(
    spec: AgentSpec, record: AgentRecord, run: Run, agent: AgentObservation, heartbeat: float | None
) -> float:
    signals = [run.started, agent.pane.activity]
    if record.last_activity is not None:
        signals.append(record.last_activity)
    if heartbeat is not None:
        signals.append(heartbeat)
    return max(signals)


# --- the plan --------------------------------------------------------------------


@record(frozen=False)
class _Builder:
    now: float
    restart: frozenset[str] = frozenset()
    actions: list[Action] = field(default_factory=list)
    views: dict[str, AgentView] = field(default_factory=dict)
    wake_at: float | None = None

    def wake(self, when: float) -> None:
        self.wake_at = when if self.wake_at is None else min(self.wake_at, when)

    def view(self, name: str, state: AgentState, reason: str = "", **kw: object) -> None:
        self.views[name] = AgentView(name=name, state=state, reason=reason, **kw)  # type: ignore[arg-type]


def plan(
    fleet: FleetSpec,
    records: dict[str, AgentRecord],
    obs: Observation,
    now: float,
    heartbeats: dict[str, float] | None = None,
    restart: Collection[str] = (),
) -> Plan:
    """`restart`: agents a person asked to restart; one whose run is over (completed, parked,
    in backoff) starts now, as supervisorctl and pm2 do, without spending its respawn budget."""
    b = _Builder(now=now, restart=frozenset(restart))
    heartbeats = heartbeats or {}
    for spec in fleet.agents:
        record = records.get(spec.name, AgentRecord(name=spec.name))
        _plan_agent(b, spec, record, obs.agents.get(spec.name), heartbeats.get(spec.name))
    known = {a.name for a in fleet.agents}
    for name, agent in obs.agents.items():
        if name not in known and not agent.pane.window_name.startswith("_"):
            gone = records.get(name)
            current = gone.current if gone else None
            b.actions.append(
                Remove(
                    agent=name, run_id=current.id if current and current.live else None, window_id=agent.pane.window_id
                )
            )
    # An agent the store knows and no window shows was removed from the fleet file; on a shared
    # store it may be another host's (whose file this host does not read): that host forgets it.
    for name, record in records.items() if fleet.store is None else ():
        if name not in known and name not in obs.agents and "." not in name:
            current = record.current
            b.actions.append(
                Remove(agent=name, run_id=current.id if current and current.live else None, window_id=None)
            )
    return Plan(actions=tuple(_budget(b.actions, fleet.max_actions_per_tick)), views=b.views, wake_at=b.wake_at)


def _budget(actions: list[Action], limit: int) -> list[Action]:
    """At most `limit` spawns and kills per tick, so cleanup never becomes the load."""
    out, costly = [], 0
    for action in actions:
        if isinstance(action, Spawn | Kill | Remove):
            costly += 1
            if costly > limit:
                continue
        out.append(action)
    return out


def runs_in(run: Run, pane: PaneInfo) -> bool:
    """Is this pane the one the run was started in? Pane ids restart at %1 with every tmux
    server, so a pane of a later server can carry an old run's id: its pid tells them apart."""
    return run.pane_id == pane.pane_id and (run.pid is None or run.pid == pane.pid)


def _plan_agent(
    b: _Builder,
    spec: AgentSpec,
    record: AgentRecord,
    agent: AgentObservation | None,
    heartbeat: float | None,
) -> None:
    run = record.current
    used = respawns_used(spec, record, b.now)
    alive = agent is not None and agent.alive

    if record.desired == "stopped":
        if alive and run is not None and run.live:
            b.actions.append(Kill(agent=spec.name, run_id=run.id, reason="stop", detail="meant to be stopped"))
        if record.failed:  # failed stays failed until `reset`, whatever `down` did since
            b.view(spec.name, AgentState.FAILED, record.failed_reason or "failed", respawns=used)
        else:
            b.view(spec.name, AgentState.STOPPED, "stopped", respawns=used)
        return

    if alive and agent is not None and run is not None and not run.live and runs_in(run, agent.pane):
        # The run's end is recorded (its wrapper wrote the exit code) but the wrapper has not
        # quite exited: treat it as dead; a respawn sweeps what is left of it.
        alive = False
    if alive and agent is not None and (run is None or not run.live or not runs_in(run, agent.pane)):
        b.actions.append(
            Adopt(agent=spec.name, window_id=agent.pane.window_id, pane_id=agent.pane.pane_id, pid=agent.pane.pid)
        )
        b.view(spec.name, AgentState.RUNNING, "adopted", respawns=used)
        return

    if run is not None and run.live and alive and agent is not None:
        if record.failed:  # e.g. an interactive agent showing an auth error: left for a person to read
            b.view(spec.name, AgentState.FAILED, record.failed_reason or "failed", respawns=used)
            return
        _plan_live(b, spec, record, run, agent, heartbeat, used)
        return

    if run is not None and run.live:
        # The window is gone or dead but the run's end is not recorded yet: the
        # executor records it before planning, so this only shows during a race.
        b.view(spec.name, AgentState.STARTING if run.verified is None else AgentState.RUNNING, "ending", respawns=used)
        b.wake(b.now + VERIFY_POLL_SECONDS)
        return

    if run is None:
        b.actions.append(Spawn(agent=spec.name, reason="not running"))
        b.view(spec.name, AgentState.STARTING, "spawning", respawns=used)
        return

    _plan_ended(b, spec, record, run, used)


def _plan_live(
    b: _Builder,
    spec: AgentSpec,
    record: AgentRecord,
    run: Run,
    agent: AgentObservation,
    heartbeat: float | None,
    used: int,
) -> None:
    name, now = spec.name, b.now
    age = now - run.started
    if run.verified is None:
        port_ok = spec.port is None or spec.port in agent.ports
        if port_ok and age >= spec.min_uptime:
            b.actions.append(Verify(agent=name, run_id=run.id))
            b.view(name, AgentState.RUNNING, respawns=used)
            return
        if age > spec.start_timeout:
            detail = (
                f"port {spec.port} not listening after {_secs(spec.start_timeout)}"
                if not port_ok
                else f"not verified after {_secs(spec.start_timeout)}"
            )
            b.actions.append(Kill(agent=name, run_id=run.id, reason="start", detail=detail))
            b.view(name, AgentState.STARTING, detail, respawns=used)
            return
        waiting = f"waiting for port {spec.port}" if not port_ok else f"min_uptime {_secs(spec.min_uptime)}"
        b.view(name, AgentState.STARTING, waiting, respawns=used)
        # No run verifies before min_uptime: polling its port sooner only competes with its start.
        verifiable = run.started + spec.min_uptime
        b.wake(max(now + VERIFY_POLL_SECONDS, verifiable) if not port_ok else verifiable)
        return

    if run.fingerprint and run.fingerprint != spec.fingerprint():
        b.actions.append(Kill(agent=name, run_id=run.id, reason="config", detail="config changed", then_spawn=True))
        b.view(name, AgentState.RUNNING, "config changed: restarting", respawns=used)
        return
    if spec.wall_timeout is not None:
        if age >= spec.wall_timeout:
            detail = f"ran {_secs(age)}, over wall_timeout {_secs(spec.wall_timeout)}"
            b.actions.append(Kill(agent=name, run_id=run.id, reason="wall", detail=detail))
            b.view(name, AgentState.RUNNING, detail, respawns=used)
            return
        b.wake(run.started + spec.wall_timeout)
    if spec.health and record.health_failures >= spec.health_failures:
        detail = f"health check failed {record.health_failures} times in a row"
        b.actions.append(Kill(agent=name, run_id=run.id, reason="health", detail=detail))
        b.view(name, AgentState.RUNNING, detail, respawns=used)
        return
    if spec.idle_timeout is not None:
        last = last_activity(spec, record, run, agent, heartbeat)
        if now - last >= spec.idle_timeout:
            detail = _stall_detail(spec, record, run, agent, heartbeat, now)
            if spec.stall_action is StallAction.RESTART:
                b.actions.append(
                    Kill(agent=name, run_id=run.id, reason="idle", detail=detail, failure_class=FailureClass.STALLED)
                )
            elif record.stalled_since is None:
                b.actions.append(MarkStalled(agent=name, detail=detail))
            b.view(name, AgentState.STALLED, detail, respawns=used)
            return
        # Sample again halfway, so that an active agent's last sign of life is never a whole
        # idle_timeout old: `status` reads no process and judges by the last sample.
        halfway = last + spec.idle_timeout / 2
        b.wake(halfway if halfway > now else last + spec.idle_timeout)
    b.view(name, AgentState.RUNNING, respawns=used)


def _stall_detail(
    spec: AgentSpec, record: AgentRecord, run: Run, agent: AgentObservation, heartbeat: float | None, now: float
) -> str:
    parts = [f"no pane output for {_secs(now - max(agent.pane.activity, run.started))}"]
    cpu_io = record.last_activity if record.last_activity is not None else run.started
    parts.append(f"no CPU or I/O in its process tree for {_secs(now - cpu_io)}")
    if spec.heartbeat_file is not None or heartbeat is not None:
        parts.append(f"no heartbeat for {_secs(now - heartbeat)}" if heartbeat else "no heartbeat yet")
    return "stalled: " + ", ".join(parts) + f" (idle_timeout {_secs(spec.idle_timeout or 0)})"


def _plan_ended(b: _Builder, spec: AgentSpec, record: AgentRecord, run: Run, used: int) -> None:
    name, now = spec.name, b.now
    ended = run.ended or now
    if record.failed:
        b.view(name, AgentState.FAILED, record.failed_reason or "failed", respawns=used)
        return
    if run.failure_class is FailureClass.AUTH:
        b.actions.append(GiveUp(agent=name, reason=run.stop_reason or "auth"))
        b.view(name, AgentState.FAILED, run.stop_reason or "auth", respawns=used)
        return
    if name in b.restart:  # asked for by a person: parked or in backoff, it starts now
        _restart(b, spec, record, run, used)
        return
    if record.parked_until is not None and now < record.parked_until:
        b.view(
            name, AgentState.PARKED, run.stop_reason or "rate limited", next_retry=record.parked_until, respawns=used
        )
        b.wake(record.parked_until)
        return
    if run.failure_class is FailureClass.RATE_LIMITED:
        b.actions.append(Spawn(agent=name, reason="park ended", replaces=run.id, fallback=use_fallback(spec, record)))
        b.view(name, AgentState.STARTING, "park ended", respawns=used)
        return
    if run.stopped_by in ("config", "restart"):
        _restart(b, spec, record, run, used)
        return
    if run.stopped_by == "down":  # stopped by a person, and now wanted again (`up`)
        b.actions.append(
            Spawn(agent=name, reason="started again", replaces=run.id, fallback=use_fallback(spec, record))
        )
        b.view(name, AgentState.STARTING, "starting", respawns=used)
        return
    if not is_failure(run) and spec.restart is not RestartPolicy.ALWAYS:
        b.view(name, AgentState.COMPLETED, run.stop_reason or "exited with code 0", respawns=used)
        return
    if spec.restart is RestartPolicy.NEVER:
        reason = f"{run.stop_reason or 'ended'} (restart = never)"
        b.actions.append(GiveUp(agent=name, reason=reason))
        b.view(name, AgentState.FAILED, reason, respawns=used)
        return
    if run.failure_class is FailureClass.EXITED and run.verified is not None:
        # a clean exit after min_uptime (restart = always): a new run, not a respawn; no budget spent
        b.actions.append(
            Spawn(agent=name, reason="restart after a clean exit", replaces=run.id, fallback=use_fallback(spec, record))
        )
        b.view(name, AgentState.STARTING, "restarting after a clean exit", respawns=used)
        return
    if used >= spec.max_respawns:
        reason = f"gave up after {used} respawns in {_secs(spec.respawn_window)}; last: {run.stop_reason or 'ended'}"
        b.actions.append(GiveUp(agent=name, reason=reason))
        b.view(name, AgentState.FAILED, reason, respawns=used)
        return
    due = ended + backoff_delay(spec, used + 1)
    if now < due:
        b.view(name, AgentState.BACKOFF, run.stop_reason or "", next_retry=due, respawns=used)
        b.wake(due)
        return
    b.actions.append(
        Spawn(
            agent=name,
            reason=run.stop_reason or "ended",
            respawn=True,
            fallback=use_fallback(spec, record),
            replaces=run.id,
        )
    )
    b.view(name, AgentState.STARTING, "respawning", respawns=used + 1)


def _restart(b: _Builder, spec: AgentSpec, record: AgentRecord, run: Run, used: int) -> None:
    b.actions.append(Spawn(agent=spec.name, reason="restart", replaces=run.id, fallback=use_fallback(spec, record)))
    b.view(spec.name, AgentState.STARTING, "restarting", respawns=used)


def _secs(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s" if seconds >= 10 or seconds == int(seconds) else f"{seconds:.1f}s"


def exit_code(views: dict[str, AgentView]) -> int:
    """0 every agent that should run runs, 3 degraded but handled, 1 something failed."""
    states = {v.state for v in views.values()}
    if AgentState.FAILED in states:
        return 1
    if states & {AgentState.PARKED, AgentState.BACKOFF, AgentState.STALLED, AgentState.STARTING}:
        return 3
    return 0
