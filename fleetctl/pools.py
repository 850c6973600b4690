"""Pool dispatch, acted out: dispatch.py decides, PoolRunner watches, kills and settles, and
pool_start.py claims tasks and opens their windows.

Each task gets its own window `<pool>.<task id>`, started through the same wrapper as an
agent (exit code written to the state dir, pane piped to a log, FLEET_RUN in every
process). A pool's gate runs inside that window after the agent exits, so a slow gate
never blocks the supervise loop and is killed with the window. Per tick this costs one
`new-window` batch and one `kill-window` batch at most, on top of the tick's observation.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from fleetctl import attempts, dispatch, pool_limits, pool_start, review, task_window
from fleetctl.errors import FleetError
from fleetctl.kinds import Outcome
from fleetctl.model import (
    TASK_WINDOW_SEPARATOR,
    Breaker,
    BreakerState,
    Event,
    FailureClass,
    Observation,
    PoolSpec,
    Run,
    Task,
    TaskState,
)
from fleetctl.plan import runs_in
from fleetctl.record import replace
from fleetctl.redact import redact
from fleetctl.runtime import logs, observe, terminate
from fleetctl.runtime.activity import kinds
from fleetctl.runtime.context import Runtime
from fleetctl.runtime.events import alert, emit

OUTPUT_LINES = 40


class PoolRunner:
    """Runs one dispatch pass for a Fleet; the caller holds the fleet lock."""

    def __init__(self, fleet: Runtime) -> None:
        self.fleet = fleet
        self.store = fleet.store

    # --- the pass -----------------------------------------------------------------------

    def tick(self, obs: Observation) -> float | None:
        """Watch every task window, settle the ended ones, fill free slots; returns the next deadline."""
        fleet, now = self.fleet, self.fleet.now()
        panes = {p.pane_id: p for p in obs.others if TASK_WINDOW_SEPARATOR in p.window_name}
        windows = []
        finished: list[str] = []
        listed = observe.run_files(fleet)  # exit and gate files of every window, in one listing
        for task, run in self.store.window_tasks():
            pane = panes.get(run.pane_id) if run is not None and run.pane_id else None
            if pane is not None and run is not None and not runs_in(run, pane):
                pane = None  # a later tmux server's pane with the same id (ids restart at %1)
            if pane is not None and run is not None and run.live and f"{run.id}.exit" in listed:
                # The wrapper wrote the exit code and only lingers to let tmux read the last
                # output: the run has ended (as for agents, see runtime.observe.find_ended). Its window
                # is closed below, once its log has settled, so it never holds a slot.
                pane = replace(pane, dead=True)
                finished.append(pane.window_id)
            window = dispatch.WindowTask(task=task, run=run, pane=pane)
            pool = fleet.spec.pool(window.pool)
            if run is not None and pane is not None and not pane.dead and pool is not None and pool.gate:
                window = replace(window, gating=f"{run.id}.agent" in listed)
            windows.append(window)
        pools = fleet.spec.pools
        queued = self.store.queued_by_pool() if pools else {}
        breakers = self.store.breakers() if pools else {}
        plan = dispatch.plan(
            pools, windows, queued, breakers, self.store.next_lease_expiry(), now, fleet.spec.max_actions_per_tick
        )
        close, opened = self._apply(plan, windows, breakers, now)
        held = {w.pane.pane_id for w in windows if w.pane is not None}
        close += [p.window_id for p in panes.values() if p.dead and p.pane_id not in held] + finished
        if close:
            fleet.tmux.kill_windows(sorted(set(close)))
        swept = review.sweep(fleet)  # old worktrees, at most every prune_every; returns when next
        wake_at = plan.wake_at if swept is None or (plan.wake_at is not None and plan.wake_at < swept) else swept
        if opened:  # plan the new windows' deadlines (verify, wall, idle) on the next pass
            soon = fleet.now() + dispatch.VERIFY_POLL_SECONDS
            return soon if wake_at is None else min(wake_at, soon)
        return wake_at

    def _apply(
        self, plan: dispatch.DispatchPlan, windows: list[dispatch.WindowTask], breakers: dict[str, Breaker], now: float
    ) -> tuple[list[str], int]:
        by_task = {w.task.id: w for w in windows}
        kills: list[dispatch.KillRun] = []
        claims: list[dispatch.Claim] = []
        close: list[str] = []
        for action in plan.actions:
            if isinstance(action, dispatch.ExpireLeases):
                self.store.expire_leases(now)
            elif isinstance(action, dispatch.HalfOpen):
                breaker = replace(breakers.get(action.pool, Breaker(pool=action.pool)), state=BreakerState.HALF_OPEN)
                self._save_breaker(breaker, "breaker-half-open", "cooldown over: dispatching one trial task", now)
            elif isinstance(action, dispatch.VerifyRun):
                self.store.verify_run(action.run_id, now)
            elif isinstance(action, dispatch.RenewLease):
                self.store.renew_lease(action.task_id, action.run_id, action.until)
            elif isinstance(action, dispatch.KillRun):
                kills.append(action)
            elif isinstance(action, dispatch.FinishRun):
                window = by_task[action.task_id]
                self._finish(window, now)
                if window.pane is not None:
                    close.append(window.pane.window_id)
            else:
                claims.append(action)
        if kills:
            close += self._kill(kills, by_task, now)
        return close, self._dispatch(claims) if claims else 0

    # --- ending runs ----------------------------------------------------------------------

    def _kill(self, kills: list[dispatch.KillRun], by_task: dict[int, dispatch.WindowTask], now: float) -> list[str]:
        fleet = self.fleet
        batch = []
        for kill in kills:
            window = by_task[kill.task_id]
            pool = fleet.spec.pool(window.pool)
            roots = [window.pane.pid] if window.pane is not None else []
            batch.append(([kill.run_id], roots, pool.stop_timeout if pool else 10.0))
        left = terminate.terminate(fleet, batch)
        if left:
            emit(fleet, "warning", None, f"task processes survived SIGKILL: {sorted(left)}", {"left": sorted(left)})
        windows = []
        for kill in kills:
            window = by_task[kill.task_id]
            assert window.run is not None
            agent = window.run.agent
            output = logs.output_tail(fleet, agent, kill.run_id, OUTPUT_LINES)
            cls = FailureClass.STALLED if kill.reason == "idle" else FailureClass.KILLED
            fleet.store.end_run(
                kill.run_id,
                fleet.now(),
                failure_class=cls,
                stopped_by=fleet.actor,
                stop_reason=f"{kill.reason}: {kill.detail}",
            )
            emit(
                fleet,
                "task-killed",
                agent,
                f"{kill.reason}: {kill.detail}",
                {
                    "task": window.task.id,
                    "attempt": window.task.attempt,
                    "run": kill.run_id,
                    "why": kill.reason,
                    "output": output.splitlines()[-5:],
                },
                now,
            )
            self._settle(window, attempts.RunEnd(killed=kill.reason, detail=kill.detail, output=output), now)
            self._cleanup(kill.run_id)
            if window.pane is not None:
                windows.append(window.pane.window_id)
        return windows

    def _finish(self, window: dispatch.WindowTask, now: float) -> None:
        """A window ended on its own (or vanished): record the run's end, then settle its task."""
        fleet, run = self.fleet, window.run
        if run is None:
            end = attempts.RunEnd(killed="spawn", detail="the task's window run was never recorded")
        elif not run.live:
            stopped = run.stopped_by in ("down", "remove")
            output = logs.output_tail(fleet, run.agent, run.id, OUTPUT_LINES)
            end = attempts.RunEnd(
                exit_code=run.exit_code,
                exit_signal=run.exit_signal,
                output=output,
                killed=run.stopped_by if stopped else None,
                detail=run.stop_reason or "",
            )
        else:
            code, sig = observe.exit_status(fleet, run, window.pane)
            output = logs.last_output(fleet, run.agent, run.id, settle=code is not None)
            gate_code = _read_int(task_window.run_file(self.fleet, run.id, "gate"))
            gate_output = redact(_tail(task_window.gate_log(self.fleet, run), 20), fleet.secrets)
            clean = code == 0 and sig is None
            if code is None and sig is None:
                end = attempts.RunEnd(output=output, killed="vanished", detail="window closed without an exit status")
            else:
                end = attempts.RunEnd(
                    exit_code=code, exit_signal=sig, output=output, gate_code=gate_code, gate_output=gate_output
                )
            reason = "exited with code 0" if clean else (end.detail or f"exit {code}, signal {sig}")
            fleet.store.end_run(
                run.id,
                now,
                exit_code=code,
                exit_signal=sig,
                stop_reason=reason,
                failure_class=FailureClass.EXITED if clean else FailureClass.CRASHED,
            )
            self._cleanup(run.id)
        self._settle(window, end, now)

    def _settle(self, window: dispatch.WindowTask, end: attempts.RunEnd, now: float) -> None:
        """Give the task its next state (once), then feed the outcome to the pool's breaker."""
        fleet = self.fleet
        pool = fleet.spec.pool(window.pool)
        task = window.task
        agent = window.run.agent if window.run is not None else (task.agent or f"{window.pool}.{task.id}")
        hit = (
            pool_limits.read_end(kinds(fleet.spec).get(pool.kind) or kinds(fleet.spec)["generic"], end, now)
            if pool
            else None
        )
        for _ in range(2):
            held = window.run is None or dispatch.holds(task, window.run)
            verdict = attempts.verdict(task, end, gate=bool(pool and pool.gate), held=held)
            if hit is not None and verdict.state is not None and not verdict.neutral:
                verdict = pool_limits.requeue(hit)
            if verdict.state is None:
                break
            state, result = verdict.state, None
            if verdict.state is TaskState.DONE and pool is not None:
                problem, result = review.on_done(fleet, pool, task)
                if problem is not None:
                    state = TaskState.NEEDS_REVIEW
                    verdict = replace(verdict, state=state, kind="task-needs-review", reason=problem)
            data: dict[str, object] = {
                "task": task.id,
                "attempt": task.attempt,
                "run": task.run_id,
                "exit_code": end.exit_code,
                "exit_signal": end.exit_signal,
                "output": end.output.splitlines()[-5:],
            }
            if end.gate_code is not None:
                data["gate_code"] = end.gate_code
            if self.store.settle_task(
                task.id,
                task.attempt,
                state,
                now,
                reason=verdict.reason,
                result=result,
                event=(verdict.kind, agent, verdict.reason, data),
                refund=verdict.refund,
            ):
                fleet.on_event(Event(time=now, kind=verdict.kind, agent=agent, reason=verdict.reason, data=data))
                review.record_attempt(fleet, task, end, verdict)
                if verdict.state is TaskState.NEEDS_HUMAN:
                    alert(fleet, "needs-human", agent, f"task {task.id}: {verdict.reason}")
                if verdict.setup_error:
                    alert(fleet, "pool-setup", window.pool, f"task {task.id}: {verdict.reason}")
                break
            latest = self.store.task(task.id)  # someone reported or cancelled meanwhile
            if latest is None or latest.attempt != task.attempt:
                return
            task = latest
        if verdict.state is None and end.killed is None and window.run is not None:
            self._ended_after_settled(window.run, task, end, now)
        self._breaker_after(pool, verdict, now)
        if hit is not None and pool is not None and verdict.limited:
            self._park(pool, hit, now)

    def _park(self, pool: PoolSpec, hit: pool_limits.LimitHit, now: float) -> None:
        """Hold the pool's dispatch until the limit lifts (auth: until a person resets it); one alert for auth."""
        breaker = self.store.breakers().get(pool.name, Breaker(pool=pool.name))
        after = pool_limits.parked(breaker, pool, hit)
        if after != breaker:
            reason = pool_limits.park_reason(pool, hit, after, now)
            self._save_breaker(after, "pool-parked", reason, now)
            if hit.outcome is Outcome.AUTH and breaker.state is not BreakerState.OPEN:
                alert(self.fleet, "auth", pool.name, reason)

    def _ended_after_settled(self, run: Run, task: Task, end: attempts.RunEnd, now: float) -> None:
        """A run that ended on its own after its task was settled (its agent ran `task done` or
        `task fail`, or it was cancelled): no settling event carries its exit, so this one does."""
        clean = end.exit_code == 0 and end.exit_signal is None
        data: dict[str, object] = {"task": task.id, "attempt": task.attempt, "run": run.id}
        data |= {"exit_code": end.exit_code, "exit_signal": end.exit_signal}
        data["class"] = (FailureClass.EXITED if clean else FailureClass.CRASHED).value
        after = f"the task was {task.state.value}" if dispatch.holds(task, run) else "it lost the task"
        emit(self.fleet, "exited", run.agent, f"ended after {after}", data, now)

    def _breaker_after(self, pool: PoolSpec | None, verdict: attempts.Verdict, now: float) -> None:
        if pool is None:
            return
        breaker = self.store.breakers().get(pool.name, Breaker(pool=pool.name))
        after, change = attempts.breaker_after(breaker, pool, verdict, now)
        if after == breaker:
            return
        kind = f"breaker-{change}" if change else None
        self._save_breaker(after, kind, after.reason if change != "closed" else "trial task succeeded", now)
        if change == "opened":
            alert(self.fleet, "breaker-open", pool.name, f"dispatch paused: {after.reason}")

    def _save_breaker(self, breaker: Breaker, kind: str | None, reason: str, now: float) -> None:
        data: dict[str, object] = {"pool": breaker.pool, "state": breaker.state.value}
        self.store.save_breaker(breaker, (kind, breaker.pool, reason, data) if kind else None, now)
        if kind:
            self.fleet.on_event(Event(time=now, kind=kind, agent=breaker.pool, reason=reason, data=data))

    def _cleanup(self, run_id: str) -> None:
        for suffix in ("exit", "agent", "gate", "done", "sh"):
            with contextlib.suppress(OSError):
                task_window.run_file(self.fleet, run_id, suffix).unlink()

    # --- starting runs ------------------------------------------------------------------

    def _dispatch(self, claims: list[dispatch.Claim]) -> int:
        return pool_start.start_claimed(self.fleet, claims, self._settle)


def on_tick(fleet: Runtime, obs: Observation) -> float | None:
    """The one hook of a full pass: dispatch, then deliver wakes to agents that are up;
    returns when dispatch wants the next pass (None: no deadline of its own)."""
    from fleetctl.bus import Bus

    try:
        wake_at = PoolRunner(fleet).tick(obs)
        Bus(fleet).deliver_pending(obs)
    except FleetError as exc:
        emit(fleet, "dispatch-error", None, exc.message, {})
        return None
    return wake_at


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join([line.rstrip() for line in text.splitlines() if line.strip()][-lines:])
