"""Ending processes: TERM, then KILL at each group's deadline, then a FLEET_RUN sweep.

Every wait here runs on the fleet's clock, so the escalation runs instantly under a fake
one. A process is (pid, start time): a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Sequence

from fleetctl import cgroups
from fleetctl.clock import Clock
from fleetctl.model import AgentRecord
from fleetctl.runtime import observe
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.gateways import Processes

KILL_POLL_SECONDS = 0.02
KILL_WAIT_SECONDS = 5.0
SERVER_EXIT_SECONDS = 2.0
DEFAULT_STOP_SECONDS = 10.0
_SWEEPS = 3

# One run to stop: (its run ids, the pids whose trees and groups it holds, its stop_timeout)
Batch = list[tuple[list[str], list[int], float]]
# Processes by identity: pid -> start time
Targets = dict[int, float]


def _poll_pause(polls: int) -> float:
    """How long to wait before looking again at processes just signalled: most die within a
    millisecond, so look again soon, then back off to the steady poll."""
    return min(KILL_POLL_SECONDS, 0.002 * 2.0 ** min(polls, 8))


def escalate(
    procs: Processes, clock: Clock, groups: list[tuple[Targets, float]], killed_all: Callable[[], None] | None = None
) -> set[int]:
    """Stop several groups at once: TERM all now, KILL each group's survivors at its own deadline.

    Every group is watched in the same polling loop, so N agents that ignore SIGTERM cost
    one stop_timeout in all, not N. Until their deadlines the groups are looked at only up to
    the first live process (is anything left?): the loop cannot end before that one has, so
    waiting on a hundred stubborn agents reads one process a poll, not a hundred. After a
    KILL, every process is checked, soon and then less often. `killed_all`
    runs right after a KILL that leaves no group waiting for its deadline (never if all
    ended on TERM): what the caller does next overlaps the kernel's teardown of the killed.
    Returns the pids still alive KILL_WAIT_SECONDS after their SIGKILL.
    """
    start = clock.monotonic()
    for targets, _ in groups:
        procs.signal(targets, signal.SIGTERM)
    pending = [(dict(targets), start + grace) for targets, grace in groups if targets]
    killed: dict[int, tuple[float, float]] = {}  # pid -> (start time, give-up time)
    left: set[int] = set()
    polls = 0
    while pending or killed:
        now = clock.monotonic()
        still = []
        due: Targets = {}
        looking = True  # until a live process is found; the groups after it wait for a later look
        for targets, deadline in pending:
            if now >= deadline:
                due.update(targets)
            elif not looking or _any_alive(procs, targets):
                still.append((targets, deadline))
                looking = False
        if due:  # every group due now in one go: KILL them all
            procs.signal(due, signal.SIGKILL)
            killed.update({p: (s, now + KILL_WAIT_SECONDS) for p, s in due.items()})
            polls = 0  # SIGKILLed processes end within milliseconds: look again soon
            if not still and killed_all is not None:
                killed_all()
                killed_all = None
        pending = still
        for pid, (started, give_up) in list(killed.items()):
            if not procs.alive(pid, started):
                del killed[pid]
            elif now >= give_up:
                left.add(pid)
                del killed[pid]
        if pending or killed:
            pause = _poll_pause(polls)  # never past the next group's deadline
            if pending:
                pause = min(pause, max(0.0, min(d for _, d in pending) - clock.monotonic()))
            clock.sleep(pause)
            polls += 1
    return left


def _any_alive(procs: Processes, targets: Targets) -> bool:
    """Is any of these processes alive? Drops the dead ones it passes on the way."""
    for pid, started in list(targets.items()):
        if procs.alive(pid, started):
            return True
        del targets[pid]
    return False


def wait_gone(procs: Processes, clock: Clock, targets: Targets, timeout: float) -> set[int]:
    """Wait (bounded) for processes to exit; returns those still alive."""
    deadline = clock.monotonic() + timeout
    left = {p for p, s in targets.items() if procs.alive(p, s)}
    polls = 0
    while left and clock.monotonic() < deadline:
        clock.sleep(_poll_pause(polls))
        polls += 1
        left = {p for p in left if procs.alive(p, targets[p])}
    return left


def kill_now(procs: Processes, clock: Clock, targets: Targets) -> set[int]:
    """SIGKILL these processes; returns those still alive KILL_WAIT_SECONDS later."""
    procs.signal(targets, signal.SIGKILL)
    return wait_gone(procs, clock, targets, KILL_WAIT_SECONDS)


def terminate(
    rt: Runtime,
    batch: Batch,
    since: float | None = None,
    killed_all: Callable[[], None] | None = None,
    agents: Sequence[str] = (),
) -> set[int]:
    """End every process of these runs: their trees, groups and FLEET_RUN carriers.

    All runs are stopped concurrently: TERM to everything at once, then each run's
    survivors get KILL when its own stop_timeout runs out. `since` (the earliest run
    start) lets the FLEET_RUN search skip processes older than the runs. `agents`: whose
    runs these are; where their cgroups exist, only the processes in them are searched.
    `killed_all`: see escalate. Returns the pids that survived SIGKILL.
    """
    run_ids = {r for runs, _, _ in batch for r in runs}
    if any(roots for _, roots, _ in batch) or observe.fresh_scan(rt):
        table = observe.recent_scan(rt)
        under_server = observe.server_tree(rt, table)
        carriers = rt.procs.find_env("FLEET_RUN", run_ids, table, since, under_server) if run_ids else {}
    else:  # no live pane (a respawn after its run ended): no tree to walk, only FLEET_RUN
        # carriers to find: among the agents' cgroups where the kernel keeps them (a file
        # read), else by start time (no scan of every process: ~40 ms at 100 agents)
        under_server = set()
        within = cgroups.members(rt.spec.state_dir, list(agents))
        carriers = rt.procs.find_env("FLEET_RUN", run_ids, since=since, within=within) if run_ids else {}
        table = rt.procs.read(p for found in carriers.values() for p in found)
    me = os.getpid()
    groups: list[tuple[Targets, float]] = []
    for runs, roots, grace in batch:
        pids: set[int] = set()
        for root in roots:
            pids.update(table.tree(root))
            pids.update(table.group(root))
        for rid in runs:
            pids.update(carriers.get(rid, ()))
        pids.discard(me)
        groups.append(({p: table.procs[p].start_time for p in pids if p in table.procs}, grace))
    left = escalate(rt.procs, rt.clock, groups, killed_all)
    drop_scripts(rt, run_ids)
    if not any(targets for targets, _ in groups):
        return left
    # Anything forked while we were killing still carries FLEET_RUN: sweep again.
    for _ in range(_SWEEPS):
        again = rt.procs.find_env("FLEET_RUN", run_ids, since=since, skip=under_server) if run_ids else {}
        pids = {p for found in again.values() for p in found if p != me}
        if not pids:
            break
        table = rt.procs.scan()
        left |= kill_now(rt.procs, rt.clock, {p: table.procs[p].start_time for p in pids if p in table.procs})
    return left


def drop_scripts(rt: Runtime, run_ids: Iterable[str]) -> None:
    """Delete the wrapper scripts of runs that are over: empty once their shell started, and
    still holding the run's env if it never did."""
    for run_id in run_ids:
        with contextlib.suppress(OSError):
            (rt.runs_dir / f"{run_id}.sh").unlink()


def await_server_exit(rt: Runtime) -> None:
    """kill-server returns before the server has exited: wait until it has.

    The server is the parent of the panes in this pass's observation (its scan may be
    seconds old by now, which is fine: the server's pid and start time do not change).
    """
    table = rt.seen.scan
    # The server and what it ran itself: log pipes (`cat`) end when it closes them.
    targets = {pid: table.procs[pid].start_time for pid in observe.server_tree(rt, table)}
    left = wait_gone(rt.procs, rt.clock, targets, SERVER_EXIT_SECONDS)
    if left:  # a pipe that did not end with the server: ours, so end it
        kill_now(rt.procs, rt.clock, {p: targets[p] for p in left})
    rt.tmux.remove_socket()
    drop_all_scripts(rt)


def drop_all_scripts(rt: Runtime) -> None:
    """With the server gone no shell will read a run script: delete them all (one a killed
    `up` left holds its run's env, secrets included)."""
    with contextlib.suppress(OSError):
        drop_scripts(rt, [n[:-3] for n in os.listdir(rt.runs_dir) if n.endswith(".sh")])


def earliest(records: dict[str, AgentRecord], agents: Sequence[str]) -> float | None:
    """The earliest start among these agents' latest runs (None: search every process)."""
    starts = [r.current.started for a in agents if (r := records.get(a)) is not None and r.current is not None]
    return min(starts) if starts and len(starts) == len(agents) else None
