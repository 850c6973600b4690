"""Observing a fleet: one `list-panes -a` and one process scan, and which runs ended since.

Readers are lenient: a tmux server that is not running is an answer (an empty fleet),
not an error.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable

from fleetctl import plan as planner
from fleetctl.model import (
    TASK_WINDOW_SEPARATOR,
    AgentObservation,
    AgentRecord,
    AgentSpec,
    FailureClass,
    FleetSpec,
    Observation,
    PaneInfo,
    ProcInfo,
    Run,
)
from fleetctl.procs import ProcTable
from fleetctl.record import record, replace
from fleetctl.runtime import logs
from fleetctl.runtime.context import Runtime

SCAN_REUSE_SECONDS = 1.0
EXIT_FILE_READS = 6  # an exit file found empty is read again, for up to ~60 ms in all


@record
class Ended:
    """A run whose window died or vanished: what we learned about its end."""

    run: Run
    exit_code: int | None
    exit_signal: int | None
    failure_class: FailureClass
    reason: str
    output: str
    park_until: float | None


def observe(
    rt: Runtime,
    ports_for: set[str] | None = None,
    trees: bool = True,
    listing: Callable[[], list[PaneInfo] | None] | None = None,
    read_only: bool = False,
) -> Observation:
    """One `list-panes -a` and, for a pass that acts, one process scan.

    Listening ports are looked up only where they decide something: for agents that
    declare a port and (with `ports_for`) whose run still waits for verification, and
    only once something listens on that port at all (one read of /proc/net/tcp says).
    Without `trees`, and with no port to look up, no process is read but one pane's (for
    the tmux server's pid): tmux's pane_dead says whether each pane's process runs, and
    descendants (CPU time, what a kill sweeps) decide nothing there. A `read_only` view
    (status) reads no process at all, so psutil is not even imported.
    `listing` is a `list-panes` the caller started already (to read the store meanwhile).
    """
    now = rt.now()
    collect = listing or rt.tmux.panes_started()
    specs = {a.name: a for a in rt.spec.agents}
    port_check = {s.name for s in specs.values() if s.port is not None and (ports_for is None or s.name in ports_for)}
    listening = rt.procs.listening() if port_check else {}
    open_ports = {port for ports in listening.values() for port in ports}
    port_check = {name for name in port_check if specs[name].port in open_ports}
    table = rt.procs.scan() if trees else None  # while tmux answers
    panes = collect()
    if panes is None:
        return Observation(time=now, server_running=False)
    live = [p.pid for p in panes if not p.dead]
    if table is None:
        # tmux's pane_dead says which pane processes run (tmux reaps its own children), so a
        # pass that needs no trees reads no process: at 100 agents reading each pane's
        # process cost a respawn pass 10-30 ms before it could open the new window.
        table = ProcTable(
            procs={pid: ProcInfo(pid=pid, ppid=0, pgid=pid, start_time=0.0, cpu_seconds=0.0) for pid in live}
        )
        if read_only:
            return _observation(rt, now, panes, table, port_check, listening, specs, io=False)
        rt.seen.panes = ProcTable()  # nothing read
        rt.seen.server = next((info.ppid for info in rt.procs.read(live[:1]).procs.values()), None)
    else:
        if any(pid not in table.procs for pid in live):
            table = rt.procs.scan()  # a window opened during the scan: look again, once
        rt.seen.scanned_at, rt.seen.scan = rt.clock.monotonic(), table
        rt.seen.panes = table
        rt.seen.server = next((table.procs[pid].ppid for pid in live if pid in table.procs), None)
    return _observation(rt, now, panes, table, port_check, listening, specs, io=True)


def _observation(
    rt: Runtime,
    now: float,
    panes: list[PaneInfo],
    table: ProcTable,
    port_check: set[str],
    listening: dict[int, set[int]],
    specs: dict[str, AgentSpec],
    io: bool,
) -> Observation:
    by_name: dict[str, PaneInfo] = {}
    others: list[PaneInfo] = []
    for pane in panes:
        if pane.window_name.startswith("_") or "." in pane.window_name:
            others.append(pane)  # the supervisor, the home window, pool task windows
            continue
        seen = by_name.get(pane.window_name)
        if seen is None or (seen.dead and not pane.dead):
            by_name[pane.window_name] = pane
    pane_trees: dict[str, list[int]] = {}
    for name, pane in by_name.items():
        alive = not pane.dead and pane.pid in table.procs
        pane_trees[name] = table.tree(pane.pid) if alive else []
    held = _ports(rt, port_check, listening, specs, pane_trees, table) if port_check else {}
    agents: dict[str, AgentObservation] = {}
    for name, pane in by_name.items():
        tree = pane_trees[name]
        spec = specs.get(name)
        io_bytes = rt.procs.io_bytes(tree) if io and spec is not None and spec.idle_timeout is not None else 0
        agents[name] = AgentObservation(
            pane=pane,
            alive=bool(tree),
            tree=tuple(tree),
            ports=frozenset(held.get(name, ())),
            cpu_seconds=table.cpu_seconds(tree),
            io_bytes=io_bytes,
        )
    return Observation(time=now, server_running=True, agents=agents, others=tuple(others))


def _ports(
    rt: Runtime,
    names: set[str],
    listening: dict[int, set[int]],
    specs: dict[str, AgentSpec],
    trees: dict[str, list[int]],
    table: ProcTable,
) -> dict[str, set[int]]:
    """The listening ports of each named agent's processes.

    Without a scan (a pass that needs no trees) each listener on a port these agents declare
    is traced up its parents to a pane: a few reads, where a scan reads every process (50-100
    ms at 100 agents, for each start verified). `listening` names one owner per socket; when
    an agent's port is open but not found under its pane that way, the socket may be shared
    with a process that left its tree, so its tree's processes are asked themselves.
    """
    out: dict[str, set[int]] = {}
    if table.children:
        for name in names:
            out[name] = {port for pid in trees.get(name, ()) for port in listening.get(pid, ())}
    else:
        panes = {tree[0]: name for name, tree in trees.items() if name in names and tree}
        wanted = {specs[name].port for name in panes.values()}
        for pid, ports in listening.items():
            root = rt.procs.under(pid, set(panes)) if pid > 0 and ports & wanted else None
            if root is not None:
                out.setdefault(panes[root], set()).update(ports)
    for name in names:
        own = trees.get(name, [])
        if specs[name].port not in out.get(name, set()) and own:
            tree = own if table.children else recent_scan(rt).tree(own[0])
            out[name] = {port for ports in rt.procs.listening_ports(tree).values() for port in ports}
    return out


def server_tree(rt: Runtime, table: ProcTable) -> set[int]:
    """Everything under this fleet's tmux server, as of this pass's observation: pane trees
    (each carries its own run's FLEET_RUN; a run's own tree is killed as a tree) and
    pipe-pane jobs (`cat`). A process that escaped its run (setsid, double fork) was
    reparented away from the server, to init or a subreaper, so the FLEET_RUN search need
    not read these environments: at a hundred agents that is most of /proc."""
    server = rt.seen.server
    return set(table.tree(server)) if server is not None and server > 1 else set()


def fresh_scan(rt: Runtime) -> bool:
    """Did this pass scan every process (recently enough to reuse it)?"""
    return rt.clock.monotonic() - rt.seen.scanned_at < SCAN_REUSE_SECONDS


def recent_scan(rt: Runtime) -> ProcTable:
    """This pass's /proc scan if it is fresh. Processes forked since are found anyway: a
    kill re-sweeps by FLEET_RUN afterwards."""
    return rt.seen.scan if fresh_scan(rt) else rt.procs.scan()


def heartbeats(rt: Runtime) -> dict[str, float]:
    """Each agent's latest heartbeat: `fleetctl heartbeat` files (one directory listing) and
    its own heartbeat_file."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError), os.scandir(rt.heartbeat_dir) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                out[entry.name] = entry.stat().st_mtime
    for spec in rt.spec.agents:
        if spec.heartbeat_file is not None:
            with contextlib.suppress(OSError):
                out[spec.name] = max(out.get(spec.name, 0.0), spec.heartbeat_file.stat().st_mtime)
    return out


def records_while_listing(
    rt: Runtime, now: float
) -> tuple[Callable[[], list[PaneInfo] | None], dict[str, AgentRecord]]:
    """Start `list-panes`, then read the store while tmux answers (the listing is collected
    even when the read fails, so no tmux client is left unreaped)."""
    listing = rt.tmux.panes_started()
    try:
        records = rt.records(now) if rt.store.exists() else {}
    except BaseException:
        with contextlib.suppress(Exception):
            listing()
        raise
    return listing, records


def run_files(rt: Runtime) -> set[str]:
    """The runs directory in one listing: `<run>.exit` once a run's wrapper wrote its exit code,
    `<run>.sh` while its script is there, the gate's files of pool runs."""
    try:
        return set(os.listdir(rt.runs_dir))
    except OSError:
        return set()


def exit_status(rt: Runtime, run: Run, pane: PaneInfo | None) -> tuple[int | None, int | None]:
    """(exit code, signal) of an ended run, (None, None) when it is unknown.

    The wrapper's exit file is the only record of the command's own code. tmux's
    pane_dead_status is the wrapper's status, not the command's (0 after the wrapper's
    linger), so it says only that the wrapper was killed by a signal. A file still being
    written (created, not yet filled) is read again for a moment.
    """
    path = rt.runs_dir / f"{run.id}.exit"
    for attempt in range(EXIT_FILE_READS):
        try:
            raw = path.read_text().strip()
        except OSError:
            break
        if raw.isdigit():
            status = int(raw)
            return (None, status - 128) if status > 128 else (status, None)
        rt.clock.sleep(0.002 * 2**attempt)
    if pane is not None and pane.dead_status is not None and pane.dead_status > 128:
        return None, pane.dead_status - 128
    return None, None


def find_ended(rt: Runtime, obs: Observation, records: dict[str, AgentRecord], now: float) -> list[Ended]:
    """Runs whose command ended: its wrapper wrote the exit code, or its pane is gone or dead.

    The wrapper lingers a moment after writing the exit code, holding the pane's pty open
    so that tmux reads (and pipes to the log) every last byte; the planner treats such a
    lingering pane as dead and the respawn sweeps it.
    """
    ended = []
    listed = run_files(rt)  # listed after the panes: a pane seen ending has its file here
    for name, rec in records.items():
        run = rec.current
        if run is None or not run.live or TASK_WINDOW_SEPARATOR in name:
            continue  # pool task runs end through pools.PoolRunner
        agent = obs.agents.get(name)
        finished = f"{run.id}.exit" in listed
        own_pane = agent is not None and planner.runs_in(run, agent.pane)
        if not finished and agent is not None and agent.alive and (own_pane or run.pane_id is None):
            continue
        if not finished and not obs.server_running and run.pane_id is None:
            continue
        code, sig = exit_status(rt, run, agent.pane if agent is not None and own_pane else None)
        output = logs.last_output(rt, name, run.id, settle=code is not None)
        spec = rt.spec.agent(name)
        if spec is None:
            cls, reason, park = FailureClass.CRASHED, "ended", None
        else:
            from fleetctl.exit_class import classify_exit  # passes that act only: not `status`'s path
            from fleetctl.runtime.activity import kinds

            kind = kinds(rt.spec).get(spec.kind) or kinds(rt.spec)["generic"]
            cls, reason, park = classify_exit(spec, kind, code, sig, output, now)
        if run.verified is None and cls in (FailureClass.CRASHED, FailureClass.EXITED) and spec is not None:
            reason = (
                f"{reason} after {now - run.started:.1f}s, before it was verified (min_uptime {spec.min_uptime:g}s)"
            )
        ended.append(
            Ended(
                run=run,
                exit_code=code,
                exit_signal=sig,
                failure_class=cls,
                reason=reason,
                output=output,
                park_until=park,
            )
        )
    return ended


def simulate_ended(records: dict[str, AgentRecord], ended: Iterable[Ended], now: float) -> dict[str, AgentRecord]:
    """The records as they are once these ends are recorded (no second read of the store)."""
    out = dict(records)
    for end in ended:
        record = out[end.run.agent]
        run = replace(
            end.run,
            ended=now,
            exit_code=end.exit_code,
            exit_signal=end.exit_signal,
            failure_class=end.failure_class,
            stop_reason=end.reason,
        )
        parked = end.park_until if end.park_until is not None else record.parked_until
        out[end.run.agent] = replace(record, runs=(run, *record.runs[1:]), parked_until=parked)
    return out


def verifiable(records: dict[str, AgentRecord], spec: FleetSpec, now: float) -> set[str]:
    """Agents whose live run waits for verification and has reached min_uptime (and is at least
    one verify poll old): the only ones whose ports decide anything. Looking sooner only
    competes with the agent's start: the pass that a replaced window's hooks bring right
    after a respawn spent ~30 ms mapping every socket at 100 agents while the new agent
    started beside it."""
    min_uptime = {a.name: max(a.min_uptime, planner.VERIFY_POLL_SECONDS) for a in spec.agents}
    return {
        n
        for n, r in records.items()
        if (run := r.current) is not None
        and run.live
        and run.verified is None
        and now - run.started >= min_uptime.get(n, 0.0)
    }
