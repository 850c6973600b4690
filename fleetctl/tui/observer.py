"""Everything the TUI reads, gathered off the UI thread into immutable snapshots.

The Observer runs only inside thread workers. It owns one Fleet (reloaded when the fleet
file changes), turns every failure into text for the screen instead of raising (a broken
config or a dead tmux server is something to show, not a crash), and keeps a bounded tail
of events so a coalesced (replaced) snapshot loses no event.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fleetctl import logview
from fleetctl.errors import FleetError
from fleetctl.model import Event
from fleetctl.record import field, record
from fleetctl.redact import redact
from fleetctl.screentext import ScreenText, render

log = logging.getLogger(__name__)

PANE_LINES = 60  # more than the close-up can show on a tall terminal
CAPTURE_LINES = 80  # more than a fleet pane is tall, so the tail is never just its blank bottom
DEAD_PANE = "Pane is dead"
AGENT_EVENT_LINES = 8
LOG_VIEW_LINES = 1000  # how far back the log view starts
EVENT_BACKLOG = 300
EVENT_LOOKBACK_SECONDS = 24 * 3600.0
OPEN_TASK_STATES = ("queued", "running", "needs-review", "needs-human")
TASK_ROWS_MAX = 300

FleetLoader = Callable[[], Any]
BoardFactory = Callable[[Any], Any]


@record
class TaskRow:
    id: int
    state: str
    pool: str
    priority: int
    title: str
    agent: str


@record
class TaskSummary:
    counts: dict[str, int]
    rows: tuple[TaskRow, ...]
    breakers: dict[str, str] = field(default_factory=dict)

    @property
    def open(self) -> int:
        return sum(self.counts.get(s, 0) for s in OPEN_TASK_STATES)


@record
class Detail:
    """One agent's close-up: its pane (or log) tail and its recent events."""

    name: str
    time: float
    lines: tuple[str, ...]
    source: str
    events: tuple[Event, ...] = ()
    error: str | None = None


@record
class Snapshot:
    time: float
    fleet_name: str = ""
    rows: tuple[Any, ...] = ()
    server_running: bool = True
    events: tuple[Event, ...] = ()
    tasks: TaskSummary | None = None
    error: str | None = None
    detail: Detail | None = None
    notes: tuple[str, ...] = field(default=())
    host: str = ""  # this host, on a store shared by several hosts ("": one machine, no host column)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FleetError):
        return exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}"


class Observer:
    """Reads the fleet for the TUI; every public method is safe to call from any worker."""

    def __init__(
        self, loader: FleetLoader, clock: Callable[[], float] = time.time, task_board: BoardFactory | None = None
    ) -> None:
        self.loader = loader
        self.clock = clock
        self.task_board = task_board
        self._fleet: Any | None = None
        self._mtime: float | None = None
        self._lock = threading.Lock()
        self._events: deque[Event] = deque(maxlen=EVENT_BACKLOG)
        self._last_event_id = 0

    # --- the fleet, reloaded when its file changes --------------------------------

    def _current(self) -> Any:
        if self._fleet is not None:
            mtime = _mtime(self._fleet.spec.path)
            if mtime == self._mtime:
                return self._fleet
            with contextlib.suppress(Exception):
                self._fleet.store.close()
            self._fleet = None
        fleet = self.loader()
        self._fleet, self._mtime = fleet, _mtime(fleet.spec.path)
        return fleet

    # --- one observation ---------------------------------------------------------

    def observe(self, selected: str | None = None) -> Snapshot:
        """status + new events + task counts (+ the selected agent's close-up)."""
        with self._lock:
            now = self.clock()
            try:
                fleet = self._current()
            except Exception as exc:
                log.info("fleet file did not load", extra={"error": str(exc)})
                return Snapshot(time=now, error=f"config: {_describe(exc)}", server_running=False)
            name = fleet.spec.name
            try:
                rows = _rows(fleet)
                running = any(r.window for r in rows) or fleet.tmux.panes() is not None
            except Exception as exc:
                log.info("observation failed", extra={"error": str(exc)})
                return Snapshot(
                    time=now,
                    fleet_name=name,
                    error=f"observe: {_describe(exc)}",
                    server_running=False,
                    events=tuple(self._events),
                )
            notes: list[str] = []
            try:
                self._read_events(fleet, now)
            except Exception as exc:
                notes.append(f"events: {_describe(exc)}")
            tasks = None
            try:
                tasks = self._tasks(fleet)
            except Exception as exc:
                notes.append(f"tasks: {_describe(exc)}")
            detail = self._detail(fleet, selected, rows, now) if selected else None
            return Snapshot(
                time=now,
                fleet_name=name,
                rows=rows,
                server_running=running,
                events=tuple(self._events),
                tasks=tasks,
                detail=detail,
                notes=tuple(notes),
                host=_shared_host(fleet),
            )

    def detail(self, selected: str, rows: Sequence[Any]) -> Detail | None:
        """The close-up alone, for a selection change between observations."""
        with self._lock:
            if self._fleet is None:
                return None
            return self._detail(self._fleet, selected, tuple(rows), self.clock())

    def follow_output(self, name: str, should_stop: Callable[[], bool]) -> Iterator[tuple[str, ...]]:
        """The agent's output as its screen showed it, again each time it grows (the log view).

        Starts LOG_VIEW_LINES back and follows the log across rotations and new runs until
        should_stop() is true. Meant for a thread worker of its own: it waits for output.
        """
        with self._lock:
            fleet = self._current()
            directory, secrets = fleet.logs_dir / name, fleet.secrets
        screen = ScreenText()
        yield ()
        for chunk in logview.follow(directory, LOG_VIEW_LINES, should_stop):
            screen.feed(chunk)
            yield tuple(redact(line, secrets) for line in screen.lines())

    def _read_events(self, fleet: Any, now: float) -> None:
        if not fleet.store.exists():
            return
        if self._last_event_id == 0:
            new = fleet.store.events(since=now - EVENT_LOOKBACK_SECONDS)[-EVENT_BACKLOG:]
        else:
            new = fleet.store.events(after_id=self._last_event_id)
        self._events.extend(new)
        if new:
            self._last_event_id = new[-1].id

    def _tasks(self, fleet: Any) -> TaskSummary | None:
        if self.task_board is None:
            return None
        board = self.task_board(fleet)
        counts = {str(k): int(v) for k, v in board.counts().items()}
        rows: list[TaskRow] = []
        for state in OPEN_TASK_STATES:
            if not counts.get(state):
                continue
            for task in board.list(state=state)[:TASK_ROWS_MAX]:
                rows.append(_task_row(task))
        breakers = {name: _breaker_text(b) for name, b in board.breakers().items()}
        return TaskSummary(counts=counts, rows=tuple(rows[:TASK_ROWS_MAX]), breakers=breakers)

    def _detail(self, fleet: Any, name: str, rows: tuple[Any, ...], now: float) -> Detail:
        row = next((r for r in rows if r.name == name), None)
        lines: list[str] = []
        source, error = "", None
        try:
            if row is not None and row.window:
                lines, source = pane_tail(fleet.tmux.capture(row.window, CAPTURE_LINES)), "pane"
            dead = [line for line in lines if line.startswith(DEAD_PANE)]
            if dead:
                # tmux reports the status of the window's wrapper, not the agent's: say what was recorded.
                last_exit = getattr(row, "last_exit", None)
                # The blank rows between the output and tmux's line would push the output out of view.
                lines = pane_tail("\n".join(line for line in lines if not line.startswith(DEAD_PANE)))
                dead = [f"{DEAD_PANE} (last exit {last_exit})" if last_exit else DEAD_PANE]
            if not any(line.strip() for line in lines):
                lines = log_tail(fleet.logs_dir / name, PANE_LINES)
                source = "log" if lines else ""
            lines = [redact(line, fleet.secrets) for line in lines] + dead
        except Exception as exc:
            error = f"output: {_describe(exc)}"
        events: list[Event] = []
        try:
            if fleet.store.exists():
                events = fleet.store.events(since=now - EVENT_LOOKBACK_SECONDS, agent=name)[-AGENT_EVENT_LINES:]
        except Exception as exc:
            error = f"events: {_describe(exc)}"
        return Detail(name=name, time=now, lines=tuple(lines), source=source, events=tuple(events), error=error)


def _rows(fleet: Any) -> tuple[Any, ...]:
    """The agents' rows, then a row per running task window (`pool.id`), from one observation."""
    from fleetctl.runtime.context import Runtime

    if not isinstance(fleet, Runtime):
        return tuple(fleet.status())
    from fleetctl.runtime.status import status_and_tasks, window_row

    agents, windows = status_and_tasks(fleet)
    if not fleet.spec.store:
        return (*agents, *(window_row(w) for w in windows))
    from fleetctl.runtime.status_all import other_rows
    from fleetctl.tui.hostrows import host_rows

    return (*agents, *(window_row(w) for w in windows), *host_rows(other_rows(fleet)))


def _shared_host(fleet: Any) -> str:
    """This host's name when the fleet's store is shared by several hosts, else ""."""
    spec = fleet.spec
    return str(getattr(spec, "host", "") or "") if getattr(spec, "store", None) else ""


def log_tail(directory: Any, lines: int) -> list[str]:
    """The last lines of an agent's logs as its screen showed them (no control sequences)."""
    shown = render(logview.tail(directory, lines))
    return [line for line in shown if line.strip()][-lines:]


def pane_tail(text: str, lines: int = PANE_LINES) -> list[str]:
    """The last non-blank stretch of a captured pane."""
    out = [line.rstrip() for line in text.splitlines()]
    while out and not out[-1]:
        out.pop()
    return out[-lines:]


def _breaker_text(breaker: Any) -> str:
    state = getattr(breaker, "state", "")
    text = str(getattr(state, "value", state))
    reason = getattr(breaker, "reason", "")
    return f"{text} ({reason})" if reason and text != "closed" else text


def _task_row(task: Any) -> TaskRow:
    state = getattr(task, "state", "")
    return TaskRow(
        id=int(getattr(task, "id", 0)),
        state=str(getattr(state, "value", state)),
        pool=str(getattr(task, "pool", None) or "-"),
        priority=int(getattr(task, "priority", 0) or 0),
        title=str(getattr(task, "title", "")),
        agent=str(getattr(task, "agent", None) or getattr(task, "claimed_by", None) or "-"),
    )


def _mtime(path: Any) -> float | None:
    try:
        return float(path.stat().st_mtime)
    except (OSError, AttributeError):
        return None
