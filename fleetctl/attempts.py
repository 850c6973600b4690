"""How a task's attempt ended (pure): the task's next state and what it means for the pool's breaker.

pools.py reads the end of a window run (exit, output, gate) into a RunEnd; `verdict` gives the
task's next state, `breaker_after` the pool's breaker. Unit-tested with plain values.
"""

from __future__ import annotations

import re

from fleetctl.model import Breaker, BreakerState, PoolSpec, Task, TaskState
from fleetctl.record import record, replace

SIGNATURE_MAX_CHARS = 200
_ERROR_RE = re.compile(r"error|exception|fatal|fail|denied|refused|not found|traceback|timed? ?out", re.I)
_NUMBER_RE = re.compile(r"0x[0-9a-f]+|\d+", re.I)
# A gate that could not run at all: the pool's set-up is wrong, not the agent's work.
GATE_CANNOT_RUN_CODES = (126, 127)
_GATE_CANNOT_RUN_RE = re.compile(
    r"^\S*python[\d.]*: No module named |command not found|^(/bin/)?(ba|da)?sh: (line )?\d+: .+: not found$"
)


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
