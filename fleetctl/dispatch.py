"""Pure dispatch decisions: (pools, task windows, queue, breakers, now) -> actions.

No I/O and no clock: pools.py observes and acts, this module decides. Every policy of
the backlog (slots, labels, wall and idle timeouts, attempts, gates, the breaker) is
unit-tested here with plain numbers.
"""

from __future__ import annotations

import re

from fleetctl.model import Breaker, BreakerState, PaneInfo, PoolSpec, Run, Task, TaskState
from fleetctl.record import field, record, replace

# A window agent that reported done/failed but keeps running is closed after this long.
REPORT_GRACE_SECONDS = 10.0
# A claimed task whose window run was never recorded (the dispatcher died mid-spawn).
SPAWN_GRACE_SECONDS = 5.0
VERIFY_POLL_SECONDS = 0.05
SIGNATURE_MAX_CHARS = 200
_ERROR_RE = re.compile(r"error|exception|fatal|fail|denied|refused|not found|traceback|timed? ?out", re.I)
_NUMBER_RE = re.compile(r"0x[0-9a-f]+|\d+", re.I)
# A gate that could not run at all: the pool's set-up is wrong, not the agent's work.
GATE_CANNOT_RUN_CODES = (126, 127)
_GATE_CANNOT_RUN_RE = re.compile(
    r"^\S*python[\d.]*: No module named |command not found|^(/bin/)?(ba|da)?sh: (line )?\d+: .+: not found$"
)


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
        detail = (
            f"the task went back to the queue ({task.reason})"
            if task.state is TaskState.QUEUED and task.reason
            else f"attempt {task.attempt} of the task is another run's"
        )
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


# --- how an attempt ended ------------------------------------------------------------


@record
class RunEnd:
    """What is known about a finished window run. `killed` says why fleetctl ended it, if it did."""

    exit_code: int | None = None
    exit_signal: int | None = None
    output: str = ""
    gate_code: int | None = None
    gate_output: str = ""
    killed: str | None = None
    detail: str = ""


@record
class Verdict:
    """The task's next state after an attempt, and what the attempt means for the breaker.

    `failure` is the breaker signature of a failed attempt; None with `neutral` False is a
    success; `neutral` attempts (cancelled, stopped by `down`) leave the breaker alone.
    `state` None: the task already has its final state (reported, cancelled).
    """

    state: TaskState | None
    kind: str
    reason: str
    failure: str | None = None
    neutral: bool = False
    setup_error: bool = False  # the pool's set-up failed (the gate could not run): alert, attempt refunded
    limited: bool = False  # a limit or auth error, not the task's fault: the attempt does not count

    @property
    def refund(self) -> bool:
        """The attempt does not count against the task's budget: the pool's set-up failed, the
        agent hit a limit or an auth error, or the run was stopped on purpose (`down`, removal)
        and the task goes back to the queue."""
        return self.setup_error or self.limited or (self.neutral and self.state is TaskState.QUEUED)


GATE_TIMEOUT_CODE = 124  # what `timeout` exits with


def verdict(task: Task, end: RunEnd, gate: bool, held: bool = True) -> Verdict:
    """`held` False: the run lost its lease, the task's state belongs to whoever has it now."""
    if not held:
        return Verdict(state=None, kind="task-lost", reason="the task is no longer this run's", neutral=True)
    if task.state is TaskState.CANCELLED:
        return Verdict(state=None, kind="task-cancelled", reason="cancelled", neutral=True)
    if task.state is TaskState.FAILED:
        return Verdict(
            state=None,
            kind="task-failed",
            reason=task.reason or "failed",
            failure=f"fail: {normalize(task.reason or '')}",
        )
    if task.state.terminal:
        return Verdict(state=None, kind=f"task-{task.state.value}", reason=task.reason or task.state.value)
    if task.state is TaskState.QUEUED:
        return Verdict(state=None, kind="task-requeued", reason="already re-queued", neutral=True)
    if end.killed in ("down", "remove"):
        return Verdict(
            state=TaskState.QUEUED, kind="task-requeued", reason=end.detail or f"stopped by {end.killed}", neutral=True
        )
    if end.killed is not None:
        signature = f"{end.killed}_timeout" if end.killed in ("wall", "idle") else f"{end.killed}: {end.detail}"
        return _attempt_failed(task, f"{end.killed}: {end.detail}" if end.detail else end.killed, signature)
    reported = task.outcome == "done"
    clean = end.exit_code == 0 and end.exit_signal is None
    if gate and end.gate_code is not None:
        if end.gate_code == 0:
            return Verdict(state=TaskState.DONE, kind="task-done", reason="gate passed")
        tail = " | ".join(end.gate_output.splitlines()[-5:])
        if gate_could_not_run(end.gate_code, end.gate_output):
            line = error_line(end.gate_output)
            return Verdict(
                state=TaskState.QUEUED,
                kind="task-requeued",
                reason=f"the gate could not run (exit {end.gate_code}): {line}; check the pool's set-up",
                failure=f"gate could not run: {normalize(line)}"[:SIGNATURE_MAX_CHARS],
                setup_error=True,
            )
        what = "gate timed out" if end.gate_code == GATE_TIMEOUT_CODE else f"gate failed (exit {end.gate_code})"
        return Verdict(
            state=TaskState.NEEDS_REVIEW, kind="task-needs-review", reason=f"{what}: {tail}" if tail else what
        )
    if clean or reported:
        if gate:
            return Verdict(
                state=TaskState.NEEDS_REVIEW, kind="task-needs-review", reason="the gate did not report a result"
            )
        return Verdict(
            state=TaskState.DONE, kind="task-done", reason="reported done" if reported else "exited with code 0"
        )
    how = (
        f"killed by signal {end.exit_signal}"
        if end.exit_signal is not None
        else (f"exited with code {end.exit_code}" if end.exit_code is not None else "ended without an exit code")
    )
    line = error_line(end.output)
    reason = f"{how}: {line}" if line else how
    return _attempt_failed(task, reason, f"{how}: {normalize(line)}")


def _attempt_failed(task: Task, reason: str, signature: str) -> Verdict:
    sig = signature[:SIGNATURE_MAX_CHARS]
    if task.attempts_left > 0:
        return Verdict(
            state=TaskState.QUEUED, kind="task-requeued", reason=f"attempt {task.attempt} failed: {reason}", failure=sig
        )
    used = task.attempt - task.budget_from
    return Verdict(
        state=TaskState.NEEDS_HUMAN,
        kind="task-needs-human",
        reason=f"{used} of {task.max_attempts} attempts failed; last: {reason}",
        failure=sig,
    )


def gate_could_not_run(code: int, output: str) -> bool:
    """Exit 126/127, a missing module or command: the gate never judged the work."""
    if code in GATE_CANNOT_RUN_CODES:
        return True
    lines = [line for line in output.splitlines() if line.strip()][-5:]
    return any(_GATE_CANNOT_RUN_RE.search(line) for line in lines)


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


def error_line(output: str) -> str:
    """The last line that looks like an error, else the last non-empty line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if _ERROR_RE.search(line):
            return line[:SIGNATURE_MAX_CHARS]
    return lines[-1][:SIGNATURE_MAX_CHARS] if lines else ""


def normalize(line: str) -> str:
    """Numbers (ids, times, pids) vary between runs of the same failure: compare without them."""
    return _NUMBER_RE.sub("N", line.strip())[:SIGNATURE_MAX_CHARS]


# --- the breaker ---------------------------------------------------------------------


def breaker_after(breaker: Breaker, pool: PoolSpec, result: Verdict, now: float) -> tuple[Breaker, str | None]:
    """The breaker after one attempt, and the transition to record (opened, reopened, closed) if any."""
    if result.neutral:
        return breaker, None
    if result.failure is None:
        if breaker.state is BreakerState.HALF_OPEN:
            return Breaker(pool=pool.name), "closed"
        if breaker.streak == 0 and breaker.signature is None:
            return breaker, None
        return replace(breaker, streak=0, signature=None), None
    streak = breaker.streak + 1 if breaker.signature == result.failure else 1
    after = replace(breaker, streak=streak, signature=result.failure)
    reason = f"{streak} consecutive failures: {result.failure}"
    if breaker.state is BreakerState.HALF_OPEN:
        return replace(after, state=BreakerState.OPEN, opened_at=now, reason=f"trial task failed: {result.failure}"), (
            "reopened"
        )
    if breaker.state is BreakerState.CLOSED and streak >= pool.breaker_threshold:
        return replace(after, state=BreakerState.OPEN, opened_at=now, reason=reason), "opened"
    return after, None


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
