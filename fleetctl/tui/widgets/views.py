"""The events view (follows new events) and the tasks view (counts and open rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from fleetctl.tui.format import printable
from fleetctl.tui.observer import OPEN_TASK_STATES, TaskRow, TaskSummary
from fleetctl.tui.widgets.agent_detail import event_text
from fleetctl.tui.widgets.line_view import LineView

EVENT_LOG_LINES = 2000


class EventLog(LineView):
    """Appends events it has not shown yet (by id), so repeated tails are harmless.

    One line per event: time, agent, kind, then the reason, cut with `…` at the view's width.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truncate=True, max_lines=EVENT_LOG_LINES, **kwargs)
        self.last_id = 0

    def add(self, events: Sequence[Any]) -> None:
        new = [event for event in events if event.id > self.last_id]
        if new:
            self.last_id = max(event.id for event in new)
            self.append([event_text(event, with_agent=True) for event in new])


class TaskPanel(Vertical):
    """Counts by state, then one row per open task; redrawn only when something changed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rows: tuple[TaskRow, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static("tasks: waiting for the first observation", id="task-counts")
        table: DataTable[object] = DataTable(cursor_type="row", id="task-table")
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#task-table", DataTable)
        for label, width in (("ID", 6), ("STATE", 12), ("POOL", 10), ("PRI", 3), ("AGENT", 12), ("TITLE", 40)):
            table.add_column(label, width=width, key=label.lower())

    def show(self, summary: TaskSummary | None) -> None:
        counts = self.query_one("#task-counts", Static)
        if summary is None:
            return  # not read yet, or reading failed (the banner says why)
        text = Text()
        for state in OPEN_TASK_STATES:
            n = summary.counts.get(state, 0)
            style = "bold red" if state == "needs-human" and n else ("bold" if n else "dim")
            text.append(f"{state} ", style="dim")
            text.append(f"{n}   ", style=style)
        others = {k: v for k, v in summary.counts.items() if k not in OPEN_TASK_STATES}
        if others:
            text.append("  ".join(f"{k} {v}" for k, v in sorted(others.items())), style="dim")
        for pool, state in sorted(summary.breakers.items()):
            text.append(f"  breaker {printable(pool)}: ", style="dim")
            text.append(printable(state), style="bold red" if state.startswith("open") else "")
        counts.update(text)
        if summary.rows == self._rows:
            return
        self._rows = summary.rows
        table = self.query_one("#task-table", DataTable)
        table.clear()
        for row in summary.rows:
            style = "bold red" if row.state == "needs-human" else ("yellow" if row.state == "needs-review" else "")
            table.add_row(
                f"#{row.id}",
                Text(row.state, style=style),
                Text(printable(row.pool)),
                str(row.priority),
                Text(printable(row.agent)),
                Text(printable(row.title)),  # a Text: a title is never read as markup
                key=str(row.id),
            )
