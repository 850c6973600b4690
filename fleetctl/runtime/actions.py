"""Applying what a pass decided: recording ended runs, then the plan's actions in order
(verify, give up, mark stalled, adopt, remove), then its kills and spawns as two batches."""

from __future__ import annotations

import contextlib
import time

from fleetctl import plan as planner
from fleetctl.model import AgentRecord, FailureClass, Observation, Run, new_run_id
from fleetctl.runtime import launcher, logs, stop, terminate
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import alert, emit
from fleetctl.runtime.observe import Ended


def apply(rt: Runtime, plan: planner.Plan, obs: Observation, records: dict[str, AgentRecord], now: float) -> list[str]:
    """Carry out a plan; returns failure lines (kills that left processes, windows that did not open)."""
    kills: list[planner.Kill] = []
    spawns: list[planner.Spawn] = []
    failures: list[str] = []
    for action in plan.actions:
        if isinstance(action, planner.Verify):
            _verify(rt, action, obs, now)
        elif isinstance(action, planner.Kill):
            kills.append(action)
        elif isinstance(action, planner.Spawn):
            spawns.append(action)
        elif isinstance(action, planner.GiveUp):
            give_up(rt, action.agent, action.reason, now)
        elif isinstance(action, planner.MarkStalled):
            rt.store.update_agent(action.agent, stalled_since=now)
            emit(rt, "stalled", action.agent, action.detail, {"action": "notify"}, now)
            alert(rt, "stalled", action.agent, action.detail)
        elif isinstance(action, planner.Adopt):
            adopt(rt, action, now)
        elif isinstance(action, planner.Remove):
            remove(rt, action, obs, now)
    if kills:
        failures += stop.kill_runs(rt, kills, obs, records, now)
        spawns += [
            planner.Spawn(agent=k.agent, reason="config changed", replaces=k.run_id) for k in kills if k.then_spawn
        ]
    if spawns:
        failures += launcher.spawn(rt, spawns, obs, records)
    return failures


def _verify(rt: Runtime, action: planner.Verify, obs: Observation, now: float) -> None:
    if not rt.store.verify_run(action.run_id, rt.now()):
        return
    agent = obs.agents.get(action.agent)
    spec = rt.spec.agent(action.agent)
    checked = "window, pid" + (", port" if spec and spec.port else "") + " and min_uptime verified"
    emit(rt, "verified", action.agent, checked, {"run": action.run_id, "pid": agent.pane.pid if agent else None}, now)


def apply_ended(rt: Runtime, ended: list[Ended], now: float) -> list[Ended]:
    """Record each end (and its event); returns those recorded (not ended meanwhile by another)."""
    applied = []
    for end in ended:
        run = end.run
        recorded = rt.store.end_run(
            run.id,
            now,
            exit_code=end.exit_code,
            exit_signal=end.exit_signal,
            failure_class=end.failure_class,
            stop_reason=end.reason,
        )
        if not recorded:
            continue
        applied.append(end)
        data: dict[str, object] = {
            "run": run.id,
            "class": end.failure_class.value,
            "output": end.output.splitlines()[-logs.OUTPUT_TAIL_LINES :],
            "exit_code": end.exit_code,
            "exit_signal": end.exit_signal,
        }
        kind = "start-failed" if run.verified is None else "exited"
        emit(rt, kind, run.agent, end.reason, data, now)
        if end.park_until is not None:
            rt.store.update_agent(run.agent, parked_until=end.park_until)
            until = time.strftime("%H:%M:%S", time.localtime(end.park_until))
            emit(rt, "parked", run.agent, f"until {until}", {"until": end.park_until, "run": run.id}, now)
        with contextlib.suppress(OSError):
            (rt.runs_dir / f"{run.id}.exit").unlink()
    terminate.drop_scripts(rt, (end.run.id for end in applied))
    return applied


def give_up(rt: Runtime, agent: str, reason: str, now: float) -> None:
    if rt.store.fail_agent(agent, reason):
        emit(rt, "gave-up", agent, reason, {}, now)
        alert(rt, "failed", agent, reason)


def adopt(rt: Runtime, action: planner.Adopt, now: float) -> None:
    """Take over a window this fleet's record lost (its env says which run it is)."""
    env = rt.procs.environ(action.pid)
    run_id = env.get("FLEET_RUN") or new_run_id()
    if env.get("FLEET_AGENT", action.agent) != action.agent:
        emit(rt, "warning", action.agent, f"window {action.window_id} runs FLEET_AGENT={env['FLEET_AGENT']}", {})
    spec = rt.spec.agent(action.agent)
    started = rt.procs.identity(action.pid) or now
    if rt.store.run(run_id) is not None:
        run_id = new_run_id()
    run = Run(
        id=run_id,
        agent=action.agent,
        started=started,
        pid=action.pid,
        window_id=action.window_id,
        pane_id=action.pane_id,
        verified=now,
        fingerprint=spec.fingerprint() if spec else "",
    )
    rt.store.add_run(run, started)
    reason = f"kept running window {action.window_id} (pid {action.pid})"
    emit(rt, "adopted", action.agent, reason, {"run": run_id, "pid": action.pid}, now)


def remove(rt: Runtime, action: planner.Remove, obs: Observation, now: float) -> None:
    """Stop and forget an agent that is no longer in the fleet file."""
    agent = obs.agents.get(action.agent)
    pids = [agent.pane.pid] if agent is not None and agent.alive else []
    runs = [action.run_id] if action.run_id else []
    left = terminate.terminate(rt, [(runs, pids, terminate.DEFAULT_STOP_SECONDS)])
    if action.run_id:
        rt.store.end_run(
            action.run_id,
            now,
            failure_class=FailureClass.KILLED,
            stopped_by="remove",
            stop_reason="removed from the fleet file",
        )
    if action.window_id:
        rt.tmux.kill_windows([action.window_id])
    rt.store.forget(action.agent)
    if agent is not None or action.run_id:
        emit(rt, "removed", action.agent, "no longer in the fleet file", {"left": sorted(left)}, now)
