"""Budgets: a run past max_cost_per_run or max_tokens_per_run is stopped like a wall_timeout (and
started again by its restart policy); an agent past max_cost_per_day is stopped and parked until
midnight UTC. One alert each time.

`over()` decides (pure); `enforce()` reads the usage from disk and acts, inside a pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetctl.model import AgentRecord, AgentSpec, FailureClass, Observation
from fleetctl.record import record
from fleetctl.sessions.usage import Usage

if TYPE_CHECKING:
    from fleetctl.runtime.context import Runtime

DAY_SECONDS = 86_400.0


@record
class Breach:
    """Which budget a run went past: `day` parks the agent, `run` only stops the run."""

    scope: str  # "run" | "day"
    detail: str


def has_budget(spec: AgentSpec) -> bool:
    return any(v is not None for v in (spec.max_cost_per_run, spec.max_tokens_per_run, spec.max_cost_per_day))


def over(spec: AgentSpec, run: Usage, day: Usage) -> Breach | None:
    """The first budget the usage is past (the day's first: it parks, which is the stronger act)."""
    if spec.max_cost_per_day is not None and day.cost is not None and day.cost > spec.max_cost_per_day:
        return Breach("day", f"spent ${day.cost:.4f} today, over max_cost_per_day ${spec.max_cost_per_day:g}")
    if spec.max_cost_per_run is not None and run.cost is not None and run.cost > spec.max_cost_per_run:
        return Breach("run", f"this run spent ${run.cost:.4f}, over max_cost_per_run ${spec.max_cost_per_run:g}")
    if spec.max_tokens_per_run is not None and run.tokens > spec.max_tokens_per_run:
        return Breach("run", f"this run used {run.tokens} tokens, over max_tokens_per_run {spec.max_tokens_per_run}")
    return None


def enforce(rt: Runtime, obs: Observation, records: dict[str, AgentRecord], now: float) -> bool:
    """Stop each live run past a budget (True: something was stopped)."""
    specs = [s for s in rt.spec.agents if has_budget(s)]
    if not specs:
        return False
    from fleetctl import plan as planner
    from fleetctl.runtime import stop
    from fleetctl.runtime.events import alert
    from fleetctl.sessions import spend, usage

    acted = False
    for spec in specs:
        record_ = records.get(spec.name)
        run = record_.current if record_ is not None else None
        kind = spend.usage_kind(rt, spec)
        if run is None or not run.live or kind is None:
            continue
        found = spend.entries(rt, spec, kind)
        midnight = spend.today_start(now)
        breach = over(
            spec,
            usage.total(kind, usage.between(found, run.started, None)),
            usage.total(kind, usage.between(found, midnight, None)),
        )
        if breach is None:
            continue
        if breach.scope == "day":
            rt.store.update_agent(spec.name, parked_until=midnight + DAY_SECONDS)
            cls = FailureClass.RATE_LIMITED  # parked, then started again when the park ends
        else:
            cls = FailureClass.KILLED
        kill = planner.Kill(agent=spec.name, run_id=run.id, reason="budget", detail=breach.detail, failure_class=cls)
        stop.kill_runs(rt, [kill], obs, records, now)
        alert(rt, "budget", spec.name, breach.detail + ("; parked until midnight UTC" if breach.scope == "day" else ""))
        acted = True
    return acted
