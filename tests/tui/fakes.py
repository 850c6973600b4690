"""A fake fleet for deterministic TUI tests and the bench: fixed rows, events and pane text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fleetctl.fleet import AgentStatus
from fleetctl.model import AgentState, Event
from fleetctl.record import replace

FIXED_NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


@dataclass
class FakeSpec:
    name: str = "demo"
    path: Path = Path("/nonexistent/fleet.toml")


@dataclass
class FakeStore:
    events_list: list[Event] = field(default_factory=list)
    path: Path = Path("/")  # exists

    def exists(self) -> bool:
        return True

    def events(
        self, since: float = 0.0, agent: str | None = None, after_id: int = 0, limit: int = 100_000
    ) -> list[Event]:
        out = [e for e in self.events_list if e.time >= since and e.id > after_id and (not agent or e.agent == agent)]
        return out[:limit]

    def close(self) -> None:
        pass


@dataclass
class FakeTmux:
    panes_text: dict[str, str] = field(default_factory=dict)
    running: bool = True
    calls: int = 0

    def capture(self, pane_id: str, lines: int = 20) -> str:
        self.calls += 1
        return "\n".join(self.panes_text.get(pane_id, "").splitlines()[-lines:])

    def panes(self) -> list[object] | None:
        return [] if self.running else None

    def socket_path(self) -> str:
        return "/nonexistent/socket"


class FakeFleet:
    """Looks like fleetctl.fleet.Fleet to the TUI's observer; actions are recorded."""

    def __init__(
        self, rows: Sequence[AgentStatus], events: Sequence[Event] = (), panes: dict[str, str] | None = None
    ) -> None:
        self.spec = FakeSpec()
        self.rows = list(rows)
        self.store = FakeStore(list(events))
        self.tmux = FakeTmux(dict(panes or {}))
        self.logs_dir = Path("/nonexistent/logs")  # <logs_dir>/<agent>/<run>.log, as Fleet keeps them
        self.secrets: tuple[str, ...] = ()  # masked in what the TUI shows
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def status(self, names: Sequence[str] = ()) -> list[AgentStatus]:
        return list(self.rows)

    def output_tail(self, agent: str, run_id: str | None = None, lines: int = 5) -> str:
        return ""

    def restart(self, names: Sequence[str], on_progress: object = None) -> list[str]:
        self.calls.append(("restart", tuple(names)))
        return []

    def up(self, names: Sequence[str] = (), on_progress: object = None) -> list[str]:
        self.calls.append(("up", tuple(names)))
        return []

    def down(self, names: Sequence[str] = ()) -> list[str]:
        self.calls.append(("down", tuple(names)))
        return []

    def kill(self, names: Sequence[str]) -> list[str]:
        self.calls.append(("kill", tuple(names)))
        return []

    def reset(self, names: Sequence[str]) -> None:
        self.calls.append(("reset", tuple(names)))


def status(name: str, state: AgentState = AgentState.RUNNING, **kw: object) -> AgentStatus:
    running = state in (AgentState.RUNNING, AgentState.STALLED)
    base = AgentStatus(
        name=name,
        state=state,
        pid=4000 + len(name) if running else None,
        port=None,
        window="@1" if running else None,
        uptime_s=125.0 if running else None,
        respawns=0,
        max_respawns=5,
        last_exit=None,
        last_output_s=3.0 if running else None,
        reason="",
        next_retry_s=None,
        failure_class=None,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def demo_rows() -> list[AgentStatus]:
    """One agent in each interesting state."""
    return [
        status("api", port=8001, pid=4101, window="@1", task=17),
        status("web", port=8002, pid=4102, window="@2", uptime_s=7380.0, respawns=1),
        status(
            "indexer",
            AgentState.STALLED,
            pid=4103,
            window="@3",
            last_output_s=912.0,
            reason="stalled: no output for 15m (idle_timeout 15m)",
        ),
        status(
            "worker-1",
            AgentState.BACKOFF,
            respawns=2,
            next_retry_s=8.0,
            last_exit="code 1",
            failure_class="crashed",
            reason="exited with code 1",
        ),
        status(
            "worker-2",
            AgentState.FAILED,
            port=8005,
            respawns=5,
            last_exit="code 1",
            failure_class="crashed",
            reason="port 8005 not listening after 10s (run `fleetctl reset worker-2` once fixed)",
        ),
        status("mailer", AgentState.STARTING, port=8006, reason="waiting for port 8006"),
        status(
            "reviewer",
            AgentState.PARKED,
            respawns=1,
            next_retry_s=840.0,
            failure_class="limited",
            reason="parked: usage limit reached, resets at 22:27",
        ),
        status("batch", AgentState.STOPPED, reason="not started"),
    ]


def demo_events() -> list[Event]:
    t = FIXED_NOW - 300
    rows = [
        ("spawned", "api", "up"),
        ("verified", "api", "window, pid, port and min_uptime verified"),
        ("spawned", "worker-2", "up"),
        ("start-failed", "worker-2", "port 8005 not listening after 10s"),
        ("gave-up", "worker-2", "gave up after 5 respawns in 10m"),
        ("exited", "worker-1", "exited with code 1"),
        ("backoff", "worker-1", "next retry in 8.0s"),
        ("stalled", "indexer", "no output for 15m"),
        (
            "alert",
            "indexer",
            "said \x1b[31mERROR\x1b[0m: disk full on /var/lib/indexer while writing segment 42, "
            "retrying in 30s with a smaller batch",
        ),
    ]
    return [Event(time=t + 30 * i, kind=k, agent=a, reason=r, id=i + 1) for i, (k, a, r) in enumerate(rows)]


def demo_fleet() -> FakeFleet:
    requests = [f"GET /api/items?page={n} 200 ({3 + n % 7} ms)" for n in range(1, 31)]
    panes = {"@1": "\n".join(["listening on 127.0.0.1:8001", *requests])}
    return FakeFleet(demo_rows(), demo_events(), panes)


@dataclass
class FakeBoard:
    """Looks like fleetctl.tasks.TaskBoard to the observer."""

    tasks: list[object] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for task in self.tasks:
            state = task.state.value  # type: ignore[attr-defined]
            out[state] = out.get(state, 0) + 1
        return out

    def list(self, state: str | None = None, pool: str | None = None) -> list[object]:
        return [t for t in self.tasks if state is None or t.state.value == state]  # type: ignore[attr-defined]

    def breakers(self) -> dict[str, object]:
        from fleetctl.model import Breaker, BreakerState

        return {"review": Breaker("review"), "build": Breaker("build", BreakerState.OPEN, reason="3 x auth")}


def demo_board() -> FakeBoard:
    from fleetctl.model import Task, TaskState

    return FakeBoard(
        [
            Task(17, "Fix flaky login test", pool="build", state=TaskState.RUNNING, agent="api"),
            Task(18, "Bump dependencies \x1b[2J\rnow", pool="build", priority=3),
            Task(19, "Review PR 42", pool="review", state=TaskState.NEEDS_REVIEW),
            Task(20, "Rotate expired token", state=TaskState.NEEDS_HUMAN, priority=0),
            Task(21, "Old work", state=TaskState.DONE),
        ]
    )
