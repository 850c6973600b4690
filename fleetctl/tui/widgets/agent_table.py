"""The agents table: updated cell by cell, so a refresh of 200 agents stays cheap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from fleetctl.model import AgentState
from fleetctl.tui.format import breaker_text, cell, duration, state_text

# (key, label, width)
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("name", "NAME", 12),
    ("state", "STATE", 9),
    ("pid", "PID", 7),
    ("port", "PORT", 5),
    ("uptime", "UP", 6),
    ("respawns", "RESP", 5),
    ("output", "OUT", 6),
    ("breaker", "BREAKER", 8),
    ("task", "TASK", 5),
)
COLUMN_KEYS = tuple(key for key, _, _ in COLUMNS)
SEVERITY = {
    AgentState.FAILED: 0,
    AgentState.STALLED: 1,
    AgentState.BACKOFF: 2,
    AgentState.PARKED: 3,
    AgentState.STARTING: 4,
    AgentState.RUNNING: 5,
    AgentState.COMPLETED: 6,
    AgentState.STOPPED: 7,
}
_BIG = float("inf")
SORTS: dict[str, Callable[[Any], Any]] = {
    "name": lambda r: r.name,
    "state": lambda r: (SEVERITY.get(r.state, 9), r.name),
    "uptime": lambda r: (-(r.uptime_s if r.uptime_s is not None else -1), r.name),
    "respawns": lambda r: (-r.respawns, r.name),
    "output": lambda r: (-(r.last_output_s if r.last_output_s is not None else -1), r.name),
}


def row_cells(row: Any) -> tuple[object, ...]:
    """One agent's cells; compared with the previous ones to update only what changed."""
    return (
        row.name,
        state_text(row.state),
        cell(row.pid),
        cell(row.port),
        duration(row.uptime_s),
        Text(f"{row.respawns}/{row.max_respawns}", style="red" if row.respawns >= row.max_respawns else ""),
        duration(row.last_output_s),
        breaker_text(row.state, row.next_retry_s, getattr(row, "breaker", None)),
        cell(f"#{row.task}" if row.task is not None else None),
    )


def matches(row: Any, needle: str) -> bool:
    if not needle:
        return True
    hay = f"{row.name} {row.state.value} {row.reason} {row.task or ''}".lower()
    return all(part in hay for part in needle.lower().split())


class AgentTable(DataTable[object]):
    """Rows keyed by agent name; `apply()` adds, removes and updates rows in place."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.filter_text = ""
        self.sort_key = "name"
        self.rows_by_name: dict[str, Any] = {}
        self._cells: dict[str, tuple[object, ...]] = {}
        self._order: list[str] = []

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, width=width, key=key)

    @property
    def selected(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def apply(self, rows: Sequence[Any]) -> None:
        """Show these rows under the current filter and sort, keeping the cursor on its agent."""
        keep = self.selected
        self.rows_by_name = {r.name: r for r in rows}
        visible = [r for r in rows if matches(r, self.filter_text)]
        wanted = {r.name for r in visible}
        for gone in [name for name in self._cells if name not in wanted]:
            self.remove_row(gone)
            del self._cells[gone]
        for row in visible:
            cells = row_cells(row)
            old = self._cells.get(row.name)
            if old is None:
                self.add_row(*cells, key=row.name)
            elif old != cells:
                for key, new, prev in zip(COLUMN_KEYS, cells, old, strict=True):
                    if new != prev:
                        self.update_cell(row.name, key, new)
            self._cells[row.name] = cells
        self._resort(keep)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.apply(list(self.rows_by_name.values()))

    def cycle_sort(self) -> str:
        keys = list(SORTS)
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self._order = []
        self._resort(self.selected)
        return self.sort_key

    def _resort(self, keep: str | None) -> None:
        key = SORTS[self.sort_key]
        order = sorted(self._cells, key=lambda name: key(self.rows_by_name[name]))
        for column_key, label, _ in COLUMNS:
            column = self.columns.get(column_key)  # type: ignore[call-overload]
            if column is not None:
                wanted = f"{label}▼" if column_key == self.sort_key else label
                if column.label.plain != wanted:
                    column.label = Text(wanted)
        if order != self._order:
            self._order = order
            rank = {name: i for i, name in enumerate(order)}
            self.sort("name", key=lambda name: rank[str(name)])
        if keep is not None and keep in self._cells and self.selected != keep:
            self.move_cursor(row=self.get_row_index(keep), animate=False)
