"""Starting task windows: claim tasks for free slots, prepare each workspace and task file,
and open every window of the pass in one tmux call. A claim that cannot start (its workspace,
or tmux, failed) is settled at once through the runner's `settle`.
"""

from __future__ import annotations

from collections.abc import Callable

from fleetctl import attempts, dispatch, task_window
from fleetctl.model import TASK_WINDOW_SEPARATOR, Breaker, BreakerState, Event, PoolSpec, Run, Task, new_run_id
from fleetctl.record import replace
from fleetctl.runtime import launcher
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit
from fleetctl.tmux import TmuxError
from fleetctl.worktree import WorkspaceError

# How the runner settles an attempt: (window, how it ended, now).
Settle = Callable[[dispatch.WindowTask, attempts.RunEnd, float], None]


def start_claimed(fleet: Runtime, claims: list[dispatch.Claim], settle: Settle) -> int:
    """Claim, prepare each workspace and task file, then open every window in one tmux call; returns how many."""
    prepared: list[tuple[Task, Run, PoolSpec, str]] = []
    requests = []
    breakers = fleet.store.breakers()  # an attempt settled earlier in this pass may have opened one
    for claim in claims:
        pool = fleet.spec.pool(claim.pool)
        assert pool is not None
        state = breakers.get(pool.name, Breaker(pool=pool.name)).state
        if state is BreakerState.OPEN:
            continue
        for _ in range(1 if state is BreakerState.HALF_OPEN else claim.count):
            task = fleet.store.claim_task(
                now=fleet.now(),
                lease=pool.lease,
                max_attempts=pool.max_attempts,
                pool=pool.name,
                labels=pool.labels,
            )
            if task is None:
                break
            run = Run(
                id=new_run_id(),
                agent=f"{pool.name}{TASK_WINDOW_SEPARATOR}{task.id}",
                started=fleet.now(),
                task_id=task.id,
            )
            fleet.on_event(
                Event(
                    time=run.started,
                    kind="task-claimed",
                    agent=run.agent,
                    reason=f"attempt {task.attempt}: {task.title}",
                    data={"task": task.id, "attempt": task.attempt},
                )
            )
            fleet.store.attach_run(task.id, task.attempt, run.id)
            task = replace(task, run_id=run.id, agent=run.agent)
            try:
                workspace = task_window.workspace(fleet, pool, task)
            except WorkspaceError as exc:
                emit(
                    fleet,
                    "task-workspace-failed",
                    run.agent,
                    exc.message,
                    {"task": task.id, "attempt": task.attempt, "error": exc.message},
                )
                settle(
                    dispatch.WindowTask(task=task, run=None),
                    attempts.RunEnd(killed="workspace", detail=exc.message),
                    fleet.now(),
                )
                continue
            requests.append(task_window.request(fleet, pool, task, run, workspace))
            prepared.append((task, run, pool, str(workspace)))
    if not requests:
        return 0
    error = "no window id came back"
    try:
        launcher.ensure_session(fleet)
        batch = fleet.tmux.open_windows(requests)
        opened = {w.name: w for w in batch.opened}
        reasons = {f.name: f.reason for f in batch.failed}
    except TmuxError as exc:
        opened, reasons, error = {}, {}, exc.message
    started = 0
    for task, run, _pool, place in prepared:
        window = opened.get(run.agent)
        if window is None:
            why = reasons.get(run.agent, error)
            settle(
                dispatch.WindowTask(task=task, run=None),
                attempts.RunEnd(killed="spawn", detail=f"tmux could not open a window: {why}"),
                fleet.now(),
            )
            continue
        run = replace(run, pid=window.pid, window_id=window.window_id, pane_id=window.pane_id)
        fleet.store.add_run(run, fleet.procs.identity(window.pid))
        data = {
            "task": task.id,
            "attempt": task.attempt,
            "run": run.id,
            "pid": window.pid,
            "window": window.window_id,
            "place": place,
        }
        emit(fleet, "task-started", run.agent, task.title, data)
        started += 1
    return started
