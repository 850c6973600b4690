"""Pure dispatch and attempt decisions (dispatch.py, attempts.py) with plain numbers: slots,
timeouts, leases, attempts, gates, the breaker."""

from __future__ import annotations

import pytest

from fleetctl import dispatch
from fleetctl.attempts import RunEnd, Verdict, breaker_after, error_line, normalize, verdict
from fleetctl.dispatch import (
    Claim,
    ExpireLeases,
    FinishRun,
    HalfOpen,
    KillRun,
    RenewLease,
    VerifyRun,
    WindowTask,
)
from fleetctl.model import Breaker, BreakerState, PaneInfo, PoolSpec, Run, Task, TaskState

NOW = 10_000.0
POOL = PoolSpec(
    name="coder",
    command="agent",
    slots=3,
    wall_timeout=60.0,
    idle_timeout=20.0,
    max_attempts=3,
    breaker_threshold=3,
    breaker_cooldown=300.0,
    lease=100.0,
    min_uptime=1.0,
    start_timeout=10.0,
)


def task(tid: int = 1, state: TaskState = TaskState.RUNNING, attempt: int = 1, **kw: object) -> Task:
    values: dict[str, object] = {
        "id": tid,
        "title": f"t{tid}",
        "state": state,
        "attempt": attempt,
        "agent": f"coder.{tid}",
        "run_id": f"r{tid}",
        "started": NOW - 5,
        "lease_until": NOW + 90,
    }
    values.update(kw)
    return Task(**values)  # type: ignore[arg-type]


def run(tid: int = 1, started: float = NOW - 5, verified: float | None = NOW - 4, **kw: object) -> Run:
    return Run(
        id=f"r{tid}", agent=f"coder.{tid}", started=started, verified=verified, pane_id=f"%{tid}", task_id=tid, **kw
    )  # type: ignore[arg-type]


def pane(tid: int = 1, dead: bool = False, activity: float = NOW - 1) -> PaneInfo:
    return PaneInfo(
        window_id=f"@{tid}",
        window_name=f"coder.{tid}",
        pane_id=f"%{tid}",
        pid=100 + tid,
        dead=dead,
        dead_status=None,
        activity=activity,
    )


def window(tid: int = 1, **kw: object) -> WindowTask:
    t = kw.pop("task", None) or task(tid)
    r = kw.pop("run", run(tid))
    p = kw.pop("pane", pane(tid))
    return WindowTask(t, r, p, **kw)  # type: ignore[arg-type]


def plan(
    windows: list[WindowTask] = (),
    queued: dict[str | None, int] | None = None,  # type: ignore[assignment]
    breakers: dict[str, Breaker] | None = None,
    expiry: float | None = None,
    now: float = NOW,
    pools: tuple[PoolSpec, ...] = (POOL,),
    budget: int = 50,
) -> dispatch.DispatchPlan:
    return dispatch.plan(pools, list(windows), queued or {}, breakers or {}, expiry, now, budget)


# --- slots and claims ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("queued", "running", "expected"),
    [
        ({"coder": 10}, 0, 3),  # fill every slot
        ({"coder": 10}, 2, 1),  # one slot left
        ({"coder": 10}, 3, 0),  # full
        ({"coder": 1}, 0, 1),  # no more than queued
        ({None: 2}, 0, 2),  # unassigned tasks count too
        ({"other": 5}, 0, 0),  # another pool's tasks do not
        ({}, 0, 0),  # empty queue: no claim at all (no write transaction)
    ],
)
def test_claims_fill_free_slots(queued: dict[str | None, int], running: int, expected: int) -> None:
    p = plan([window(i) for i in range(1, running + 1)], queued)
    claims = [a for a in p.actions if isinstance(a, Claim)]
    assert claims == ([Claim("coder", expected)] if expected else [])


def test_claims_are_budgeted_per_tick() -> None:
    p = plan(queued={"coder": 10}, pools=(PoolSpec(name="coder", command="a", slots=8),), budget=5)
    assert [a for a in p.actions if isinstance(a, Claim)] == [Claim("coder", 5)]
    assert p.wake_at == NOW + dispatch.VERIFY_POLL_SECONDS  # come back for the rest


def test_unassigned_tasks_are_shared_not_double_counted() -> None:
    a, b = PoolSpec(name="a", command="x", slots=3), PoolSpec(name="b", command="x", slots=3)
    p = plan(queued={None: 2}, pools=(a, b))
    assert sum(c.count for c in p.actions if isinstance(c, Claim)) == 2


def test_ended_windows_free_their_slot_in_the_same_tick() -> None:
    windows = [window(1, pane=pane(1, dead=True)), window(2, pane=None), window(3)]
    p = plan(windows, {"coder": 5})
    assert FinishRun(1, "r1") in p.actions and FinishRun(2, "r2") in p.actions
    assert Claim("coder", 2) in p.actions


def test_an_ended_or_killed_window_brings_the_next_pass_at_once() -> None:
    # Its task may be queued again when the run is settled; the next pass claims it, not the
    # loop's next wake-up (nothing else may come: the wake-ups of the end were read already).
    assert plan([window(1, pane=pane(1, dead=True))]).wake_at == NOW
    assert plan([window(1, task=task(1, state=TaskState.CANCELLED))]).wake_at == NOW
    assert plan([window(1)]).wake_at != NOW  # a window that runs on: no extra pass


def test_a_claim_without_a_recorded_run_holds_its_slot_then_fails() -> None:
    pending = window(1, run=None, pane=None, task=task(1, started=NOW - 1))
    p = plan([pending], {"coder": 5})
    assert Claim("coder", 2) in p.actions and not any(isinstance(a, FinishRun) for a in p.actions)
    late = window(1, run=None, pane=None, task=task(1, started=NOW - 60))
    assert FinishRun(1, None) in plan([late]).actions


# --- verification, timeouts, leases ------------------------------------------------------


def test_verify_after_min_uptime() -> None:
    assert VerifyRun(1, "r1") in plan([window(1, run=run(1, started=NOW - 2, verified=None))]).actions
    young = plan([window(1, run=run(1, started=NOW - 0.5, verified=None))])
    assert not any(isinstance(a, VerifyRun) for a in young.actions)
    assert young.wake_at == NOW + 0.5


def test_wall_timeout_kills_and_wakes_at_the_deadline() -> None:
    p = plan([window(1, run=run(1, started=NOW - 61))])
    assert next(a for a in p.actions if isinstance(a, KillRun)).reason == "wall"
    p = plan([window(1, run=run(1, started=NOW - 30), pane=pane(1, activity=NOW))])
    assert p.wake_at == NOW + 20  # the idle deadline comes first
    no_idle = PoolSpec(name="coder", command="a", wall_timeout=60.0)
    assert plan([window(1, run=run(1, started=NOW - 30))], pools=(no_idle,)).wake_at == NOW + 30


def test_idle_timeout_uses_pane_output() -> None:
    p = plan([window(1, run=run(1, started=NOW - 50), pane=pane(1, activity=NOW - 25))])
    kill = next(a for a in p.actions if isinstance(a, KillRun))
    assert kill.reason == "idle" and "no output for 25s" in kill.detail


def test_no_wall_or_idle_kill_while_the_gate_runs() -> None:
    p = plan([window(1, run=run(1, started=NOW - 500), pane=pane(1, activity=NOW - 400), gating=True)])
    assert not any(isinstance(a, KillRun) for a in p.actions)


def test_cancelled_task_is_killed_at_once() -> None:
    p = plan([window(1, task=task(1, state=TaskState.CANCELLED))])
    assert KillRun(1, "r1", "cancelled", "task cancelled") in p.actions


def test_reported_task_gets_a_grace_period_then_is_closed() -> None:
    fresh = plan([window(1, task=task(1, state=TaskState.DONE, finished=NOW - 1))])
    assert not any(isinstance(a, KillRun) for a in fresh.actions)
    assert fresh.wake_at == NOW - 1 + dispatch.REPORT_GRACE_SECONDS
    late = plan([window(1, task=task(1, state=TaskState.DONE, finished=NOW - 11))])
    assert [a.reason for a in late.actions if isinstance(a, KillRun)] == ["reported"]


def test_lease_is_renewed_while_the_window_lives() -> None:
    assert RenewLease(1, "r1", NOW + 100) in plan([window(1, task=task(1, lease_until=NOW + 40))]).actions
    assert not any(isinstance(a, RenewLease) for a in plan([window(1, task=task(1, lease_until=NOW + 60))]).actions)


def test_a_window_whose_lease_ran_out_is_killed_not_left_working_beside_the_next_run() -> None:
    requeued = task(1, state=TaskState.QUEUED, agent=None, lease_until=None, reason="lease of coder.1 expired")
    p = plan([window(1, task=requeued)])
    assert KillRun(1, "r1", "lost", "the task went back to the queue (lease of coder.1 expired)") in p.actions
    assert not any(isinstance(a, RenewLease) for a in p.actions) and p.wake_at == NOW
    retried = task(1, state=TaskState.QUEUED, agent=None, run_id=None, reason=None)
    assert KillRun(1, "r1", "lost", "the task went back to the queue") in plan([window(1, task=retried)]).actions
    taken = task(1, attempt=2, agent="coder.1", run_id="r9")  # claimed again: another run holds it now
    p = plan([window(1, task=taken)])
    assert KillRun(1, "r1", "lost", "attempt 2 of the task is another run's") in p.actions
    assert not any(isinstance(a, RenewLease) for a in p.actions)
    # The lost window no longer holds a slot: the pool claims up to all its slots.
    assert Claim("coder", 3) in plan([window(1, task=taken)], queued={"coder": 5}).actions
    # Its window ended on its own meanwhile: finished like any other, settled by no one.
    assert plan([window(1, task=taken, pane=pane(1, dead=True))]).actions == (FinishRun(1, "r1"),)


def test_a_lost_run_settles_nothing_whatever_it_exited_with() -> None:
    taken = task(1, attempt=2, run_id="r9")
    assert not dispatch.holds(taken, run(1)) and dispatch.holds(task(1), run(1))
    assert dispatch.holds(task(1, state=TaskState.DONE), run(1))  # reported: still its run
    for end in (RunEnd(exit_code=0), RunEnd(exit_code=1, output="boom"), RunEnd(killed="lost")):
        v = verdict(taken, end, gate=False, held=False)
        assert v.state is None and v.neutral and not v.refund


def test_pulled_leases_expire_or_wake_the_loop() -> None:
    assert ExpireLeases() in plan(expiry=NOW - 1).actions
    assert plan(expiry=NOW + 7).wake_at == NOW + 7


# --- verdicts ------------------------------------------------------------------------------


def test_clean_exit_is_done_without_gate() -> None:
    v = verdict(task(), RunEnd(exit_code=0), gate=False)
    assert v.state is TaskState.DONE and v.failure is None and not v.neutral


@pytest.mark.parametrize(
    ("end", "state", "reason"),
    [
        (RunEnd(exit_code=0, gate_code=0), TaskState.DONE, "gate passed"),
        (
            RunEnd(exit_code=0, gate_code=1, gate_output="a\nFAILED test_x\n"),
            TaskState.NEEDS_REVIEW,
            "gate failed (exit 1): a | FAILED test_x",
        ),
        (RunEnd(exit_code=0, gate_code=124), TaskState.NEEDS_REVIEW, "gate timed out"),
        (RunEnd(exit_code=0), TaskState.NEEDS_REVIEW, "the gate did not report a result"),
    ],
)
def test_gate_decides(end: RunEnd, state: TaskState, reason: str) -> None:
    v = verdict(task(), end, gate=True)
    assert (v.state, v.reason) == (state, reason)


def test_failed_attempt_requeues_then_needs_human() -> None:
    end = RunEnd(exit_code=3, output="working\nError: token expired at 12:01\nbye")
    v = verdict(task(attempt=1), end, gate=False)
    assert v.state is TaskState.QUEUED and "attempt 1 failed: exited with code 3: Error: token expired" in v.reason
    assert v.failure == "exited with code 3: Error: token expired at N:N"
    v = verdict(task(attempt=3), end, gate=False)
    assert v.state is TaskState.NEEDS_HUMAN and v.reason.startswith("3 of 3 attempts failed; last:")


def test_retry_restarts_the_attempt_budget() -> None:
    v = verdict(task(attempt=4, budget_from=3), RunEnd(exit_code=1), gate=False)
    assert v.state is TaskState.QUEUED


def test_kills_and_workspace_errors_are_failures_with_their_own_signature() -> None:
    wall = verdict(task(), RunEnd(killed="wall", detail="ran 61s"), gate=False)
    assert (wall.state, wall.failure) == (TaskState.QUEUED, "wall_timeout")
    ws = verdict(task(), RunEnd(killed="workspace", detail="fatal: not a git repository"), gate=False)
    assert ws.failure == "workspace: fatal: not a git repository"


def test_down_requeues_without_touching_the_breaker() -> None:
    v = verdict(task(attempt=3), RunEnd(killed="down", detail="stop: fleetctl down"), gate=False)
    assert v.state is TaskState.QUEUED and v.neutral


def test_only_an_attempt_stopped_on_purpose_or_by_the_pools_set_up_is_refunded() -> None:
    assert verdict(task(attempt=2), RunEnd(killed="down", detail="stop: fleetctl down"), gate=False).refund
    assert verdict(task(attempt=2), RunEnd(killed="remove"), gate=False).refund
    assert verdict(task(), RunEnd(exit_code=0, gate_code=127, gate_output="sh: 1: pytest: not found"), gate=True).refund
    assert not verdict(task(), RunEnd(killed="wall", detail="ran 5s"), gate=False).refund
    assert not verdict(task(), RunEnd(exit_code=1), gate=False).refund
    assert not verdict(task(state=TaskState.CANCELLED), RunEnd(), gate=False).refund


def test_reported_outcomes_keep_their_state() -> None:
    assert verdict(task(state=TaskState.DONE), RunEnd(exit_code=1), gate=True).state is None
    failed = verdict(task(state=TaskState.FAILED, reason="cannot reproduce 42"), RunEnd(exit_code=0), gate=False)
    assert failed.state is None and failed.failure == "fail: cannot reproduce N"
    assert verdict(task(state=TaskState.CANCELLED), RunEnd(), gate=False).neutral
    reported = verdict(task(outcome="done"), RunEnd(exit_code=1, gate_code=0), gate=True)
    assert reported.state is TaskState.DONE


def test_error_line_and_normalize() -> None:
    assert error_line("start\nERROR: disk full\nshutting down\n") == "ERROR: disk full"
    assert error_line("a\nb\n") == "b"
    assert error_line("") == ""
    assert normalize("pid 4242 failed at 0xdeadbeef") == "pid N failed at N"


# --- the breaker ----------------------------------------------------------------------------


def fail(sig: str = "exited with code 1: boom") -> Verdict:
    return Verdict(TaskState.QUEUED, "task-requeued", "x", failure=sig)


OK = Verdict(TaskState.DONE, "task-done", "ok")


def test_breaker_opens_after_threshold_identical_failures_once() -> None:
    b = Breaker("coder")
    changes = []
    for _ in range(4):
        b, change = breaker_after(b, POOL, fail(), NOW)
        changes.append(change)
    assert changes == [None, None, "opened", None]
    assert b.state is BreakerState.OPEN and b.opened_at == NOW and "3 consecutive failures" in b.reason


def test_breaker_streak_resets_on_a_different_signature_or_success() -> None:
    b = Breaker("coder")
    for v in (fail("a"), fail("a"), fail("b"), fail("b"), OK, fail("b"), fail("b")):
        b, _ = breaker_after(b, POOL, v, NOW)
    assert b.state is BreakerState.CLOSED and b.streak == 2


def test_open_breaker_pauses_dispatch_until_cooldown_then_half_opens_with_one_task() -> None:
    opened = Breaker("coder", BreakerState.OPEN, "x", 3, NOW - 100)
    p = plan(queued={"coder": 5}, breakers={"coder": opened})
    assert not any(isinstance(a, Claim) for a in p.actions) and p.wake_at == NOW + 200
    p = plan(queued={"coder": 5}, breakers={"coder": opened}, now=NOW + 200)
    assert HalfOpen("coder") in p.actions and Claim("coder", 1) in p.actions
    half = Breaker("coder", BreakerState.HALF_OPEN, "x", 3, NOW - 400)
    assert not any(isinstance(a, Claim) for a in plan([window(1)], {"coder": 5}, {"coder": half}).actions)


def test_half_open_closes_on_success_and_reopens_on_failure() -> None:
    half = Breaker("coder", BreakerState.HALF_OPEN, "x", 3, NOW - 400)
    closed, change = breaker_after(half, POOL, OK, NOW)
    assert (closed.state, change) == (BreakerState.CLOSED, "closed")
    reopened, change = breaker_after(half, POOL, fail(), NOW)
    assert (reopened.state, reopened.opened_at, change) == (BreakerState.OPEN, NOW, "reopened")


def test_neutral_outcomes_leave_the_breaker() -> None:
    b = Breaker("coder", streak=2, signature="x")
    neutral = Verdict(TaskState.QUEUED, "task-requeued", "down", neutral=True)
    assert breaker_after(b, POOL, neutral, NOW) == (b, None)
