"""Pool task runs that hit a limit or an auth error, read by the pool's kind. Pure.

A task run that hit a rate or usage limit was not the task's fault: it is re-queued without
spending an attempt, and the pool dispatches nothing until the reset time the output names (its
breaker is held open until then). An auth error would fail every queued task the same way: the
task is re-queued (no attempt spent) and the pool is paused until a person runs `fleetctl reset
POOL`, with one alert.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from fleetctl.attempts import RunEnd, Verdict
from fleetctl.kinds import Kind, Outcome, classify_output, parse_reset
from fleetctl.model import Breaker, BreakerState, PoolSpec, TaskState
from fleetctl.record import record, replace

DEFAULT_PARK_SECONDS = 900.0
AUTH_PAUSE_SECONDS = 10 * 365 * 86400.0  # until a person resets the pool


@record
class LimitHit:
    """A task run's end that says limit or auth: what it said and until when the pool waits."""

    outcome: Outcome  # RATE_LIMITED or AUTH
    detail: str
    until: float


def read_end(kind: Kind, end: RunEnd, now: float, local_tz: tzinfo | None = None) -> LimitHit | None:
    """Did this run end on a limit or an auth error? Exit 0 counts for kinds that know their client."""
    if end.killed is not None or end.exit_signal is not None or (end.gate_code is not None and end.gate_code == 0):
        return None
    if end.exit_code == 0 and kind.generic:
        return None  # a plain command that ended well
    when = datetime.fromtimestamp(now, UTC)
    verdict = classify_output(kind, end.output, end.exit_code, now=when, local_tz=local_tz)
    if verdict.outcome is Outcome.AUTH:
        return LimitHit(outcome=Outcome.AUTH, detail=verdict.detail, until=now + AUTH_PAUSE_SECONDS)
    if verdict.outcome is Outcome.RATE_LIMITED:
        until = verdict.reset_at or _reset(kind, end.output, when, local_tz) or now + DEFAULT_PARK_SECONDS
        return LimitHit(outcome=Outcome.RATE_LIMITED, detail=verdict.detail, until=max(until, now))
    return None


def requeue(hit: LimitHit) -> Verdict:
    """The task goes back to the queue; the attempt is refunded and the breaker's streak untouched."""
    what = "auth" if hit.outcome is Outcome.AUTH else "rate limited"
    return Verdict(
        state=TaskState.QUEUED,
        kind="task-requeued",
        reason=f"{what}: {hit.detail}; re-queued, no attempt spent",
        neutral=True,
        limited=True,
    )


def parked(breaker: Breaker, pool: PoolSpec, hit: LimitHit) -> Breaker:
    """The pool's breaker held open until the hit's time (its cooldown counts from opened_at)."""
    what = "auth failed" if hit.outcome is Outcome.AUTH else "rate limited"
    until = hit.until - pool.breaker_cooldown
    if breaker.state is BreakerState.OPEN and breaker.opened_at is not None and breaker.opened_at >= until:
        return breaker
    return replace(breaker, state=BreakerState.OPEN, opened_at=until, reason=f"{what}: {hit.detail}")


def park_reason(pool: PoolSpec, hit: LimitHit, breaker: Breaker, now: float) -> str:
    if hit.outcome is Outcome.AUTH:
        return f"dispatch paused until `fleetctl reset {pool.name}`: {breaker.reason}"
    return f"dispatch parked for {max(0.0, hit.until - now):.0f}s: {breaker.reason}"


def _reset(kind: Kind, output: str, now: datetime, local_tz: tzinfo | None) -> float | None:
    zone = local_tz or datetime.now().astimezone().tzinfo or UTC
    for line in reversed(output.splitlines()):
        found = parse_reset(line, now, zone, kind.reset_patterns)
        if found is not None and found > now.timestamp():
            return found
    return None
