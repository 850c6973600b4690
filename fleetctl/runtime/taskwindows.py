"""Task windows by name (`<pool>.<task id>`): for commands that take agent names.

`logs`, `attach`, `restart`, `down` and `send` accept a task window's name wherever they
accept an agent's. Stopping a task window ends its run as `down` does (the task goes back
to the queue, its breaker untouched): the pool's next pass settles it and, with a free
slot, dispatches it again, which is what `restart` asks for. To drop a task for good,
`fleetctl task cancel ID`.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleetctl import wake
from fleetctl.errors import UsageError
from fleetctl.model import TASK_WINDOW_SEPARATOR, FailureClass, PaneInfo
from fleetctl.runtime import observe, terminate
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit
from fleetctl.runtime.status import task_window_name


def is_window(rt: Runtime, name: str) -> bool:
    """Is this a task window's name (a pool of the fleet file, a dot, a task id)?"""
    return task_window_name(rt, name)


def split(rt: Runtime, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(agent names, task window names), in the order given."""
    windows = [n for n in names if task_window_name(rt, n)]
    return [n for n in names if n not in windows], windows


def pane(rt: Runtime, name: str) -> PaneInfo:
    """The live pane of a task window, or a clear error naming what runs."""
    obs = observe.observe(rt, ports_for=set())
    if not obs.server_running:
        raise UsageError(f"fleet {rt.spec.name} is not running (no tmux server on {rt.spec.socket_name})")
    found = [p for p in obs.others if p.window_name == name and not p.dead]
    if not found:
        running = sorted(p.window_name for p in obs.others if TASK_WINDOW_SEPARATOR in p.window_name and not p.dead)
        raise UsageError(f"{name}: no task window runs by that name (task windows: {', '.join(running) or 'none'})")
    return found[0]


def stop(rt: Runtime, names: Sequence[str], why: str) -> tuple[list[str], list[str]]:
    """End each named task window's run (its whole process tree) and close its window.

    The task is re-queued by the pool's next pass, as after `down`. Returns (what failed:
    processes that survived, the names that had nothing running).
    """
    out: list[str] = []
    idle: list[str] = []
    with rt.store.lock():
        now = rt.now()
        obs = observe.observe(rt, ports_for=set())
        windows = {t.id: r for t, r in rt.store.window_tasks() if r is not None and r.live}
        panes = {p.window_name: p for p in obs.others}
        batch: terminate.Batch = []
        targets = []
        for name in names:
            task_id = int(name.partition(TASK_WINDOW_SEPARATOR)[2])
            run = windows.get(task_id)
            pane_ = panes.get(name)
            if run is None or run.agent != name:
                idle.append(name)
                continue
            pool = rt.spec.pool(name.partition(TASK_WINDOW_SEPARATOR)[0])
            roots = [pane_.pid] if pane_ is not None and not pane_.dead else []
            batch.append(([run.id], roots, pool.stop_timeout if pool else terminate.DEFAULT_STOP_SECONDS))
            targets.append((name, task_id, run.id, pane_))
        left = terminate.terminate(rt, batch) if batch else set()
        for name, task_id, run_id, _pane in targets:
            # stopped_by "down": the dispatcher re-queues the task without counting it against the pool.
            if rt.store.end_run(
                run_id, rt.now(), failure_class=FailureClass.KILLED, stopped_by="down", stop_reason=f"stop: {why}"
            ):
                data: dict[str, object] = {"task": task_id, "run": run_id, "by": rt.actor, "why": "stop"}
                emit(rt, "task-killed", name, why, data, now)
        rt.tmux.kill_windows([p.window_id for _n, _t, _r, p in targets if p is not None])
    if left:
        out.append(f"{len(left)} process(es) survived SIGKILL: {sorted(left)}")
    if targets:
        wake.notify(rt.wake_fifo)  # the supervisor settles (and re-dispatches) at once
    return out, idle
