"""The main screen: header, agents table with the close-up, tasks and events views.

It applies snapshots that workers post (attributes down) and turns key presses into
requests (messages up) that the app runs in its workers; it never imports the app.
Destructive actions (stop, kill, reset-and-start) ask for confirmation first.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Input, Static

from fleetctl.model import AgentState
from fleetctl.tui.format import printable
from fleetctl.tui.messages import (
    ActionRequested,
    AttachRequested,
    DetailReady,
    DetailWanted,
    LogRequested,
    SnapshotReady,
)
from fleetctl.tui.observer import Snapshot
from fleetctl.tui.screens.dialogs import ConfirmScreen, PromptScreen
from fleetctl.tui.widgets.agent_detail import AgentDetail
from fleetctl.tui.widgets.agent_table import AgentTable
from fleetctl.tui.widgets.key_bar import KeyBar
from fleetctl.tui.widgets.status_bar import StatusBar
from fleetctl.tui.widgets.views import EventLog, TaskPanel

VIEWS = ("agents", "tasks", "events")

# (key, action, footer label, palette title, palette help)
ACTIONS: tuple[tuple[str, str, str, str, str], ...] = (
    ("l", "log", "log", "Show log", "The agent's output as its screen showed it, following new output"),
    ("r", "restart", "restart", "Restart agent", "Restart the agent; a failed one is reset and started (asks)"),
    ("d", "stop", "stop", "Stop agent", "Stop the selected agent and all it started (asks first)"),
    ("u", "start", "start", "Start agent", "Start the selected agent and verify it (fleetctl up)"),
    ("k", "kill", "kill", "Kill agent", "SIGKILL the selected agent's run at once (asks first)"),
    ("z", "reset", "reset", "Reset agent", "Clear the respawn counter and breaker (fleetctl reset)"),
    ("a", "attach", "attach", "Attach", "Open the agent's tmux window; detach (C-b d) to come back"),
    ("m", "message", "msg", "Send message", "Put a message in the agent's inbox"),
    ("w", "wake", "wake", "Wake agent", "Send a message and type it into the agent's pane"),
    ("y", "answer", "answer", "Answer question", "Answer the agent's question: yes, no (its kind's keys) or text"),
    ("t", "add_task", "task", "Add task", "Queue a new task on the board"),
    ("slash", "filter", "filter", "Filter agents", "Show only agents matching the text"),
    ("o", "sort", "sort", "Sort agents", "Cycle the sort: name, state, uptime, respawns, output"),
)


class FleetScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *[Binding(key, action, label) for key, action, label, _, _ in ACTIONS],
        Binding("1", "view('agents')", "agents", show=False),
        Binding("2", "view('tasks')", "tasks", show=False),
        Binding("3", "view('events')", "events", show=False),
        Binding("escape", "clear_filter", "clear filter", show=False),
        Binding("h", "host", "host", show=False),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, clock: Callable[[], float] = time.time, refresh_s: float = 1.0) -> None:
        super().__init__()
        self.clock = clock
        self.refresh_s = refresh_s
        self.snapshot: Snapshot | None = None
        self.good: Snapshot | None = None
        self.apply_times: deque[float] = deque(maxlen=10_000)  # seconds per snapshot applied (the bench)

    @property
    def detail_agent(self) -> str | None:
        """The agent whose close-up is shown (None before the screen is composed)."""
        found = self.query(AgentDetail)
        return found.first().agent if found else None

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Static("", id="banner")
        yield Input(placeholder="filter: name, state, reason (Enter keeps it, Esc clears)", id="filter")
        with ContentSwitcher(initial="agents", id="views"):
            with Vertical(id="agents"):
                yield AgentTable(id="agent-table")
                yield AgentDetail(id="detail")
            yield TaskPanel(id="tasks")
            yield EventLog(id="events")
        keys = [(b.key, b.description) for b in self.BINDINGS if isinstance(b, Binding) and b.show]
        yield KeyBar([*keys, ("1", "2 3 views"), ("ctrl+p", "palette")], id="keys")

    def on_mount(self) -> None:
        self.query_one("#banner").display = False
        self.query_one("#filter").display = False
        self.query_one(AgentTable).focus()

    # --- data in (attributes down) ------------------------------------------------

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        started = time.perf_counter()
        self.apply_snapshot(message.snapshot)
        self.apply_times.append(time.perf_counter() - started)

    def apply_snapshot(self, snap: Snapshot) -> None:
        self.snapshot = snap
        if snap.error is None:
            self.good = snap
        shown = self.good or snap
        self._banner(snap)
        table = self.query_one(AgentTable)
        if snap.error is None:
            table.set_here(snap.host)
            table.apply(snap.rows)
        self.query_one(EventLog).add(snap.events)
        self.query_one(TaskPanel).show(shown.tasks)
        detail = self.query_one(AgentDetail)
        selected = table.selected
        detail.show_row(table.rows_by_name.get(selected) if selected else None)
        if snap.detail is not None:
            detail.show_detail(snap.detail)
        if selected and (snap.detail is None or snap.detail.name != selected):
            self.post_message(DetailWanted(selected, snap.rows))
        self.query_one(StatusBar).show(shown, self.clock(), self._view_label())

    def on_detail_ready(self, message: DetailReady) -> None:
        self.query_one(AgentDetail).show_detail(message.detail)

    def tick(self) -> None:
        """Re-age the header once a second, so a hung observation shows as STALE."""
        for bar in self.query(StatusBar):  # none while the screen is being torn down
            bar.tick(self.clock())

    def _banner(self, snap: Snapshot) -> None:
        banner = self.query_one("#banner", Static)
        lines: list[str] = []
        if snap.error:
            lines.append(f"{snap.error} (retrying every {self.refresh_s:g}s)")
        elif not snap.server_running:
            lines.append(f"tmux server of {snap.fleet_name} is not running: the fleet is down (u starts an agent)")
        lines += list(snap.notes)
        text = "\n".join(lines)
        if text != getattr(banner, "_fleet_shown", None):
            banner._fleet_shown = text  # type: ignore[attr-defined]
            banner.display = bool(lines)
            banner.update(Text(text))

    def _view_label(self) -> str:
        current = self.query_one(ContentSwitcher).current or "agents"
        if current == "agents":
            only = self.query_one(AgentTable).host_filter
            return f"host {only}" if only else ""
        return current

    def action_host(self) -> None:
        """Show one host's agents at a time (a fleet on a shared store), then all again."""
        self.action_view("agents")
        table = self.query_one(AgentTable)
        if not table.here:
            self.notify("this fleet runs on one host: its store is not shared", title="host", timeout=3)
            return
        only = table.cycle_host()
        self._refresh_header()
        self.notify(f"agents of host {only}" if only else "agents of every host", title="host", timeout=2)

    def on_agent_table_highlighted(self, event: AgentTable.Highlighted) -> None:
        table = self.query_one(AgentTable)
        name = event.name
        detail = self.query_one(AgentDetail)
        if name != detail.agent:
            detail.show_row(table.rows_by_name.get(name) if name else None)
            if name:
                self.post_message(DetailWanted(name, list(table.rows_by_name.values())))

    # --- filter, sort, views ------------------------------------------------------

    def action_filter(self) -> None:
        self.action_view("agents")
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.query_one(AgentTable).set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.display = bool(event.value)
            self.query_one(AgentTable).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        table = self.query_one(AgentTable)
        table.set_filter("")
        table.focus()

    def action_sort(self) -> None:
        key = self.query_one(AgentTable).cycle_sort()
        self.notify(f"agents sorted by {key}", title="sort", timeout=2)

    def action_view(self, name: str) -> None:
        self.query_one(ContentSwitcher).current = name
        target = {"agents": "#agent-table", "tasks": "#task-table", "events": "#events"}[name]
        self.query_one(target).focus()
        self._refresh_header()

    def _refresh_header(self) -> None:
        bar = self.query_one(StatusBar)
        if bar.snapshot is not None:
            bar.show(bar.snapshot, self.clock(), self._view_label())

    # --- actions (each runs in a worker; results arrive as notifications) ---------

    def _selected(self) -> Any | None:
        table = self.query_one(AgentTable)
        name = table.selected
        if name is None:
            self.notify("no agent selected", severity="warning")
            return None
        return table.rows_by_name.get(name)

    def _request(self, action: str, agent: str, **kwargs: str) -> None:
        self.post_message(ActionRequested(action, agent, **kwargs))

    def _confirm(self, question: str, action: str, row: Any, declined: str) -> None:
        """Ask first; run the action on `y`, say that nothing happened otherwise."""

        def answered(yes: bool | None) -> None:
            if yes:
                self._request(action, row.name)
            else:
                self.notify(declined, title=action, severity="information", markup=False)

        self.app.push_screen(ConfirmScreen(question), answered)

    def action_log(self) -> None:
        if row := self._selected():
            self.post_message(LogRequested(row.name))

    def action_restart(self) -> None:
        row = self._selected()
        if row is None:
            return
        if row.state is not AgentState.FAILED:
            self._request("restart", row.name)
            return
        # A failed agent stays failed until reset: restarting it means resetting it first.
        name = printable(row.name)
        reason = printable(row.reason) or "it gave up"
        question = f"{name} has failed: {reason}\n\nReset its respawn counter and start it again?"
        self._confirm(question, "reset-start", row, f"{name} was left failed")

    def action_stop(self) -> None:
        if row := self._selected():
            name = printable(row.name)
            pid = f"pid {row.pid}" if row.pid else "no live pid"
            question = f"Stop {name} ({pid}) and everything it started? It stays stopped until started (u)."
            self._confirm(question, "stop", row, f"{name} was not stopped")

    def action_start(self) -> None:
        if row := self._selected():
            self._request("start", row.name)

    def action_reset(self) -> None:
        if row := self._selected():
            self._request("reset", row.name)

    def action_kill(self) -> None:
        if row := self._selected():
            name = printable(row.name)
            pid = f"pid {row.pid}" if row.pid else "no live pid"
            question = f"Kill {name} ({pid}) and everything it started with SIGKILL now?"
            self._confirm(question, "kill", row, f"{name} was not killed")

    def action_attach(self) -> None:
        if row := self._selected():
            self.post_message(AttachRequested(row.name))

    def action_message(self) -> None:
        self._prompt_message(wake=False)

    def action_wake(self) -> None:
        self._prompt_message(wake=True)

    def _prompt_message(self, wake: bool) -> None:
        verb = "wake" if wake else "message"
        row = self._selected()
        if row is None:
            return
        name = printable(row.name)
        title = f"Wake {name} with (typed into its pane):" if wake else f"Message to {name}:"

        def send(text: str | None) -> None:
            if text:
                self._request(verb, row.name, text=text)

        self.app.push_screen(PromptScreen(title, "text"), send)

    def action_answer(self) -> None:
        """Answer what the agent asks (`fleetctl answer`): yes, no, or a text typed and submitted."""
        row = self._selected()
        if row is None:
            return
        name = printable(row.name)
        if row.activity == "asking" and row.activity_detail:
            title = f"{name} asks: {printable(row.activity_detail)}\nAnswer (yes, no or text):"
        else:
            title = f"Answer {name} ({printable(row.activity)}): yes, no or text:"

        def reply(text: str | None) -> None:
            if text:
                self._request("answer", row.name, reply=text)

        self.app.push_screen(PromptScreen(title, "yes | no | text"), reply)

    def action_add_task(self) -> None:
        def add(title: str | None) -> None:
            if title:
                self._request("add-task", "", title=title)

        self.app.push_screen(PromptScreen("New task (title):", "what should an agent do?"), add)
