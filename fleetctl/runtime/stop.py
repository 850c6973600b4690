"""Stopping agents: a plan's kills, `down` and `kill`. Each stop is recorded with who
stopped the run and why, after its processes are confirmed gone."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence

from fleetctl import cgroups
from fleetctl import plan as planner
from fleetctl.errors import FleetError, OperationFailed, StoreError
from fleetctl.model import AgentRecord, FailureClass, Observation, PaneInfo
from fleetctl.record import record
from fleetctl.runtime import logs, observe, terminate
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit

SUPERVISOR_STOP_SECONDS = 5.0
_STOPPED_BY = {"stop": "down", "restart": "restart", "config": "config"}
SWEEPS = 3  # sweeps for processes forked while the fleet was being stopped
_WHO = {"cli": "fleetctl down", "tui": "the TUI"}  # who stopped an agent, as its event says


def kill_runs(
    rt: Runtime, kills: list[planner.Kill], obs: Observation, records: dict[str, AgentRecord], now: float
) -> list[str]:
    """Stop these runs together, record each end and close their windows; returns failure lines."""
    batch: terminate.Batch = []
    for kill in kills:
        agent = obs.agents.get(kill.agent)
        spec = rt.spec.agent(kill.agent)
        roots = [agent.pane.pid] if agent is not None else []
        batch.append(([kill.run_id], roots, spec.stop_timeout if spec else terminate.DEFAULT_STOP_SECONDS))
    left = terminate.terminate(rt, batch, terminate.earliest(records, [k.agent for k in kills]))
    failures = []
    windows = []
    for kill in kills:
        agent = obs.agents.get(kill.agent)
        rt.store.end_run(
            kill.run_id,
            rt.now(),
            failure_class=kill.failure_class,
            stopped_by=_STOPPED_BY.get(kill.reason, rt.actor),
            stop_reason=f"{kill.reason}: {kill.detail}",
        )
        output = logs.output_tail(rt, kill.agent, kill.run_id).splitlines()
        kind = "start-failed" if kill.reason == "start" else ("stalled" if kill.reason == "idle" else "killed")
        if kill.reason == "wall":
            kind = "timed-out"
        data: dict[str, object] = {
            "run": kill.run_id,
            "by": rt.actor,
            "why": kill.reason,
            "output": output,
            "left": sorted(left),
        }
        emit(rt, kind, kill.agent, kill.detail, data, now)
        if kind != "killed":
            data = {"run": kill.run_id, "by": rt.actor, "why": kill.reason}
            emit(rt, "killed", kill.agent, f"{kill.reason}: {kill.detail}", data, now)
        if agent is not None:
            windows.append(agent.pane.window_id)
    if left:
        failures.append(f"{len(left)} process(es) survived SIGKILL: {sorted(left)}")
    rt.tmux.kill_windows(windows)
    return failures


def restart(rt: Runtime, names: Sequence[str], start: Callable[[list[str]], list[str]]) -> list[str]:
    """Stop the agents' current runs, then `start` them (up, which the planner tells to start
    an agent whose run is over as well: completed, parked or in backoff); returns failure lines.

    When the start (or recording the stop) fails after a run was stopped, say so: the agent
    was stopped by this restart and is not running, whatever stopped the command.
    """
    specs = rt.resolve(names)
    agents = [s.name for s in specs]
    stopped: list[str] = []
    try:
        with rt.store.lock():
            now = rt.now()
            obs = observe.observe(rt, ports_for=set())
            records = rt.records(now)
            rt.store.set_desired(agents, "running")
            kills = [
                planner.Kill(agent=s.name, run_id=r.current.id, reason="restart", detail="restarted by request")
                for s in specs
                if (r := records.get(s.name)) is not None and r.current is not None and r.current.live
            ]
            stopped = [k.agent for k in kills]
            # A requested restart neither spends the respawn budget nor waits for backoff.
            failures = kill_runs(rt, kills, obs, records, now) if kills else []
        return failures + start(agents)
    except (FleetError, OSError) as exc:
        if not stopped:
            raise
        why = exc.message if isinstance(exc, FleetError) else str(exc)
        running = {p.window_name for p in rt.tmux.panes() or [] if not p.dead}
        down = [a for a in stopped if a not in running]
        lines = [f"{', '.join(down)}: stopped by this restart and not started again: {why}"] if down else []
        if len(down) < len(stopped):
            started = ", ".join(a for a in stopped if a in running)
            lines.append(f"{started}: restarted, but the start could not be recorded ({why})")
        raise OperationFailed(
            "; ".join(lines),
            hint="once that is fixed, `fleetctl reconcile` starts what is not running and adopts what is",
        ) from None


@record
class DownReport:
    """What `down` left: the pids of the fleet's processes still alive, and what it could not
    record in the store (None: everything was recorded)."""

    left: tuple[int, ...]
    unrecorded: str | None = None
    stopped: tuple[str, ...] = ()  # agents whose live windows were stopped from the truth alone

    @property
    def lines(self) -> list[str]:
        return [f"process {pid} survived SIGKILL" for pid in self.left]


def down(rt: Runtime, names: Sequence[str] = ()) -> list[str]:
    """Stop agents and everything they started; returns what could not be stopped."""
    return stop_all(rt, names).lines


def stop_all(rt: Runtime, names: Sequence[str] = ()) -> DownReport:
    """Stop agents and everything they started, from the store and from the truth.

    When the store cannot be read or written (damaged, truncated, read-only, full), the
    agents are stopped from what tmux and /proc show alone: the fleet's tmux server and
    every process carrying the fleet's FLEET_NAME. Either way, processes that carry the
    fleet's name (and, for named agents, their FLEET_AGENT) are swept last, so nothing
    that left its process group and tree outlives `down`.
    """
    specs = rt.resolve(names)  # an unknown name is a usage error before anything is stopped
    agents = [s.name for s in specs] if names else []
    unrecorded = None
    stopped: list[str] = []
    with contextlib.ExitStack() as held:
        # The fleet's lock, so no `up` starts agents between the stop and the sweep; a state
        # dir where even the lock file cannot be opened does not stop `down`.
        with contextlib.suppress(OSError):
            held.enter_context(rt.store.lock())
        try:
            left = _down_recorded(rt, names)
        except (StoreError, OSError) as exc:
            unrecorded = str(exc)
            if isinstance(exc, StoreError):
                unrecorded = exc.message + (f" ({exc.hint})" if exc.hint else "")
            left = from_truth(rt, agents, stopped)
        left |= sweep_fleet(rt, agents)
        if not left:
            cgroups.remove(rt.spec.state_dir, list(agents) or None)
    return DownReport(left=tuple(sorted(left)), unrecorded=unrecorded, stopped=tuple(sorted(stopped)))


def _down_recorded(rt: Runtime, names: Sequence[str]) -> set[int]:
    """`down` through the store (the caller holds the lock)."""
    everything = not names
    specs = rt.resolve(names)
    now = rt.now()
    obs = observe.observe(rt, ports_for=set())  # stopping needs no listening ports
    records = rt.records(now)
    targets = {s.name for s in specs}
    if everything:
        targets |= set(records) | set(obs.agents)
    rt.store.set_desired(targets, "stopped")
    batch: terminate.Batch = []
    if everything and obs.server_running:
        rt.tmux.drop_wake_hooks()  # nothing is left to wake; the server then exits sooner
    if everything:
        # The supervisor and the home window stop with the agents, in the same batch
        # (the supervisor cannot act meanwhile: we hold the lock), and are confirmed
        # gone before `down` returns rather than left to kill-server's SIGHUP.
        for other in obs.others:
            if other.window_name.startswith("_") and not other.dead:
                batch.append(([], [other.pid], SUPERVISOR_STOP_SECONDS))
    # Pool task windows ("pool.id") are not agents, but `down` of the fleet stops them too.
    task_panes = {p.window_name: p for p in obs.others if "." in p.window_name} if everything else {}
    targets |= set(task_panes)
    runs: dict[str, str] = {}
    windows = []
    for name in sorted(targets):
        record, agent = records.get(name), obs.agents.get(name)
        pane: PaneInfo | None = agent.pane if agent is not None else task_panes.get(name)
        run = record.current if record and record.current and record.current.live else None
        roots = [pane.pid] if pane is not None and not pane.dead else []
        if run is None and not roots:
            if pane is not None:
                windows.append(pane.window_id)
            continue
        spec = rt.spec.agent(name)
        batch.append(([run.id] if run else [], roots, spec.stop_timeout if spec else terminate.DEFAULT_STOP_SECONDS))
        if run:
            runs[name] = run.id
        if pane is not None:
            windows.append(pane.window_id)
    since = terminate.earliest(records, list(runs))
    # When agents had to be KILLed, tmux's own teardown (windows, log pipes, the server)
    # starts right after the KILLs and overlaps the kernel's teardown of the killed
    # processes (a KILLed agent says nothing more). Agents that all ended on TERM have
    # their last output piped first: the server is closed after them.
    closed: list[bool] = []

    def close_server() -> None:
        rt.tmux.kill_server()
        closed.append(True)

    left = terminate.terminate(rt, batch, since, close_server if everything else None) if batch else set()
    by = "down" if rt.actor == "cli" else rt.actor
    who = _WHO.get(rt.actor, rt.actor)
    for name, run_id in runs.items():
        stopped = rt.store.end_run(
            run_id, rt.now(), failure_class=FailureClass.KILLED, stopped_by=by, stop_reason=f"stop: {who}"
        )
        if stopped:
            emit(rt, "killed", name, f"stopped by {who}", {"run": run_id, "by": by, "why": "stop"})
    if everything:
        if not closed:
            rt.tmux.kill_server()
        terminate.await_server_exit(rt)
    else:
        rt.tmux.kill_windows(windows)
        remaining = [p for p in (rt.tmux.panes() or []) if not p.window_name.startswith("_")]
        if not remaining and rt.actor != "supervisor":  # stopping for another host: it keeps supervising
            rt.tmux.kill_server()
            terminate.await_server_exit(rt)
    leftovers = rt.procs.find_env("FLEET_RUN", set(runs.values()), since=since)  # no scan: ~40 ms at 100 agents
    left |= {p for pids in leftovers.values() for p in pids}
    return left


def _carriers(rt: Runtime, agents: Sequence[str]) -> set[int]:
    """Live processes carrying this fleet's FLEET_NAME (and one of these FLEET_AGENTs, if
    named), and every process in the fleet's (or these agents') cgroup."""
    found = rt.procs.find_env("FLEET_NAME", {rt.spec.name}).get(rt.spec.name, [])
    if agents:
        wanted = set(agents)
        found = [p for p in found if rt.procs.environ(p).get("FLEET_AGENT") in wanted]
    return (set(found) | cgroups.pids(rt.spec.state_dir, list(agents) or None)) - {os.getpid()}


def _grace(rt: Runtime, agents: Sequence[str]) -> float:
    specs = [rt.spec.agent(a) for a in agents] if agents else list(rt.spec.agents)
    return max((s.stop_timeout for s in specs if s is not None), default=terminate.DEFAULT_STOP_SECONDS)


def sweep_fleet(rt: Runtime, agents: Sequence[str] = ()) -> set[int]:
    """End every process that still carries the fleet's name (for named agents: their name
    too); returns the pids that survived SIGKILL."""
    left: set[int] = set()
    for _ in range(SWEEPS):
        pids = _carriers(rt, agents) - left  # one that survived SIGKILL is not waited on again
        if not pids:
            break
        table = rt.procs.read(pids)
        targets = {p: table.procs[p].start_time for p in pids if p in table.procs}
        left |= terminate.escalate(rt.procs, rt.clock, [(targets, _grace(rt, agents))])
    return left


def from_truth(rt: Runtime, agents: Sequence[str] = (), stopped: list[str] | None = None) -> set[int]:
    """Stop agents from what tmux and /proc show, without the store: every pane of the
    fleet's tmux server (or the named agents' windows) with its tree and group, and every
    process carrying the fleet's name. Returns the pids that survived SIGKILL; the names of
    the agent windows that were live go into `stopped`."""
    panes = rt.tmux.panes() or []
    table = rt.procs.scan()
    wanted = set(agents)
    chosen = [p for p in panes if not wanted or p.window_name in wanted]
    pids: set[int] = set()
    for pane in chosen:
        if not pane.dead:
            pids.update(table.tree(pane.pid))
            pids.update(table.group(pane.pid))
            if stopped is not None and not pane.window_name.startswith("_"):
                stopped.append(pane.window_name)
    pids |= _carriers(rt, agents)
    pids.discard(os.getpid())
    targets = {p: table.procs[p].start_time for p in pids if p in table.procs}
    servers = {table.procs[p.pid].ppid for p in chosen if p.pid in table.procs}
    left = terminate.escalate(rt.procs, rt.clock, [(targets, _grace(rt, agents))])
    if not wanted:
        rt.tmux.kill_server()
        server = {p: table.procs[p].start_time for p in servers if p > 1 and p in table.procs}
        if terminate.wait_gone(rt.procs, rt.clock, server, terminate.SERVER_EXIT_SECONDS):
            left |= terminate.kill_now(rt.procs, rt.clock, server)
        rt.tmux.remove_socket()
    else:
        rt.tmux.kill_windows(p.window_id for p in chosen)
    return left


def kill(rt: Runtime, names: Sequence[str]) -> list[str]:
    """SIGKILL each agent's current run at once: no SIGTERM, no grace (for a hung agent).

    The run is recorded as killed; what follows is the agent's restart policy, as after
    any other kill. Returns one line per agent that had nothing to kill or survived.
    """
    specs = rt.resolve(names)
    out: list[str] = []
    with rt.store.lock():
        now = rt.now()
        obs, records, table = observe.observe(rt, ports_for=set()), rt.records(now), rt.procs.scan()
        for spec in specs:
            record, agent = records.get(spec.name), obs.agents.get(spec.name)
            run = record.current if record and record.current and record.current.live else None
            pids: set[int] = set()
            if agent is not None and agent.alive:
                pids |= set(table.tree(agent.pane.pid)) | set(table.group(agent.pane.pid))
            if run is not None:
                pids |= set(rt.procs.find_env("FLEET_RUN", {run.id}).get(run.id, ()))
            pids.discard(os.getpid())
            if not pids and run is None:
                out.append(f"{spec.name}: not running, nothing to kill")
                continue
            left = terminate.kill_now(
                rt.procs, rt.clock, {p: table.procs[p].start_time for p in pids if p in table.procs}
            )
            if run is not None:
                rt.store.end_run(
                    run.id,
                    rt.now(),
                    failure_class=FailureClass.KILLED,
                    stopped_by="kill",
                    stop_reason="kill: SIGKILL by request",
                )
                terminate.drop_scripts(rt, [run.id])
            data: dict[str, object] = {
                "run": run.id if run else None,
                "by": rt.actor,
                "why": "kill",
                "left": sorted(left),
            }
            emit(rt, "killed", spec.name, "SIGKILL by request", data)
            if left:
                out.append(f"{spec.name}: process(es) {sorted(left)} survived SIGKILL")
    return out
