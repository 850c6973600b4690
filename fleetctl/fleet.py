"""The Fleet service: observe -> plan -> apply -> record, for every command and the TUI.

Each mutating pass runs under the store's lock, re-observes tmux and /proc (one call and
one scan), records what it saw end, asks plan.py what to do, and does it through the
gateways. Success is recorded only after it is verified.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from fleetctl import logger, wake
from fleetctl import plan as planner
from fleetctl.errors import OperationFailed, UsageError
from fleetctl.model import (
    SUPERVISOR_WINDOW,
    TASK_WINDOW_SEPARATOR,
    AgentObservation,
    AgentRecord,
    AgentSpec,
    AgentState,
    Event,
    FailureClass,
    FleetSpec,
    Observation,
    PaneInfo,
    Run,
    new_run_id,
)
from fleetctl.procs import ProcessGateway, ProcTable
from fleetctl.record import field, record, replace
from fleetctl.tmux import HOME_WINDOW, TmuxGateway, WindowRequest

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every command milliseconds
if TYPE_CHECKING:
    import subprocess

    from fleetctl.store import StateStore

EventSink = Callable[[Event], None]
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\r")
# Words that a shell runs itself or parses as syntax: `exec` in front would look for a program
# of that name (or fail), so a command starting with one keeps its own shell process.
_SHELL_WORD_LIST = (
    "! { } [[ ]] . : [ alias bg break case cd command continue do done echo elif else esac eval exec exit export "
    "false fc fg fi for function getopts hash if in jobs kill local printf pwd read readonly return select set "
    "shift test then time times trap true type ulimit umask unalias unset until wait while"
)
_SHELL_WORDS = frozenset(_SHELL_WORD_LIST.split())
_SHELL_SYNTAX = re.compile(r"[;&|<>()`\\\n]|\$\(")
OUTPUT_TAIL_LINES = 5
CLASSIFY_LINES = 40
LOG_SETTLE_SECONDS = 0.25
LOG_QUIET_SECONDS = 0.02
WRAPPER_LINGER_SECONDS = 0.2
SCAN_REUSE_SECONDS = 1.0
SERVER_EXIT_SECONDS = 2.0
MAX_IDLE_WAIT_SECONDS = 60.0
# An idle fleet is looked over every MAX_IDLE_WAIT_SECONDS (see Fleet._quiet); a full pass runs
# when the look finds something, and in any case once in every FULL_PASS_EVERY idle waits.
FULL_PASS_EVERY = 10
# A pass that acted is checked by another this soon, so that the idle wait after it ends in a quiet
# look, not in the full pass that a stale watch list would force.
ACTED_RECHECK_SECONDS = 1.0
# What an idle fleet's quiet look checks, per live run: (run id, pane pid, its start time, log, log_max_size)
_WatchList = list[tuple[str, int, float, str, int]]
SUPERVISE_ERROR_PAUSE_SECONDS = 1.0
SUPERVISOR_STOP_SECONDS = 5.0
HEALTH_TIMEOUT_SECONDS = 10.0
ALERT_TIMEOUT_SECONDS = 10.0


def exec_form(command: str) -> str:
    """The command as the wrapper's `sh -c` runs it: one plain simple command gets `exec` in
    front, so that shell becomes the agent instead of forking it (a process fewer per agent in
    every /proc scan, a fork fewer per start). Lists, pipes, redirections, substitutions,
    assignments and builtins are left as written."""
    words = command.split(None, 1)
    if not words or _SHELL_SYNTAX.search(command):
        return command
    first = words[0]
    if "=" in first or first in _SHELL_WORDS or first[0] in "#'\"$~":
        return command
    return f"exec {command}"


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


@record
class AgentStatus:
    """One row of `status`: what a person (or a script) needs about an agent."""

    name: str
    state: AgentState
    pid: int | None
    port: int | None
    window: str | None
    uptime_s: float | None
    respawns: int
    max_respawns: int
    last_exit: str | None
    last_output_s: float | None
    reason: str
    next_retry_s: float | None
    failure_class: str | None
    task: int | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state.value,
            "pid": self.pid,
            "port": self.port,
            "window": self.window,
            "uptime_s": None if self.uptime_s is None else round(self.uptime_s, 1),
            "respawns": self.respawns,
            "max_respawns": self.max_respawns,
            "last_exit": self.last_exit,
            "last_output_s": None if self.last_output_s is None else round(self.last_output_s, 1),
            "reason": self.reason,
            "next_retry_s": None if self.next_retry_s is None else round(self.next_retry_s, 1),
            "failure_class": self.failure_class,
            "task": self.task,
        }


@record(frozen=False)
class TickResult:
    plan: planner.Plan
    failures: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def acted(self) -> bool:
        return bool(self.plan.actions)


@record
class _Ended:
    """A run whose window died or vanished: what we learned about its end."""

    run: Run
    exit_code: int | None
    exit_signal: int | None
    failure_class: FailureClass
    reason: str
    output: str
    park_until: float | None


class Fleet:
    """One fleet: its spec, its tmux server, its processes and its store."""

    def __init__(
        self,
        spec: FleetSpec,
        *,
        tmux: TmuxGateway | None = None,
        procs: ProcessGateway | None = None,
        store: StateStore | None = None,
        clock: Callable[[], float] = time.time,
        on_event: EventSink | None = None,
        actor: str = "cli",
    ) -> None:
        self.spec = spec
        self.tmux = tmux or TmuxGateway(spec.socket_name, spec.name)
        self.procs = procs or ProcessGateway()
        self._store = store
        self.clock = clock
        self.idle_wait = MAX_IDLE_WAIT_SECONDS  # the longest the supervise loop sleeps
        self.on_event = on_event or (lambda _e: None)
        self.actor = actor
        self._scan: tuple[float, ProcTable] = (-1e9, ProcTable())
        self._panes_table = ProcTable()  # the last observation's processes (at least each live pane's)
        self._watch: _WatchList | None = None
        self._server: int | None = None  # the tmux server's pid: the last observation's live panes' parent

    @property
    def store(self) -> StateStore:
        """Opened on first use: a read-only view imports the store (and sqlite3) while its
        `list-panes` runs, instead of before it."""
        if self._store is None:
            from fleetctl.store import StateStore

            self._store = StateStore(self.spec.state_dir)
        return self._store

    # --- paths ------------------------------------------------------------------

    @property
    def runs_dir(self) -> Path:
        return self.spec.state_dir / "runs"

    @property
    def logs_dir(self) -> Path:
        return self.spec.state_dir / "logs"

    @property
    def heartbeat_dir(self) -> Path:
        return self.spec.state_dir / "heartbeats"

    @property
    def wake_fifo(self) -> Path:
        return self.spec.state_dir / wake.FIFO_NAME

    def log_path(self, agent: str, run_id: str) -> Path:
        return self.logs_dir / agent / f"{run_id}.log"

    def resolve(self, names: Sequence[str]) -> list[AgentSpec]:
        """The named agents (a replicated base name means all its replicas), or all."""
        if not names:
            return list(self.spec.agents)
        out: list[AgentSpec] = []
        for name in names:
            found = [a for a in self.spec.agents if a.name == name or (a.base == name and a.replica)]
            if not found:
                known = ", ".join(a.name for a in self.spec.agents) or "none"
                raise UsageError(f"{self.spec.path}: no agent named {name!r} (agents: {known})")
            out += [a for a in found if a not in out]
        return out

    # --- observe ----------------------------------------------------------------

    def observe(
        self,
        ports_for: set[str] | None = None,
        trees: bool = True,
        listing: Callable[[], list[PaneInfo] | None] | None = None,
    ) -> Observation:
        """One `list-panes -a` and one /proc scan.

        Listening ports are looked up only where they decide something: for agents that
        declare a port and (with `ports_for`) whose run still waits for verification, and
        only once something listens on that port at all (one read of /proc/net/tcp says).
        Without `trees` (read-only views), and with no port to look up, only each pane's own
        process is read: its descendants (CPU time, what a kill sweeps) decide nothing there.
        `listing` is a `list-panes` the caller started already (to read the store meanwhile).
        """
        now = self.clock()
        collect = listing or self.tmux.panes_started()
        specs = {a.name: a for a in self.spec.agents}
        port_check = {
            s.name for s in specs.values() if s.port is not None and (ports_for is None or s.name in ports_for)
        }
        inodes = self.procs.listening() if port_check else {}
        open_ports = set(inodes.values())
        port_check = {name for name in port_check if specs[name].port in open_ports}
        table = self.procs.scan() if trees or port_check else None  # while tmux answers
        panes = collect()
        if panes is None:
            return Observation(now, False)
        if table is None:
            table = self.procs.read(p.pid for p in panes if not p.dead)
        else:
            if any(not p.dead and p.pid not in table.procs for p in panes):
                table = self.procs.scan()  # a window opened during the scan: look again, once
            self._scan = (time.monotonic(), table)
        self._server = next((table.procs[p.pid].ppid for p in panes if not p.dead and p.pid in table.procs), None)
        self._panes_table = table
        by_name: dict[str, PaneInfo] = {}
        others: list[PaneInfo] = []
        for pane in panes:
            if pane.window_name.startswith("_") or "." in pane.window_name:
                others.append(pane)  # the supervisor, the home window, pool task windows
                continue
            seen = by_name.get(pane.window_name)
            if seen is None or (seen.dead and not pane.dead):
                by_name[pane.window_name] = pane
        agents: dict[str, AgentObservation] = {}
        port_pids: list[int] = []
        trees: dict[str, list[int]] = {}
        for name, pane in by_name.items():
            alive = not pane.dead and pane.pid in table.procs
            tree = table.tree(pane.pid) if alive else []
            trees[name] = tree
            if name in port_check:
                port_pids += tree
        ports = self.procs.listening_ports(port_pids, inodes) if port_pids else {}
        for name, pane in by_name.items():
            tree = trees[name]
            spec = specs.get(name)
            io = self.procs.io_bytes(tree) if spec is not None and spec.idle_timeout is not None else 0
            agents[name] = AgentObservation(
                pane=pane,
                alive=bool(tree),
                tree=tuple(tree),
                ports=frozenset(p for pid in tree for p in ports.get(pid, ())),
                cpu_seconds=table.cpu_seconds(tree),
                io_bytes=io,
            )
        return Observation(now, True, agents, tuple(others))

    def _server_tree(self, table: ProcTable) -> set[int]:
        """Everything under this fleet's tmux server, as of this pass's observation: pane trees
        (each carries its own run's FLEET_RUN; a run's own tree is killed as a tree) and
        pipe-pane jobs (`cat`). A process that escaped its run (setsid, double fork) was
        reparented away from the server, to init or a subreaper, so the FLEET_RUN search need
        not read these environments: at a hundred agents that is most of /proc."""
        return set(table.tree(self._server)) if self._server is not None and self._server > 1 else set()

    def _recent_scan(self) -> ProcTable:
        """This pass's /proc scan if it is fresh. Processes forked since are found anyway: a
        kill re-sweeps by FLEET_RUN afterwards."""
        taken, table = self._scan
        return table if time.monotonic() - taken < SCAN_REUSE_SECONDS else self.procs.scan()

    def heartbeats(self) -> dict[str, float]:
        """Each agent's latest heartbeat: `fleetctl heartbeat` files (one directory listing) and
        its own heartbeat_file."""
        out: dict[str, float] = {}
        with contextlib.suppress(OSError), os.scandir(self.heartbeat_dir) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    out[entry.name] = entry.stat().st_mtime
        for spec in self.spec.agents:
            if spec.heartbeat_file is not None:
                with contextlib.suppress(OSError):
                    out[spec.name] = max(out.get(spec.name, 0.0), spec.heartbeat_file.stat().st_mtime)
        return out

    def _records_while_listing(self, now: float) -> tuple[Callable[[], list[PaneInfo] | None], dict[str, AgentRecord]]:
        """Start `list-panes`, then read the store while tmux answers (the listing is collected
        even when the read fails, so no tmux client is left unreaped)."""
        listing = self.tmux.panes_started()
        try:
            records = self._records(now) if self.store.path.exists() else {}
        except BaseException:
            with contextlib.suppress(Exception):
                listing()
            raise
        return listing, records

    def _records(self, now: float) -> dict[str, AgentRecord]:
        window = max((a.respawn_window for a in self.spec.agents), default=600.0)
        return self.store.records(since=now - window)

    # --- what ended since we last looked ------------------------------------------

    def _find_ended(self, obs: Observation, records: dict[str, AgentRecord], now: float) -> list[_Ended]:
        """Runs whose command ended: its wrapper wrote the exit code, or its pane is gone or dead.

        The wrapper lingers a moment after writing the exit code, holding the pane's pty open
        so that tmux reads (and pipes to the log) every last byte; the planner treats such a
        lingering pane as dead and the respawn sweeps it.
        """
        ended = []
        exit_files = self._exit_files()  # listed after the panes: a pane seen ending has its file here
        for name, rec in records.items():
            run = rec.current
            if run is None or not run.live or TASK_WINDOW_SEPARATOR in name:
                continue  # pool task runs end through pools.PoolRunner
            agent = obs.agents.get(name)
            finished = f"{run.id}.exit" in exit_files
            own_pane = agent is not None and agent.pane.pane_id == run.pane_id
            if not finished and agent is not None and agent.alive and (own_pane or run.pane_id is None):
                continue
            if not finished and not obs.server_running and run.pane_id is None:
                continue
            code, sig = self._exit_status(run, agent.pane if agent is not None and own_pane else None)
            output = self._last_output(name, run.id, settle=sig is None)
            spec = self.spec.agent(name)
            if spec is None:
                cls, reason, park = FailureClass.CRASHED, "ended", None
            else:
                cls, reason, park = planner.classify(spec, code, sig, output, now)
            if run.verified is None and cls in (FailureClass.CRASHED, FailureClass.EXITED) and spec is not None:
                reason = (
                    f"{reason} after {now - run.started:.1f}s, before it was verified (min_uptime {spec.min_uptime:g}s)"
                )
            ended.append(_Ended(run, code, sig, cls, reason, output, park))
        return ended

    def _exit_files(self) -> set[str]:
        """The runs directory in one listing: `<run>.exit` is there once a run's wrapper wrote its exit code."""
        try:
            return set(os.listdir(self.runs_dir))
        except OSError:
            return set()

    def _exit_status(self, run: Run, pane: PaneInfo | None) -> tuple[int | None, int | None]:
        """The wrapper's own record first; tmux's pane_dead_status is only a hint."""
        try:
            raw = (self.runs_dir / f"{run.id}.exit").read_text().strip()
            status = int(raw)
        except (OSError, ValueError):
            if pane is not None and pane.dead_status is not None:
                status = pane.dead_status
            else:
                return None, None
        if status > 128:
            return None, status - 128
        return status, None

    def _last_output(self, agent: str, run_id: str, settle: bool) -> str:
        """What a run printed last, for classifying its end.

        Taken from the run's log, not the pane: tmux 3.3a keeps no screen content for a
        pane whose process exited at once, while its pipe still gets every byte. The pipe's
        shell and `cat` can trail the pane's death by a moment (the file may not even exist
        yet), so with `settle` wait until the log exists and has been quiet for
        LOG_QUIET_SECONDS (at most LOG_SETTLE_SECONDS). Callers settle for runs that exited
        by themselves (they may have said why); a signal death is classified at once.
        """
        path = self.log_path(agent, run_id)
        deadline = time.monotonic() + (LOG_SETTLE_SECONDS if settle else 0.0)
        last = -2
        while time.monotonic() < deadline:
            try:
                size = path.stat().st_size
            except OSError:
                size = -1
            if size >= 0 and size == last:
                break
            last = size
            time.sleep(LOG_QUIET_SECONDS)
        return self.output_tail(agent, run_id, CLASSIFY_LINES)

    def output_tail(self, agent: str, run_id: str | None = None, lines: int = OUTPUT_TAIL_LINES) -> str:
        """The last lines an agent's run printed, from its log (no tmux call), ANSI stripped."""
        path = self._latest_log(agent) if run_id is None else self.log_path(agent, run_id)
        if path is None:
            return ""
        try:
            with path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 16384))
                data = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        text = [line.rstrip() for line in strip_ansi(data).splitlines()]
        text = [line for line in text if line.strip()]
        return "\n".join(text[-lines:])

    def _latest_log(self, agent: str) -> Path | None:
        directory = self.logs_dir / agent
        try:
            logs = [p for p in directory.iterdir() if p.name.endswith(".log")]
        except OSError:
            return None
        return max(logs, key=lambda p: p.stat().st_mtime, default=None)

    def _apply_ended(self, ended: list[_Ended], now: float) -> list[_Ended]:
        """Record each end (and its event); returns those recorded (not ended meanwhile by another)."""
        applied = []
        for end in ended:
            run = end.run
            if not self.store.end_run(run.id, now, exit_code=end.exit_code, exit_signal=end.exit_signal,
                                      failure_class=end.failure_class, stop_reason=end.reason):  # fmt: skip
                continue
            applied.append(end)
            tail = end.output.splitlines()[-OUTPUT_TAIL_LINES:]
            data: dict[str, object] = {"run": run.id, "class": end.failure_class.value, "output": tail,
                                       "exit_code": end.exit_code, "exit_signal": end.exit_signal}  # fmt: skip
            kind = "start-failed" if run.verified is None else "exited"
            self._event(kind, run.agent, end.reason, data, now)
            if end.park_until is not None:
                self.store.update_agent(run.agent, parked_until=end.park_until)
                self._event("parked", run.agent, f"until {_clock_text(end.park_until)}",
                            {"until": end.park_until, "run": run.id}, now)  # fmt: skip
            with contextlib.suppress(OSError):
                (self.runs_dir / f"{run.id}.exit").unlink()
        self._drop_scripts(end.run.id for end in applied)
        return applied

    def _drop_scripts(self, run_ids: Iterable[str]) -> None:
        """Delete the wrapper scripts of runs that are over: empty once their shell started, and
        still holding the run's env if it never did."""
        for run_id in run_ids:
            with contextlib.suppress(OSError):
                (self.runs_dir / f"{run_id}.sh").unlink()

    @staticmethod
    def _simulate_ended(records: dict[str, AgentRecord], ended: list[_Ended], now: float) -> dict[str, AgentRecord]:
        out = dict(records)
        for end in ended:
            record = out[end.run.agent]
            run = replace(end.run, ended=now, exit_code=end.exit_code, exit_signal=end.exit_signal,
                          failure_class=end.failure_class, stop_reason=end.reason)  # fmt: skip
            parked = end.park_until if end.park_until is not None else record.parked_until
            out[end.run.agent] = replace(record, runs=(run, *record.runs[1:]), parked_until=parked)
        return out

    # --- activity and health --------------------------------------------------------

    def _sample_activity(self, obs: Observation, records: dict[str, AgentRecord], now: float) -> bool:
        """Remember when each idle-watched agent's tree last used CPU or did I/O (True: something changed)."""
        changed_any = False
        for spec in self.spec.agents:
            if spec.idle_timeout is None:
                continue
            record, agent = records.get(spec.name), obs.agents.get(spec.name)
            if record is None or agent is None or not agent.alive:
                continue
            mark = f"{agent.cpu_seconds:.2f}:{agent.io_bytes}"
            if mark != record.activity_mark:
                changed = now if record.activity_mark else record.last_activity
                self.store.update_agent(spec.name, activity_mark=mark, last_activity=changed)
                changed_any = True
        return changed_any

    def _run_health(self, obs: Observation, records: dict[str, AgentRecord], now: float) -> tuple[float | None, bool]:
        """Run due health checks concurrently; return when the next one is due, and whether any ran."""
        if not any(spec.health for spec in self.spec.agents):
            return None, False
        import subprocess  # passes that act only: `status` never imports it

        checked = self.store.health_checked()
        due: list[tuple[AgentSpec, subprocess.Popen[bytes]]] = []
        next_due: float | None = None
        for spec in self.spec.agents:
            record, agent = records.get(spec.name), obs.agents.get(spec.name)
            run = record.current if record else None
            if not spec.health or run is None or run.verified is None or not run.live or agent is None:
                continue
            last = max(checked.get(spec.name, 0.0), run.verified)
            if now - last < spec.health_interval:
                when = last + spec.health_interval
                next_due = when if next_due is None else min(next_due, when)
                continue
            proc = subprocess.Popen(["/bin/sh", "-c", spec.health], cwd=spec.cwd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            due.append((spec, proc))
        for spec, proc in due:
            try:
                failed = proc.wait(timeout=min(spec.health_interval, HEALTH_TIMEOUT_SECONDS)) != 0
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                failed = True
            self.store.bump_health_failures(spec.name, failed, now)
            if failed:
                self._event("health-failed", spec.name, f"health check `{spec.health}` failed", {}, now)
            when = now + spec.health_interval
            next_due = when if next_due is None else min(next_due, when)
        return next_due, bool(due)

    # --- the pass ---------------------------------------------------------------------

    def tick(self, *, supervisor: bool = True, only: set[str] | None = None) -> TickResult:
        """One observe -> plan -> apply pass. The caller holds the lock."""
        self.store.check_same_file()
        wake.ensure(self.wake_fifo)
        now = self.clock()
        listing, records = self._records_while_listing(now)
        # CPU time of whole trees matters only to idle_timeout; without it, this pass reads
        # each pane's own process instead of all of /proc, unless a run has ended: its
        # respawn sweeps what it left, which needs the whole of /proc, so scan while tmux answers.
        exit_files = self._exit_files()
        trees = any(s.idle_timeout is not None for s in self.spec.agents) or any(
            f"{r.current.id}.exit" in exit_files for r in records.values() if r.current and r.current.live
        )
        obs = self.observe(ports_for=_verifiable(records, self.spec, now), trees=trees, listing=listing)
        ended = self._find_ended(obs, records, now)
        if ended:
            # What was written, applied to what was read: no second read of the store.
            records = self._simulate_ended(records, self._apply_ended(ended, now), now)
        sampled = self._sample_activity(obs, records, now)
        health_due, checked = self._run_health(obs, records, now)
        if sampled or checked:
            records = self._records(now)
        spec = self.spec if only is None else replace(self.spec, agents=tuple(a for a in self.spec.agents
                                                                             if a.name in only))  # fmt: skip
        plan = planner.plan(spec, records if only is None else {k: v for k, v in records.items() if k in only},
                            obs, now, self.heartbeats())  # fmt: skip
        if only is not None:
            plan = replace(plan, actions=tuple(a for a in plan.actions if not isinstance(a, planner.Remove)))
        if health_due is not None:
            plan = replace(plan, wake_at=health_due if plan.wake_at is None else min(plan.wake_at, health_due))
        result = TickResult(plan)
        self._apply(plan, obs, records, now, result)
        for end in ended:
            view = plan.views.get(end.run.agent)
            if view is not None and view.state is AgentState.BACKOFF and view.next_retry is not None:
                self._event("backoff", end.run.agent, f"next retry in {view.next_retry - now:.1f}s",
                            {"next_retry": view.next_retry, "respawns": view.respawns}, now)  # fmt: skip
        if supervisor and self.spec.supervisor and only is None:
            self._ensure_supervisor(obs, records)
        self._maintain_logs(obs, records)
        if only is None:
            from fleetctl import pools  # only passes that act need dispatch: keep `status` light

            pools.on_tick(self, obs, result)  # dispatch tasks, deliver pending wakes
            self._watch = None if result.acted or self.spec.pools else self._watch_list(obs, records)
        return result

    def _watch_list(self, obs: Observation, records: dict[str, AgentRecord]) -> _WatchList:
        out: _WatchList = []
        for spec in self.spec.agents:
            record, agent = records.get(spec.name), obs.agents.get(spec.name)
            run = record.current if record else None
            info = self._panes_table.procs.get(agent.pane.pid) if agent is not None and agent.alive else None
            if run is not None and run.live and info is not None:
                log = str(self.log_path(spec.name, run.id))
                out.append((run.id, info.pid, info.start_time, log, spec.log_max_size))
        return out

    def _quiet(self) -> bool:
        """Has nothing happened in an idle fleet that a wake-up would not have reported? Every
        run that was live is still live (its pane's process, by pid and start time, has written
        no exit code) and no log has reached log_max_size. Costs a directory listing and a few
        stats, where a full pass costs a tmux call, the store and the planner. Pools and passes
        that acted always get the full pass."""
        if self._watch is None:
            return False
        names = self._exit_files()
        for run_id, pid, started, log, limit in self._watch:
            if f"{run_id}.exit" in names or not self.procs.alive(pid, started):
                return False
            try:
                if os.stat(log).st_size >= limit:
                    return False
            except OSError:
                return False
        return True

    def _apply(self, plan: planner.Plan, obs: Observation, records: dict[str, AgentRecord], now: float,
               result: TickResult) -> None:  # fmt: skip
        kills: list[planner.Kill] = []
        spawns: list[planner.Spawn] = []
        for action in plan.actions:
            if isinstance(action, planner.Verify):
                if self.store.verify_run(action.run_id, self.clock()):
                    agent = obs.agents.get(action.agent)
                    spec = self.spec.agent(action.agent)
                    self._event("verified", action.agent, "window, pid" + (", port" if spec and spec.port else "")
                                + " and min_uptime verified",
                                {"run": action.run_id, "pid": agent.pane.pid if agent else None}, now)  # fmt: skip
            elif isinstance(action, planner.Kill):
                kills.append(action)
            elif isinstance(action, planner.Spawn):
                spawns.append(action)
            elif isinstance(action, planner.GiveUp):
                self._give_up(action.agent, action.reason, now)
            elif isinstance(action, planner.MarkStalled):
                self.store.update_agent(action.agent, stalled_since=now)
                self._event("stalled", action.agent, action.detail, {"action": "notify"}, now)
                self.alert("stalled", action.agent, action.detail)
            elif isinstance(action, planner.Adopt):
                self._adopt(action, now)
            elif isinstance(action, planner.Remove):
                self._remove(action, obs, now)
        if kills:
            result.failures += self._kill(kills, obs, records, now)
            spawns += [planner.Spawn(k.agent, "config changed", replaces=k.run_id) for k in kills if k.then_spawn]
        if spawns:
            result.failures += self.spawn(spawns, obs, records)

    # --- acting -----------------------------------------------------------------------

    def _event(
        self, kind: str, agent: str | None, reason: str, data: dict[str, object], now: float | None = None
    ) -> Event:
        event = Event(time=now if now is not None else self.clock(), kind=kind, agent=agent, reason=reason, data=data)
        event = replace(event, id=self.store.add_event(event))
        self.on_event(event)
        return event

    def alert(self, kind: str, agent: str | None, reason: str) -> None:
        """Run [fleet] on_alert with one JSON object on stdin; record that it ran."""
        payload = {"event": kind, "agent": agent, "reason": reason, "time": self.clock(), "fleet": self.spec.name}
        self._event("alert", agent, f"{kind}: {reason}", {"alert": kind}, payload["time"])  # type: ignore[arg-type]
        if not self.spec.on_alert:
            return
        import subprocess

        try:
            subprocess.run(["/bin/sh", "-c", self.spec.on_alert], input=json.dumps(payload).encode(),
                           cwd=self.spec.path.parent, timeout=ALERT_TIMEOUT_SECONDS,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            self._event("alert-failed", agent, f"on_alert did not finish: {exc}", {})

    def _give_up(self, agent: str, reason: str, now: float) -> None:
        if self.store.fail_agent(agent, reason):
            self._event("gave-up", agent, reason, {}, now)
            self.alert("failed", agent, reason)

    def _adopt(self, action: planner.Adopt, now: float) -> None:
        env = self.procs.environ(action.pid)
        run_id = env.get("FLEET_RUN") or new_run_id()
        if env.get("FLEET_AGENT", action.agent) != action.agent:
            self._event("warning", action.agent, f"window {action.window_id} runs FLEET_AGENT={env['FLEET_AGENT']}", {})
        spec = self.spec.agent(action.agent)
        started = self.procs.identity(action.pid) or now
        if self.store.run(run_id) is not None:
            run_id = new_run_id()
        run = Run(id=run_id, agent=action.agent, started=started, pid=action.pid, window_id=action.window_id,
                  pane_id=action.pane_id, verified=now, fingerprint=spec.fingerprint() if spec else "")  # fmt: skip
        self.store.add_run(run, started)
        self._event("adopted", action.agent, f"kept running window {action.window_id} (pid {action.pid})",
                    {"run": run_id, "pid": action.pid}, now)  # fmt: skip

    def _remove(self, action: planner.Remove, obs: Observation, now: float) -> None:
        agent = obs.agents.get(action.agent)
        pids = {agent.pane.pid: agent.pane.window_id} if agent is not None and agent.alive else {}
        runs = [action.run_id] if action.run_id else []
        left = self._terminate([(runs, list(pids), 10.0)])
        if action.run_id:
            self.store.end_run(action.run_id, now, failure_class=FailureClass.KILLED, stopped_by="remove",
                               stop_reason="removed from the fleet file")  # fmt: skip
        if action.window_id:
            self.tmux.kill_windows([action.window_id])
        self.store.forget(action.agent)
        if agent is not None or action.run_id:
            self._event("removed", action.agent, "no longer in the fleet file", {"left": sorted(left)}, now)

    def _kill(
        self, kills: list[planner.Kill], obs: Observation, records: dict[str, AgentRecord], now: float
    ) -> list[str]:
        batch = []
        for kill in kills:
            agent = obs.agents.get(kill.agent)
            spec = self.spec.agent(kill.agent)
            roots = [agent.pane.pid] if agent is not None else []
            batch.append(([kill.run_id], roots, spec.stop_timeout if spec else 10.0))
        left = self._terminate(batch, _earliest(records, [k.agent for k in kills]))
        failures = []
        windows = []
        for kill in kills:
            agent = obs.agents.get(kill.agent)
            stopped_by = {"stop": "down", "restart": "restart", "config": "config"}.get(kill.reason, self.actor)
            self.store.end_run(kill.run_id, self.clock(), failure_class=kill.failure_class, stopped_by=stopped_by,
                               stop_reason=f"{kill.reason}: {kill.detail}")  # fmt: skip
            output = self.output_tail(kill.agent, kill.run_id).splitlines()
            kind = "start-failed" if kill.reason == "start" else ("stalled" if kill.reason == "idle" else "killed")
            if kill.reason in ("wall",):
                kind = "timed-out"
            self._event(kind, kill.agent, kill.detail, {"run": kill.run_id, "by": self.actor, "why": kill.reason,
                                                         "output": output, "left": sorted(left)}, now)  # fmt: skip
            if kind != "killed":
                self._event("killed", kill.agent, f"{kill.reason}: {kill.detail}",
                            {"run": kill.run_id, "by": self.actor, "why": kill.reason}, now)  # fmt: skip
            if agent is not None:
                windows.append(agent.pane.window_id)
        if left:
            failures.append(f"{len(left)} process(es) survived SIGKILL: {sorted(left)}")
        self.tmux.kill_windows(windows)
        return failures

    def _terminate(
        self,
        batch: list[tuple[list[str], list[int], float]],
        since: float | None = None,
        killed_all: Callable[[], None] | None = None,
    ) -> set[int]:
        """End every process of these runs: their trees, groups and FLEET_RUN carriers.

        All runs are stopped concurrently: TERM to everything at once, then each run's
        survivors get KILL when its own stop_timeout runs out. `since` (the earliest run
        start) lets the FLEET_RUN search skip processes older than the runs. `killed_all`: see
        ProcessGateway.terminate_groups.
        """
        run_ids = {r for runs, _, _ in batch for r in runs}
        table = self._recent_scan()
        under_server = self._server_tree(table)
        carriers = self.procs.find_env("FLEET_RUN", run_ids, table, since, under_server) if run_ids else {}
        groups: list[tuple[dict[int, float], float]] = []
        for runs, roots, grace in batch:
            pids: set[int] = set()
            for root in roots:
                pids.update(table.tree(root))
                pids.update(table.group(root))
            for rid in runs:
                pids.update(carriers.get(rid, ()))
            pids.discard(os.getpid())
            groups.append(({p: table.procs[p].start_time for p in pids if p in table.procs}, grace))
        left = self.procs.terminate_groups(groups, killed_all)
        self._drop_scripts(run_ids)
        if not any(targets for targets, _ in groups):
            return left
        # Anything forked while we were killing still carries FLEET_RUN: sweep again.
        for _ in range(3):
            again = self.procs.find_env("FLEET_RUN", run_ids, skip=under_server) if run_ids else {}
            pids = {p for found in again.values() for p in found if p != os.getpid()}
            if not pids:
                break
            table = self.procs.scan()
            left |= self.procs.kill_now({p: table.procs[p].start_time for p in pids if p in table.procs})
        return left

    def spawn(self, spawns: Sequence[planner.Spawn], obs: Observation, records: dict[str, AgentRecord]) -> list[str]:
        """Sweep what the replaced runs left, then open every window in one tmux call."""
        sweep = []
        old_windows = []
        for s in spawns:
            agent = obs.agents.get(s.agent)
            spec = self.spec.agent(s.agent)
            if s.replaces:
                roots = [agent.pane.pid] if agent is not None and agent.alive else []
                sweep.append(([s.replaces], roots, spec.stop_timeout if spec else 10.0))
            if agent is not None:
                old_windows.append(agent.pane.window_id)
        if sweep:
            left = self._terminate(sweep, _earliest(records, [s.agent for s in spawns if s.replaces]))
            if left:
                self._event("warning", None, f"leftover processes survived SIGKILL: {sorted(left)}", {})
        if not (obs.server_running and any(p.window_name == HOME_WINDOW for p in obs.others)):
            self.ensure_session()
        requests: list[WindowRequest] = []
        runs: list[Run] = []
        now = self.clock()
        for s in spawns:
            spec = self.spec.agent(s.agent)
            if spec is None:
                continue
            run = Run(id=new_run_id(), agent=s.agent, started=now, respawn=s.respawn, fallback=s.fallback,
                      fingerprint=spec.fingerprint())  # fmt: skip
            requests.append(self._window_request(spec, run, spec.fallback if s.fallback else spec.command))
            runs.append(run)
        batch = self.tmux.open_windows(requests, close_first=old_windows)
        opened = {w.name: w for w in batch.opened}
        failures = []
        for s, run in zip([s for s in spawns if self.spec.agent(s.agent)], runs, strict=True):
            window = opened.get(s.agent)
            if window is None:
                why = f"tmux could not open a window: {batch.reason(s.agent) or 'no window id came back'}"
                failures.append(f"{s.agent}: {why}")
                self._event("start-failed", s.agent, why, {"run": run.id})
                continue
            run = replace(run, pid=window.pid, window_id=window.window_id, pane_id=window.pane_id)
            self.store.add_run(run, self.procs.identity(window.pid))
            kind = "respawned" if s.respawn else "spawned"
            self._event(kind, s.agent, s.reason, {"run": run.id, "pid": window.pid, "window": window.window_id,
                                                  "fallback": s.fallback}, now)  # fmt: skip
            if s.fallback:
                self._event("fallback", s.agent, "primary failed repeatedly; running the fallback command", {})
        return failures

    def _window_request(self, spec: AgentSpec, run: Run, command: str, linger: bool = True) -> WindowRequest:
        """Write the run's script (0600, emptied by itself as it starts) and describe its window.

        User env (possibly secrets) goes only into the script, never into argv. The script is
        one brace group, so the shell has parsed all of it before its first line empties the
        file: no secret stays on disk, and no `rm` process is forked per start. The empty file
        goes when the run is settled (`_drop_scripts`).
        """
        from shlex import quote  # spawning passes only: `status` never quotes

        self.runs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        log = self.log_path(spec.name, run.id)
        log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._prune_logs(spec, keep=spec.log_keep - 1)  # with this run's log: at most log_keep per agent
        exit_file = self.runs_dir / f"{run.id}.exit"
        public = [("FLEET_NAME", self.spec.name), ("FLEET_AGENT", spec.name), ("FLEET_RUN", run.id)]
        private = [("FLEET_CONFIG", str(self.spec.path)), ("FLEET_STATE_DIR", str(self.spec.state_dir))]
        if spec.port is not None:
            private.append(("FLEET_PORT", str(spec.port)))
        if run.task_id is not None:
            private.append(("FLEET_TASK", str(run.task_id)))
        # `true`, not `:`: a failed redirection on a special builtin would end the shell.
        lines = ["{", 'true 2>/dev/null >"$0"']
        lines += [f"export {k}={quote(v)}" for k, v in private + list(spec.env)]
        lines.append(f"/bin/sh -c {quote(exec_form(command))}")
        lines.append("code=$?")
        lines.append(f"echo $code > {quote(str(exit_file))}")
        # Wake the supervise loop ourselves: tmux's pane-died hook is skipped when the
        # pane's pipe still has output in flight (seen with tmux 3.3a), so it is a backup.
        fifo = quote(str(self.wake_fifo))
        lines.append(f"[ -p {fifo} ] && printf x 1<> {fifo}")
        # Hold the pty open a moment: output written just before a fast exit is otherwise
        # sometimes lost between the kernel and tmux. A respawn ends this wait at once.
        # Not after a signal death (nothing more was said), and not in pool task windows
        # (a lingering window would look like a busy slot). stderr is closed first, so a
        # respawn ending the wait leaves no "Terminated" from the shell in the agent's log.
        if linger:
            lines.append(f"[ $code -gt 128 ] || {{ exec 2>/dev/null; sleep {WRAPPER_LINGER_SECONDS:g}; }}")
        lines.append("}")
        script = self.runs_dir / f"{run.id}.sh"
        fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        return WindowRequest(name=spec.name, argv=("/bin/sh", str(script)), cwd=str(spec.cwd), env=tuple(public),
                             pipe=f"exec cat >> {quote(str(log))}")  # fmt: skip

    def ensure_session(self) -> None:
        wake.ensure(self.wake_fifo)
        self.tmux.ensure_session(str(self.spec.path.parent), str(self.wake_fifo))

    def _ensure_supervisor(self, obs: Observation, records: dict[str, AgentRecord]) -> None:
        wanted = bool(self.spec.pools) or any(r.desired == "running" for r in records.values()
                                              if self.spec.agent(r.name))  # fmt: skip
        if not wanted:
            return
        current = [p for p in obs.others if p.window_name == SUPERVISOR_WINDOW]
        if any(not p.dead for p in current):
            return
        self.ensure_session()
        argv = (sys.executable, "-m", "fleetctl", "-c", str(self.spec.path), "supervise")
        env = (("FLEET_NAME", self.spec.name), ("FLEETCTL_SUPERVISOR", "1"))
        req = WindowRequest(SUPERVISOR_WINDOW, argv, str(self.spec.path.parent), env)
        batch = self.tmux.open_windows([req], close_first=[p.window_id for p in current])
        if batch.opened:
            self._event("supervisor-started", None, f"supervise loop in window {batch.opened[0].window_id}",
                        {"pid": batch.opened[0].pid})  # fmt: skip
        else:
            why = batch.reason(req.name)
            self._event("warning", None, f"tmux could not open the supervise loop's window: {why}", {})

    def _maintain_logs(self, obs: Observation, records: dict[str, AgentRecord]) -> None:
        """Rotate logs past log_max_size and re-create deleted ones.

        The pane's pipe is re-pointed with pipe-pane, so bytes already in the old pipe land in the
        old file. Not quite lossless: on a loaded machine a line has gone missing from the files
        at the re-point (most likely bytes tmux had read but not yet written to the old pipe).
        """
        from shlex import quote

        for spec in self.spec.agents:
            record, agent = records.get(spec.name), obs.agents.get(spec.name)
            run = record.current if record else None
            if run is None or not run.live or agent is None or not agent.alive:
                continue
            path = self.log_path(spec.name, run.id)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                size = -1
            if 0 <= size < spec.log_max_size:
                continue
            if size >= 0:
                with contextlib.suppress(FileNotFoundError):  # deleted since the stat: just re-create it
                    path.rename(path.with_name(f"{path.name}.{int(self.clock() * 1000)}"))
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.touch(mode=0o600)
            self.tmux.repipe(agent.pane.pane_id, f"exec cat >> {quote(str(path))}")
            self._prune_logs(spec)

    def _prune_logs(self, spec: AgentSpec, keep: int | None = None) -> None:
        directory = self.logs_dir / spec.name
        files = sorted((p for p in directory.iterdir() if ".log" in p.name), key=_mtime)
        for old in files[: max(0, len(files) - (spec.log_keep if keep is None else keep))]:
            with contextlib.suppress(OSError):
                old.unlink()

    # --- commands ---------------------------------------------------------------------

    def status(self, names: Sequence[str] = ()) -> list[AgentStatus]:
        """Observe and derive, changing nothing (safe while anything else runs)."""
        specs = self.resolve(names)
        plan, obs, records = self.views(specs)
        return [
            self._row(spec, _as_status(plan.views[spec.name], records.get(spec.name)), records.get(spec.name), obs,
                      obs.time)
            for spec in specs
        ]  # fmt: skip

    def views(
        self, specs: Sequence[AgentSpec] | None = None
    ) -> tuple[planner.Plan, Observation, dict[str, AgentRecord]]:
        """What the planner would do now, without doing it: ended runs are simulated, not recorded."""
        now = self.clock()
        listing, records = self._records_while_listing(now)
        obs = self.observe(ports_for=_verifiable(records, self.spec, now), trees=False, listing=listing)
        records = self._simulate_ended(records, self._find_ended(obs, records, now), now)
        spec = self.spec if specs is None else replace(self.spec, agents=tuple(specs))
        return planner.plan(spec, records, obs, now, self.heartbeats()), obs, records

    def _row(self, spec: AgentSpec, view: planner.AgentView, record: AgentRecord | None, obs: Observation,
             now: float) -> AgentStatus:  # fmt: skip
        agent = obs.agents.get(spec.name)
        run = record.current if record else None
        live = agent is not None and agent.alive
        last_exit = None
        if record:
            finished = next((r for r in record.runs if not r.live), None)
            if finished is not None:
                last_exit = finished.exit_text()
                if finished.stopped_by == "down":
                    last_exit = "stopped"
                elif finished.stopped_by is not None:
                    last_exit = f"killed ({(finished.stop_reason or '').split(':')[0] or finished.stopped_by})"
        return AgentStatus(
            name=spec.name,
            state=view.state,
            pid=agent.pane.pid if live and agent else None,
            port=spec.port,
            window=agent.pane.window_id if agent else None,
            uptime_s=now - run.started if live and run is not None and run.live else None,
            respawns=view.respawns,
            max_respawns=spec.max_respawns,
            last_exit=last_exit,
            last_output_s=max(0.0, now - agent.pane.activity) if agent and agent.pane.activity else None,
            reason=view.reason,
            next_retry_s=max(0.0, view.next_retry - now) if view.next_retry else None,
            failure_class=(run.failure_class.value if run and run.failure_class else None),
            task=run.task_id if run else None,
        )

    def up(self, names: Sequence[str] = (), on_progress: Callable[[str, str, str], None] | None = None) -> list[str]:
        """Start what is not running and wait until each start is verified or has failed.

        Returns one failure line per agent that did not come up (empty: all verified).
        """
        specs = self.resolve(names)
        targets = {s.name for s in specs}
        report = on_progress or (lambda _n, _s, _r: None)
        begun = self.clock()
        with self.store.lock():
            self.store.set_desired(targets, "running")
        deadline = self.clock() + max((s.start_timeout + s.min_uptime for s in specs), default=0) + 5.0
        pending = set(targets)
        failures: dict[str, str] = {}
        ports = {s.name: s.port for s in specs}
        while pending:
            with self.store.lock():
                result = self.tick(only=set(pending))
            records = self.store.records(since=self.clock() - 1, names=pending)
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
                elif view.state in (AgentState.FAILED, AgentState.BACKOFF, AgentState.PARKED, AgentState.COMPLETED,
                                    AgentState.STOPPED) or (run is not None and not run.live):  # fmt: skip
                    pending.discard(name)
                    failures[name] = self._failure_line(name, run, view)
                    report(name, "failed", failures[name])
            if not pending:
                break
            if self.clock() > deadline:
                for name in pending:
                    failures[name] = f"{name}: not verified in time"
                break
            time.sleep(planner.VERIFY_POLL_SECONDS)
        if self.spec.supervisor:
            with self.store.lock():
                self._ensure_supervisor(self.observe(ports_for=set()), self._records(self.clock()))
        return [failures[n] for n in sorted(failures)]

    def _failure_line(self, name: str, run: Run | None, view: planner.AgentView) -> str:
        reason = (run.stop_reason if run and run.stop_reason else view.reason) or view.state.value
        reason = reason.split(": ", 1)[1] if reason.startswith(("start: ", "wall: ", "idle: ")) else reason
        if view.state is AgentState.FAILED and "reset" not in reason:
            reason += f" (run `fleetctl reset {name}` once fixed)"
        tail = self.output_tail(name, run.id if run else None, 3).replace("\n", " | ")
        return f"{name}: {reason}" + (f"; last output: {tail}" if tail else "")

    def down(self, names: Sequence[str] = ()) -> list[str]:
        """Stop agents and everything they started; returns what could not be stopped."""
        everything = not names
        specs = self.resolve(names)
        with self.store.lock():
            now = self.clock()
            obs = self.observe(ports_for=set())  # stopping needs no listening ports
            records = self._records(now)
            targets = {s.name for s in specs}
            if everything:
                targets |= set(records) | set(obs.agents)
            self.store.set_desired(targets, "stopped")
            batch: list[tuple[list[str], list[int], float]] = []
            if everything and obs.server_running:
                self.tmux.drop_wake_hooks()  # nothing is left to wake; the server then exits sooner
            if everything:
                # The supervisor and the home window stop with the agents, in the same batch
                # (the supervisor cannot act meanwhile: we hold the lock), and are confirmed
                # gone before `down` returns rather than left to kill-server's SIGHUP.
                for pane in obs.others:
                    if pane.window_name.startswith("_") and not pane.dead:
                        batch.append(([], [pane.pid], SUPERVISOR_STOP_SECONDS))
            # Pool task windows ("pool.id") are not agents, but `down` of the fleet stops them too.
            task_panes = {p.window_name: p for p in obs.others if "." in p.window_name} if everything else {}
            targets |= set(task_panes)
            runs: dict[str, str] = {}
            windows = []
            for name in sorted(targets):
                record, agent = records.get(name), obs.agents.get(name)
                pane = agent.pane if agent is not None else task_panes.get(name)
                run = record.current if record and record.current and record.current.live else None
                roots = [pane.pid] if pane is not None and not pane.dead else []
                if run is None and not roots:
                    if pane is not None:
                        windows.append(pane.window_id)
                    continue
                spec = self.spec.agent(name)
                batch.append(([run.id] if run else [], roots, spec.stop_timeout if spec else 10.0))
                if run:
                    runs[name] = run.id
                if pane is not None:
                    windows.append(pane.window_id)
            since = _earliest(records, list(runs))
            # When agents had to be KILLed, tmux's own teardown (windows, log pipes, the server)
            # starts right after the KILLs and overlaps the kernel's teardown of the killed
            # processes (a KILLed agent says nothing more). Agents that all ended on TERM have
            # their last output piped first: the server is closed after them.
            closed: list[bool] = []

            def close_server() -> None:
                self.tmux.kill_server()
                closed.append(True)

            left = self._terminate(batch, since, close_server if everything else None) if batch else set()
            for name, run_id in runs.items():
                if self.store.end_run(run_id, self.clock(), failure_class=FailureClass.KILLED, stopped_by="down",
                                      stop_reason="stop: fleetctl down"):  # fmt: skip
                    self._event(
                        "killed", name, "stopped by fleetctl down", {"run": run_id, "by": "down", "why": "stop"}
                    )
            if everything:
                if not closed:
                    self.tmux.kill_server()
                self._await_server_exit()
            else:
                self.tmux.kill_windows(windows)
                remaining = [p for p in (self.tmux.panes() or []) if not p.window_name.startswith("_")]
                if not remaining:
                    self.tmux.kill_server()
                    self._await_server_exit()
            leftovers = self.procs.find_env("FLEET_RUN", set(runs.values()), self.procs.scan(), since)
            left |= {p for pids in leftovers.values() for p in pids}
        return [f"process {pid} survived SIGKILL" for pid in sorted(left)]

    def _await_server_exit(self) -> None:
        """kill-server returns before the server has exited: wait until it has.

        The server is the parent of the panes in this pass's observation (its scan may be
        seconds old by now, which is fine: the server's pid and start time do not change).
        """
        table = self._scan[1]
        # The server and what it ran itself: log pipes (`cat`) end when it closes them.
        targets = {pid: table.procs[pid].start_time for pid in self._server_tree(table)}
        left = self.procs.wait_gone(targets, SERVER_EXIT_SECONDS)
        if left:  # a pipe that did not end with the server: ours, so end it
            self.procs.kill_now({p: targets[p] for p in left})
        self.tmux.remove_socket()

    def restart(self, names: Sequence[str], on_progress: Callable[[str, str, str], None] | None = None) -> list[str]:
        specs = self.resolve(names)
        with self.store.lock():
            now = self.clock()
            obs = self.observe(ports_for=set())
            records = self._records(now)
            self.store.set_desired([s.name for s in specs], "running")
            kills = [
                planner.Kill(s.name, r.current.id, "restart", "restarted by request")
                for s in specs
                if (r := records.get(s.name)) is not None and r.current is not None and r.current.live
            ]
            # A requested restart neither spends the respawn budget nor waits for backoff.
            failures = self._kill(kills, obs, records, now) if kills else []
        return failures + self.up([s.name for s in specs], on_progress)

    def reset(self, names: Sequence[str]) -> None:
        for spec in self.resolve(names):
            self.store.reset(spec.name, self.clock())
            self._event("reset", spec.name, "respawn counter and failed state cleared", {})

    def kill(self, names: Sequence[str]) -> list[str]:
        """SIGKILL each agent's current run at once: no SIGTERM, no grace (for a hung agent).

        The run is recorded as killed; what follows is the agent's restart policy, as after
        any other kill. Returns one line per agent that had nothing to kill or survived.
        """
        specs = self.resolve(names)
        out: list[str] = []
        with self.store.lock():
            now = self.clock()
            obs, records, table = self.observe(ports_for=set()), self._records(now), self.procs.scan()
            for spec in specs:
                record, agent = records.get(spec.name), obs.agents.get(spec.name)
                run = record.current if record and record.current and record.current.live else None
                pids: set[int] = set()
                if agent is not None and agent.alive:
                    pids |= set(table.tree(agent.pane.pid)) | set(table.group(agent.pane.pid))
                if run is not None:
                    pids |= set(self.procs.find_env("FLEET_RUN", {run.id}).get(run.id, ()))
                pids.discard(os.getpid())
                if not pids and run is None:
                    out.append(f"{spec.name}: not running, nothing to kill")
                    continue
                left = self.procs.kill_now({p: table.procs[p].start_time for p in pids if p in table.procs})
                if run is not None:
                    self.store.end_run(run.id, self.clock(), failure_class=FailureClass.KILLED, stopped_by="kill",
                                       stop_reason="kill: SIGKILL by request")  # fmt: skip
                    self._drop_scripts([run.id])
                data: dict[str, object] = {"run": run.id if run else None, "by": self.actor, "why": "kill"}
                self._event("killed", spec.name, "SIGKILL by request", {**data, "left": sorted(left)})
                if left:
                    out.append(f"{spec.name}: process(es) {sorted(left)} survived SIGKILL")
        return out

    def reconcile(self, dry_run: bool = False, max_seconds: float | None = None) -> tuple[list[Event], list[str], int]:
        """One repair pass for cron; returns (events, failures, exit code)."""
        if dry_run:
            plan, _, _ = self.views()
            return [Event(time=self.clock(), kind="plan", agent=getattr(a, "agent", None), reason=_describe(a))
                    for a in plan.actions], [], planner.exit_code(plan.views)  # fmt: skip
        events: list[Event] = []
        previous = self.on_event
        self.on_event = lambda e: (events.append(e), previous(e))  # type: ignore[func-returns-value]
        failures: list[str] = []
        limit = max_seconds if max_seconds is not None else max(
            (a.start_timeout + a.min_uptime for a in self.spec.agents), default=0) + 5.0  # fmt: skip
        deadline = self.clock() + limit
        try:
            while True:
                with self.store.lock():
                    result = self.tick()
                failures += result.failures
                views = result.plan.views
                starting = any(v.state is AgentState.STARTING for v in views.values())
                if not result.plan.actions and not starting:
                    break
                if self.clock() > deadline:
                    break
                time.sleep(planner.VERIFY_POLL_SECONDS)
        finally:
            self.on_event = previous
        code = 1 if failures else planner.exit_code(views)
        return events, failures, code

    def supervise(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """The long-running loop: tick, then sleep until the next deadline or a wake-up.

        A wait that runs out with nothing to do is followed by a quiet look, not a pass
        (`_quiet`): an idle fleet costs a few stats a minute, not a tmux call and the store.
        """
        waiter = wake.Waiter(self.wake_fifo)
        config_mtime = _mtime(self.spec.path)
        idle_wait = self.idle_wait
        looked = 0  # quiet looks since the last full pass
        idle = False  # the last wait ran out with no wake-up, no deadline and no failed pass before it
        deadline: float | None = None
        try:
            while not should_stop():
                now = self.clock()
                until = now + SUPERVISE_ERROR_PAUSE_SECONDS
                if idle and looked < FULL_PASS_EVERY - 1 and self._quiet():
                    looked += 1
                    until = now + idle_wait
                else:
                    looked, deadline = 0, now  # stays set if the pass fails: no quiet look after a failure
                    try:
                        with self.store.lock():
                            cycle_start = time.monotonic()
                            result = self.tick(supervisor=False)
                            self.store.bump("supervise_cycles")
                            if result.acted:
                                self.store.bump("supervise_busy_cycles")
                            self.store.record_cycle(self.clock(), result.acted, time.monotonic() - cycle_start)
                        now = self.clock()
                        deadline = result.plan.wake_at
                        if result.acted:
                            recheck = now + ACTED_RECHECK_SECONDS
                            deadline = recheck if deadline is None else min(deadline, recheck)
                        until = deadline if deadline is not None else now + idle_wait
                    except Exception as exc:  # one bad tick must not end supervision
                        logger.get(__name__).exception("supervise tick failed")
                        with contextlib.suppress(Exception):
                            self._event("supervise-error", None, f"{type(exc).__name__}: {exc}", {})
                waiter.refresh()
                woke = waiter.wait(min(max(until - now, 0.0), idle_wait))
                idle = not woke and deadline is None
                mtime = _mtime(self.spec.path)
                if mtime != config_mtime:
                    config_mtime = mtime
                    idle = False
                    self._reload()
        finally:
            waiter.close()

    def _reload(self) -> None:
        from fleetctl import spec as spec_module
        from fleetctl.errors import FleetError

        try:
            self.spec = spec_module.load(self.spec.path)
            self._event("config-reloaded", None, str(self.spec.path), {})
        except FleetError as exc:
            self._event("config-error", None, exc.message, {})

    def heartbeat(self, agent: str) -> None:
        self.heartbeat_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.heartbeat_dir / agent).touch()

    def attach_argv(self, name: str, inside_tmux: bool) -> list[str]:
        obs = self.observe()
        if not obs.server_running:
            raise OperationFailed(f"fleet {self.spec.name} is not running (no tmux server on {self.spec.socket_name})")
        agent = obs.agents.get(name)
        if agent is None:
            self.resolve([name])
            raise OperationFailed(f"{name} has no window; start it with `fleetctl up {name}`")
        return self.tmux.attach_argv(agent.pane.window_id, inside_tmux)


def _as_status(view: planner.AgentView, record: AgentRecord | None) -> planner.AgentView:
    """The plan's view says what to do next; status says what is true now."""
    run = record.current if record else None
    if view.state is AgentState.STARTING and (run is None or not run.live):
        if run is None:
            return replace(view, state=AgentState.STOPPED, reason="not started")
        return replace(view, state=AgentState.BACKOFF, reason=f"respawn due; last: {run.stop_reason or 'ended'}",
                       respawns=max(0, view.respawns - 1))  # fmt: skip
    return view


def _describe(action: planner.Action) -> str:
    if isinstance(action, planner.Spawn):
        return f"spawn {action.agent} ({action.reason})" + (" as a respawn" if action.respawn else "")
    if isinstance(action, planner.Kill):
        return f"kill {action.agent}: {action.reason}: {action.detail}"
    if isinstance(action, planner.Verify):
        return f"verify {action.agent}"
    if isinstance(action, planner.GiveUp):
        return f"give up on {action.agent}: {action.reason}"
    if isinstance(action, planner.Adopt):
        return f"adopt {action.agent} (window {action.window_id}, pid {action.pid})"
    if isinstance(action, planner.Remove):
        return f"remove {action.agent} (no longer in the fleet file)"
    return f"mark {action.agent} stalled: {action.detail}"


def _verifiable(records: dict[str, AgentRecord], spec: FleetSpec, now: float) -> set[str]:
    """Agents whose live run waits for verification and has reached min_uptime: the only ones
    whose ports decide anything (looking sooner would only compete with the agent's start)."""
    min_uptime = {a.name: a.min_uptime for a in spec.agents}
    return {n for n, r in records.items() if (run := r.current) is not None and run.live and run.verified is None
            and now - run.started >= min_uptime.get(n, 0.0)}  # fmt: skip


def _earliest(records: dict[str, AgentRecord], agents: Sequence[str]) -> float | None:
    """The earliest start among these agents' latest runs (None: search every process)."""
    starts = [r.current.started for a in agents if (r := records.get(a)) is not None and r.current is not None]
    return min(starts) if starts and len(starts) == len(agents) else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _clock_text(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))
