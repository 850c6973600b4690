"""Pure dispatch decisions: (pools, task windows, queue, breakers, now) -> actions.

No I/O and no clock: pools.py observes and acts, this module decides. Every policy of
the backlog's windows (slots, labels, wall and idle timeouts, leases, the open breaker) is
unit-tested here with plain numbers; how an attempt ended is fleetctl/attempts.py.
"""

from __future__ import annotations

from fleetctl.model import Breaker, BreakerState, PaneInfo, PoolSpec, Run, Task, TaskState
from fleetctl.record import field, record

# A window agent that reported done/failed but keeps running is closed after this long.
REPORT_GRACE_SECONDS = 10.0
# A claimed task whose window run was never recorded (the dispatcher died mid-spawn).
SPAWN_GRACE_SECONDS = 5.0
VERIFY_POLL_SECONDS = 0.05


# --- inputs and actions ------------------------------------------------------------


@record
class WindowTask:
    """A task handed to a pool window, and what we see of that window now."""

    task: Task
    run: Run | None
    pane: PaneInfo | None = None  # None: no window (gone, or not opened yet)
    gating: bool = False  # the agent exited and the gate runs in the window

    @property
    def pool(self) -> str:
        holder = self.run.agent if self.run is not None else (self.task.agent or "")
        return self.task.pool or holder.split(".", 1)[0]


@record
class Claim:
    pool: str
    count: int


@record
class VerifyRun:
    task_id: int
    run_id: str


@record
class KillRun:
    """End a task's window run: why (wall, idle, start, cancelled, reported, lost) and the detail."""

    task_id: int
    run_id: str
    reason: str
    detail: str


@record
class FinishRun:
    """The run's window ended (or was never recorded): read how, then settle the task."""

    task_id: int
    run_id: str | None


@record
class RenewLease:
    """Extend the lease of the window run that holds the task (no other run's)."""

    task_id: int
    run_id: str
    until: float


@record
class ExpireLeases:
    pass


@record
class HalfOpen:
    pool: str


DispatchAction = Claim | VerifyRun | KillRun | FinishRun | RenewLease | ExpireLeases | HalfOpen


@record
class DispatchPlan:
    actions: tuple[DispatchAction, ...] = ()
    wake_at: float | None = None


@record(frozen=False)
class _Builder:
    now: float
    budget: int
    actions: list[DispatchAction] = field(default_factory=list)
    wake_at: float | None = None

    def wake(self, when: float) -> None:
        self.wake_at = when if self.wake_at is None else min(self.wake_at, when)

    def costly(self, action: DispatchAction, cost: int = 1) -> bool:
        """Kills and claims are budgeted per tick, like the agent planner's spawns and kills."""
        if self.budget < cost:
            self.wake(self.now + VERIFY_POLL_SECONDS)
            return False
        self.budget -= cost
        self.actions.append(action)
        return True


# --- the plan ----------------------------------------------------------------------


def plan(
    pools: tuple[PoolSpec, ...],
    windows: list[WindowTask],
    queued: dict[str | None, int],
    breakers: dict[str, Breaker],
    lease_expiry: float | None,
    now: float,
    budget: int = 50,
) -> DispatchPlan:
    """What to do with every task window and how many tasks each pool should claim."""
    b = _Builder(now=now, budget=budget)
    by_name = {p.name: p for p in pools}
    busy: dict[str, int] = {}
    if lease_expiry is not None:
        if lease_expiry < now:
            b.actions.append(ExpireLeases())
        else:
            b.wake(lease_expiry)
    for window in windows:
        if _plan_window(b, by_name.get(window.pool), window):
            busy[window.pool] = busy.get(window.pool, 0) + 1
        else:
            # Its run ended or is killed now: the task may go back to the queue, and the next
            # pass (at once) claims it, not the loop's next wake-up, which may be a minute away.
            b.wake(now)
    unassigned = queued.get(None, 0)
    for pool in pools:
        breaker = breakers.get(pool.name, Breaker(pool=pool.name))
        cap = pool.slots
        if breaker.state is BreakerState.OPEN:
            due = (breaker.opened_at or now) + pool.breaker_cooldown
            if now < due:
                b.wake(due)
                continue
            b.actions.append(HalfOpen(pool=pool.name))
            cap = 1
        elif breaker.state is BreakerState.HALF_OPEN:
            cap = 1
        free = cap - busy.get(pool.name, 0)
        wanted = min(free, queued.get(pool.name, 0) + unassigned)
        if wanted > 0:
            granted = min(wanted, b.budget)
            if granted and b.costly(Claim(pool=pool.name, count=granted), granted):
                unassigned = max(0, unassigned - max(0, granted - queued.get(pool.name, 0)))
            if granted < wanted:
                b.wake(now + VERIFY_POLL_SECONDS)
    return DispatchPlan(actions=tuple(b.actions), wake_at=b.wake_at)


def _plan_window(b: _Builder, pool: PoolSpec | None, window: WindowTask) -> bool:
    """Decide for one task window; True when it still holds a slot after this tick."""
    task, run, pane, now = window.task, window.run, window.pane, b.now
    if run is None:
        # Claimed, but the window run is not recorded: mid-spawn, or the spawner died.
        start_timeout = pool.start_timeout if pool else 10.0
        due = (task.started or now) + start_timeout + SPAWN_GRACE_SECONDS
        if now >= due:
            b.actions.append(FinishRun(task_id=task.id, run_id=None))
            return False
        b.wake(due)
        return True
    if not run.live or pane is None or pane.dead:
        b.actions.append(FinishRun(task_id=task.id, run_id=run.id))
        return False
    if not holds(task, run):
        # Its lease ran out (this host stalled) and another pass re-queued the task, maybe
        # claimed again elsewhere: this window must not go on working on it beside that run.
        if task.state is TaskState.QUEUED:
            detail = (
                f"the task went back to the queue ({task.reason})" if task.reason else "the task went back to the queue"
            )
        else:
            detail = f"attempt {task.attempt} of the task is another run's"
        return not b.costly(KillRun(task_id=task.id, run_id=run.id, reason="lost", detail=detail))
    if task.state is TaskState.CANCELLED:
        return not b.costly(KillRun(task_id=task.id, run_id=run.id, reason="cancelled", detail="task cancelled"))
    if task.state.terminal:
        due = (task.finished or now) + REPORT_GRACE_SECONDS
        if now >= due:
            detail = f"reported {task.state.value} {_secs(now - (task.finished or now))} ago and still running"
            return not b.costly(KillRun(task_id=task.id, run_id=run.id, reason="reported", detail=detail))
        b.wake(due)
        return True
    if pool is None:
        return True  # its pool left the fleet file: let it finish, take no new work
    age = now - run.started
    if run.verified is None:
        if age >= pool.min_uptime:
            b.actions.append(VerifyRun(task_id=task.id, run_id=run.id))
        elif age > pool.start_timeout:
            return not b.costly(
                KillRun(
                    task_id=task.id,
                    run_id=run.id,
                    reason="start",
                    detail=f"not verified after {_secs(pool.start_timeout)}",
                )
            )
        else:
            b.wake(run.started + pool.min_uptime)
    if not window.gating:
        if pool.wall_timeout is not None:
            if age >= pool.wall_timeout:
                detail = f"ran {_secs(age)}, over wall_timeout {_secs(pool.wall_timeout)}"
                return not b.costly(KillRun(task_id=task.id, run_id=run.id, reason="wall", detail=detail))
            b.wake(run.started + pool.wall_timeout)
        if pool.idle_timeout is not None:
            last = max(pane.activity, run.started)
            if now - last >= pool.idle_timeout:
                detail = f"no output for {_secs(now - last)}, over idle_timeout {_secs(pool.idle_timeout)}"
                return not b.costly(KillRun(task_id=task.id, run_id=run.id, reason="idle", detail=detail))
            b.wake(last + pool.idle_timeout)
    if task.state is TaskState.RUNNING and task.lease_until is not None:
        renew_at = task.lease_until - pool.lease / 2
        if now >= renew_at:
            b.actions.append(RenewLease(task_id=task.id, run_id=run.id, until=now + pool.lease))
        else:
            b.wake(renew_at)
    return True


def holds(task: Task, run: Run) -> bool:
    """Whether `run` is still the task's attempt: false once its lease ran out and another pass
    re-queued the task (`run_id` stays until the next claim) or a later attempt took it."""
    if task.state is TaskState.QUEUED:
        return False
    return task.run_id == run.id or (task.state.terminal and task.run_id is None)


def prune_due(state: TaskState, merged: bool, finished: float | None, now: float, keep: float) -> tuple[bool, str]:
    """Whether a task's worktree and branch may go now, and why (or why not)."""
    if state in (TaskState.RUNNING, TaskState.QUEUED, TaskState.NEEDS_REVIEW, TaskState.NEEDS_HUMAN):
        return False, f"{state.value}: kept"
    if state is TaskState.DONE and merged:
        return True, "done and merged"
    if finished is None:
        return False, f"{state.value}, no finish time: kept"
    age = now - finished
    if age >= keep:
        return True, f"{state.value} {_span(age)} ago (worktree_keep {_span(keep)})"
    return False, f"{state.value} {_span(age)} ago: kept for worktree_keep {_span(keep)}"


def _secs(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s" if seconds >= 10 or seconds == int(seconds) else f"{seconds:.1f}s"


def _span(seconds: float) -> str:
    """Days or hours for the long spans of worktree_keep."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f}d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f}h"
    return _secs(seconds)
