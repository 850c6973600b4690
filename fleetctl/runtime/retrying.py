"""An agent whose client retries an API error for longer than its retry_timeout is handled as the
error it retries (fleetctl.activity_plan.retried_error decides): a limit parks it until the reset
(its continue text is typed then), auth fails it with one alert, anything else is a crash: killed
and respawned within the respawn budget.
"""

from __future__ import annotations

from fleetctl import activity_plan
from fleetctl.exit_class import user_patterns
from fleetctl.humanize import duration
from fleetctl.kinds import Activity, Outcome
from fleetctl.model import AgentRecord, FailureClass, Observation
from fleetctl.record import replace
from fleetctl.redact import redact
from fleetctl.runtime.activity import kinds
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import emit


def enforce(rt: Runtime, obs: Observation, records: dict[str, AgentRecord], now: float) -> bool:
    """Handle each live agent retrying past its retry_timeout (True: a run was stopped)."""
    rows = rt.store.activities()
    due = []
    for spec in rt.spec.agents:
        row, agent, record_ = rows.get(spec.name), obs.agents.get(spec.name), records.get(spec.name)
        run = record_.current if record_ is not None else None
        if agent is None or not agent.alive or run is None or not run.live or row is None:
            continue
        if row.pane_id == agent.pane.pane_id and activity_plan.retrying_too_long(row, spec.retry_timeout, now):
            due.append((spec, row, run.id))
    if not due:
        return False
    from fleetctl import plan as planner
    from fleetctl.runtime import stop

    screens = rt.tmux.capture_screens([row.pane_id for _, row, _ in due])
    known = kinds(rt.spec)
    kills = []
    for spec, row, run_id in due:
        past = f"retrying past retry_timeout {duration(spec.retry_timeout or 0)}"
        found = activity_plan.retried_error(
            spec.name,
            known[spec.kind],
            screens.get(row.pane_id, ""),
            row,
            now,
            spec.rate_limit_park,
            user_patterns(spec),
        )
        detail = redact(found.detail, rt.secrets)
        if found.outcome is Outcome.RATE_LIMITED:
            limited = Activity.LIMITED.value
            rt.store.save_activities(
                [replace(row, activity=limited, detail=detail, reset_at=found.reset_at, since=now)]
            )
            data: dict[str, object] = {
                "activity": limited,
                "before": row.activity,
                "detail": detail,
                "evidence": row.evidence,
                "reset_at": found.reset_at,
            }
            emit(rt, "activity", spec.name, f"{row.activity} -> {limited}: {detail} ({past})", data, now)
        elif found.outcome is Outcome.AUTH:
            kills.append(
                planner.Kill(
                    agent=spec.name,
                    run_id=run_id,
                    reason="auth",
                    detail=f"{detail} ({past})",
                    failure_class=FailureClass.AUTH,
                )
            )
        else:
            kills.append(
                planner.Kill(
                    agent=spec.name, run_id=run_id, reason=past, detail=detail, failure_class=FailureClass.CRASHED
                )
            )
    if kills:
        stop.kill_runs(rt, kills, obs, records, now)
    return bool(kills)
