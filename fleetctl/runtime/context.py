"""The state one fleet's runtime shares: its spec, gateways, store, clock, paths and what
the last observation saw. Every runtime module works on a Runtime; Fleet is one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fleetctl import wake
from fleetctl.clock import Clock, SystemClock
from fleetctl.errors import UsageError
from fleetctl.model import AgentRecord, AgentSpec, Event, FleetSpec
from fleetctl.procs import ProcTable
from fleetctl.record import field, record
from fleetctl.redact import secret_values

if TYPE_CHECKING:
    from fleetctl.runtime.gateways import Processes, Tmux
    from fleetctl.store import StateStore

EventSink = Callable[[Event], None]
# What an idle fleet's quiet look checks, per live run: (run id, pane pid, its start time, log, log_max_size)
WatchList = list[tuple[str, int, float]]


@record(frozen=False)
class Seen:
    """What the last observation found, kept for the acts of the same pass."""

    scanned_at: float = -1e9  # monotonic time of the last full /proc scan
    scan: ProcTable = field(default_factory=ProcTable)  # that scan
    panes: ProcTable = field(default_factory=ProcTable)  # the processes the last observation read (none: tmux's answer)
    server: int | None = None  # the tmux server's pid: the parent of the live panes
    watch: WatchList | None = None  # for the quiet look; None: the next wait ends in a full pass


def _ignore(_event: Event) -> None:
    return None


class Runtime:
    """One fleet: its spec, its tmux server, its processes, its store and its clock."""

    def __init__(
        self,
        spec: FleetSpec,
        *,
        tmux: Tmux | None = None,
        procs: Processes | None = None,
        store: StateStore | None = None,
        clock: Clock | None = None,
        on_event: EventSink | None = None,
        actor: str = "cli",
    ) -> None:
        if tmux is None:
            from fleetctl.tmux import TmuxGateway

            tmux = TmuxGateway(spec.socket_name, spec.name)
        if procs is None:
            from fleetctl.procs import ProcessGateway

            procs = ProcessGateway()
        self.spec = spec
        self.tmux: Tmux = tmux
        self.procs: Processes = procs
        self._store = store
        self.clock: Clock = clock or SystemClock()
        self.on_event: EventSink = on_event or _ignore
        self.actor = actor
        self.seen = Seen()
        self.secrets = secret_values(spec)  # masked in everything captured (fleetctl.redact)

    def now(self) -> float:
        """Wall-clock time, from this fleet's clock."""
        return self.clock.time()

    @property
    def store(self) -> StateStore:
        """Opened on first use: a read-only view imports the store (and sqlite3) while its
        `list-panes` runs, instead of before it."""
        if self._store is None:
            from fleetctl.store import StateStore

            self._store = StateStore(self.spec.state_dir, self.spec.store, self.spec.host)
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

    @property
    def worktrees_dir(self) -> Path:
        return self.spec.state_dir / "worktrees"

    def worktree_path(self, pool: str, task_id: int) -> Path:
        """A pool task's own git worktree."""
        return self.worktrees_dir / pool / str(task_id)

    def task_file(self, task_id: int) -> Path:
        """The JSON file a pool task's agent is given."""
        return self.spec.state_dir / "tasks" / f"{task_id}.json"

    def log_path(self, agent: str, run_id: str) -> Path:
        return self.logs_dir / agent / f"{run_id}.log"

    # --- the spec and the store ---------------------------------------------------

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

    def records(self, now: float) -> dict[str, AgentRecord]:
        """Every agent's record, with the runs inside the longest respawn window."""
        window = max((a.respawn_window for a in self.spec.agents), default=600.0)
        return self.store.records(since=now - window)
