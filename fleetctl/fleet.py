"""The Fleet service: observe -> plan -> apply -> record, for every command and the TUI.

Each mutating pass runs under the store's lock, re-observes tmux and the processes (one
call and one scan), records what it saw end, asks plan.py what to do, and does it through
the gateways. Success is recorded only after it is verified. The work is done in
fleetctl.runtime, one module per responsibility; this is the facade the commands use.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from fleetctl import plan as planner
from fleetctl.errors import OperationFailed
from fleetctl.model import AgentRecord, AgentSpec, AgentState, Event, Observation, PaneInfo, Run
from fleetctl.runtime import logs, observe, status
from fleetctl.runtime.context import EventSink, Runtime
from fleetctl.runtime.logs import OUTPUT_TAIL_LINES
from fleetctl.runtime.status import AgentStatus

if TYPE_CHECKING:
    from fleetctl.runtime.passes import TickResult

# The modules that act (launcher, passes, stop, supervisor and what they import: terminate,
# actions, the gateway protocols, signal) are imported by the methods that act, so `status`
# loads only what reads (measured: see docs/benchmarks.md, "status").

__all__ = ["AgentStatus", "EventSink", "Fleet"]

# How long past the slowest agent's start_timeout + min_uptime `up` and `reconcile` keep looking.
START_SLACK_SECONDS = 5.0

Progress = Callable[[str, str, str], None]


def _no_progress(_name: str, _state: str, _detail: str) -> None:
    return None


class Fleet(Runtime):
    """One fleet: its spec, its tmux server, its processes, its store and its clock."""

    # --- reading -------------------------------------------------------------------

    def observe(
        self,
        ports_for: set[str] | None = None,
        trees: bool = True,
        listing: Callable[[], list[PaneInfo] | None] | None = None,
    ) -> Observation:
        """One `list-panes -a` and one process scan (see runtime.observe.observe)."""
        return observe.observe(self, ports_for, trees, listing)

    def heartbeats(self) -> dict[str, float]:
        return observe.heartbeats(self)

    def output_tail(self, agent: str, run_id: str | None = None, lines: int = OUTPUT_TAIL_LINES) -> str:
        """The last lines an agent's run printed, from its log (no tmux call), ANSI stripped."""
        return logs.output_tail(self, agent, run_id, lines)

    def status(self, names: Sequence[str] = ()) -> list[AgentStatus]:
        """Observe and derive, changing nothing (safe while anything else runs)."""
        return status.status(self, names)

    def views(
        self, specs: Sequence[AgentSpec] | None = None
    ) -> tuple[planner.Plan, Observation, dict[str, AgentRecord]]:
        """What the planner would do now, without doing it: ended runs are simulated, not recorded."""
        return status.views(self, specs)

    def attach_argv(self, name: str, inside_tmux: bool) -> list[str]:
        obs = self.observe()
        if not obs.server_running:
            raise OperationFailed(f"fleet {self.spec.name} is not running (no tmux server on {self.spec.socket_name})")
        agent = obs.agents.get(name)
        if agent is None:
            self.resolve([name])
            raise OperationFailed(f"{name} has no window; start it with `fleetctl up {name}`")
        return self.tmux.attach_argv(agent.pane.window_id, inside_tmux)

    # --- acting ----------------------------------------------------------------------

    def tick(
        self, *, supervisor: bool = True, only: set[str] | None = None, restart: Collection[str] = ()
    ) -> TickResult:
        """One observe -> plan -> apply pass. The caller holds the lock."""
        from fleetctl.runtime import passes

        return passes.tick(self, supervisor=supervisor, only=only, restart=restart)

    def spawn(self, spawns: Sequence[planner.Spawn], obs: Observation, records: dict[str, AgentRecord]) -> list[str]:
        """Sweep what the replaced runs left, then open every window in one tmux call."""
        from fleetctl.runtime import launcher

        return launcher.spawn(self, spawns, obs, records)

    def ensure_session(self) -> None:
        from fleetctl.runtime import launcher

        launcher.ensure_session(self)

    def alert(self, kind: str, agent: str | None, reason: str) -> None:
        """Run [fleet] on_alert with one JSON object on stdin; record that it ran."""
        from fleetctl.runtime.events import alert

        alert(self, kind, agent, reason)

    def heartbeat(self, agent: str) -> None:
        self.heartbeat_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.heartbeat_dir / agent).touch()

    # --- commands --------------------------------------------------------------------

    def up(
        self, names: Sequence[str] = (), on_progress: Progress | None = None, restart: Collection[str] = ()
    ) -> list[str]:
        """Start what is not running and wait until each start is verified or has failed.

        `restart`: agents to start even if their run is over (plan.plan), in the first pass only.
        Returns one failure line per agent that did not come up (empty: all verified).
        """
        specs = self.resolve(names)
        targets = {s.name for s in specs}
        report = on_progress or _no_progress
        begun = self.now()
        with self.store.lock():
            self.store.set_desired(targets, "running")
        deadline = self.now() + max((s.start_timeout + s.min_uptime for s in specs), default=0) + START_SLACK_SECONDS
        pending = set(targets)
        failures: dict[str, str] = {}
        ports = {s.name: s.port for s in specs}
        ended_states = (
            AgentState.FAILED,
            AgentState.BACKOFF,
            AgentState.PARKED,
            AgentState.COMPLETED,
            AgentState.STOPPED,
        )
        while pending:
            with self.store.lock():
                result = self.tick(only=set(pending), restart=restart)
            restart = ()
            records = self.store.records(since=self.now() - 1, names=pending)
            for name in sorted(pending):
                view = result.plan.views.get(name)
                record = records.get(name)
                run = record.current if record else None
                if run is not None and not run.live and run.started < begun:
                    run = None  # ended before this `up` (say by `down`): its successor may wait for the budget
                if view is None:
                    continue
                if view.state is AgentState.RUNNING and run is not None and run.verified is not None:
                    pending.discard(name)
                    report(name, "verified", f"pid {run.pid}" + (f", port {ports[name]}" if ports[name] else ""))
                elif view.state in ended_states or (run is not None and not run.live):
                    pending.discard(name)
                    failures[name] = self._failure_line(name, run, view)
                    report(name, "failed", failures[name])
            if not pending:
                break
            if self.now() > deadline:
                for name in pending:
                    failures[name] = f"{name}: not verified in time"
                break
            self.clock.sleep(planner.VERIFY_POLL_SECONDS)
        if self.spec.supervisor:
            from fleetctl.runtime import launcher

            with self.store.lock():
                launcher.ensure_supervisor(self, self.observe(ports_for=set()), self.records(self.now()))
        self._report_host()
        return [failures[n] for n in sorted(failures)]

    def _report_host(self) -> None:
        """On a shared store, publish what this host now runs at once: other hosts may message or
        restart an agent as soon as the command that started it returns, before a supervisor here
        has made its first pass."""
        if self.spec.store:
            from fleetctl.runtime import heartbeat

            heartbeat.beat(self, full=True)

    def _failure_line(self, name: str, run: Run | None, view: planner.AgentView) -> str:
        reason = (run.stop_reason if run and run.stop_reason else view.reason) or view.state.value
        reason = reason.split(": ", 1)[1] if reason.startswith(("start: ", "wall: ", "idle: ")) else reason
        if view.state is AgentState.FAILED and "reset" not in reason:
            reason += f" (run `fleetctl reset {name}` once fixed)"
        tail = self.output_tail(name, run.id if run else None, 3).replace("\n", " | ")
        return f"{name}: {reason}" + (f"; last output: {tail}" if tail else "")

    def down(self, names: Sequence[str] = ()) -> list[str]:
        """Stop agents and everything they started; returns what could not be stopped."""
        from fleetctl.runtime import stop

        return stop.down(self, names)

    def kill(self, names: Sequence[str]) -> list[str]:
        """SIGKILL each agent's current run at once: no SIGTERM, no grace (for a hung agent)."""
        from fleetctl.runtime import stop

        return stop.kill(self, names)

    def restart(self, names: Sequence[str], on_progress: Progress | None = None) -> list[str]:
        """Stop and start agents (without spending their respawn budget); see stop.restart."""
        from fleetctl.runtime import stop

        return stop.restart(self, names, lambda agents: self.up(agents, on_progress, restart=agents))

    def reset(self, names: Sequence[str]) -> None:
        from fleetctl.runtime.events import emit

        for spec in self.resolve(names):
            self.store.reset(spec.name, self.now())
            emit(self, "reset", spec.name, "respawn counter and failed state cleared", {})

    def reconcile(self, dry_run: bool = False, max_seconds: float | None = None) -> tuple[list[Event], list[str], int]:
        """One repair pass for cron; returns (events, failures, exit code)."""
        if dry_run:
            plan, _, _ = self.views()
            planned = [
                Event(time=self.now(), kind="plan", agent=getattr(a, "agent", None), reason=status.describe(a))
                for a in plan.actions
            ]
            return planned, [], planner.exit_code(plan.views)
        events: list[Event] = []
        previous = self.on_event

        def collect(event: Event) -> None:
            events.append(event)
            previous(event)

        self.on_event = collect
        failures: list[str] = []
        if max_seconds is None:
            slowest = max((a.start_timeout + a.min_uptime for a in self.spec.agents), default=0)
            max_seconds = slowest + START_SLACK_SECONDS
        deadline = self.now() + max_seconds
        try:
            while True:
                with self.store.lock():
                    result = self.tick()
                failures += result.failures
                views = result.plan.views
                starting = any(v.state is AgentState.STARTING for v in views.values())
                if not result.plan.actions and not starting:
                    break
                if self.now() > deadline:
                    break
                self.clock.sleep(planner.VERIFY_POLL_SECONDS)
        finally:
            self.on_event = previous
        self._report_host()
        code = 1 if failures else planner.exit_code(views)
        return events, failures, code

    def supervise(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """The long-running loop (runtime.supervisor): pass, wait for a deadline or a wake-up, look."""
        from fleetctl.runtime.supervisor import Supervisor

        Supervisor(self).run(should_stop)
