"""The agents table: one cached line per agent, so a refresh of 200 agents stays cheap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from fleetctl.model import AgentState
from fleetctl.tui.format import cell, duration, next_text, state_text
from fleetctl.tui.hostrows import hosts_in, row_host

# (key, label, width): each column says one thing; 79 columns in all, so it fits 80.
# Breakers belong to pools (the tasks view), not to agents.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("name", "NAME", 12),
    ("state", "STATE", 9),
    ("activity", "ACTIVITY", 8),
    ("pid", "PID", 7),
    ("uptime", "UP", 6),
    ("respawns", "RESP", 5),
    ("output", "OUT", 6),
    ("next", "NEXT", 11),
    ("task", "TASK", 5),
)
COLUMN_KEYS = tuple(key for key, _, _ in COLUMNS)
# On a store shared by several hosts: the host that runs the agent first, and a STATE wide
# enough for `unreachable` (a host that stopped reporting).
HOST_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("host", "HOST", 8),
    *((key, label, 11 if key == "state" else width) for key, label, width in COLUMNS),
)
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
        cell(row.name),
        state_text(row.state),
        cell(getattr(row, "activity", None)),  # what the agent is doing, as the supervision pass last read it
        cell(row.pid),
        duration(row.uptime_s),
        Text(f"{row.respawns}/{row.max_respawns}", style="red" if row.respawns >= row.max_respawns else ""),
        duration(row.last_output_s),
        next_text(row.state, row.next_retry_s),
        cell(f"#{row.task}" if row.task is not None else None),
    )


def matches(row: Any, needle: str) -> bool:
    if not needle:
        return True
    hay = f"{row.name} {row.state.value} {row.reason} {row.task or ''} {getattr(row, 'host', '')}".lower()
    return all(part in hay for part in needle.lower().split())


class AgentTable(ScrollView, can_focus=True):
    """A lean table: one cached Strip per agent row, rebuilt only when that row's cells change.

    Textual's DataTable re-renders every visible cell after any update (about 25 ms for a
    screenful here); this keeps a refresh of 200 agents to the rows that actually changed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "cursor(-100000)", "first", show=False),
        Binding("end", "cursor(100000)", "last", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"agent-table--header", "agent-table--cursor"}
    DEFAULT_CSS = """
    AgentTable > .agent-table--header { text-style: bold; background: $panel; }
    AgentTable > .agent-table--cursor { background: $accent 40%; }
    AgentTable:focus > .agent-table--cursor { background: $accent; color: $text; text-style: bold; }
    """

    class Highlighted(Message):
        """The cursor moved to another agent (or to none)."""

        def __init__(self, name: str | None) -> None:
            super().__init__()
            self.name = name

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filter_text = ""
        self.sort_key = "name"
        self.rows_by_name: dict[str, Any] = {}
        self.order: list[str] = []
        self.cursor = 0
        self._cells: dict[str, tuple[object, ...]] = {}
        self._strips: dict[tuple[str, bool], tuple[tuple[object, ...], Style, Strip]] = {}
        self._width = sum(w + 1 for _, _, w in COLUMNS) + 1
        self._announced: str | None = None
        self.here = ""  # this host, when the store is shared: a HOST column and a host filter
        self.host_filter: str | None = None  # show only this host's rows (None: every host's)
        self.columns = COLUMNS

    @property
    def row_count(self) -> int:
        return len(self.order)

    @property
    def selected(self) -> str | None:
        return self.order[self.cursor] if 0 <= self.cursor < len(self.order) else None

    # --- data in ----------------------------------------------------------------------

    def apply(self, rows: Sequence[Any]) -> None:
        """Show these rows under the current filter and sort, keeping the cursor on its agent."""
        keep = self.selected
        self.rows_by_name = {r.name: r for r in rows}
        here, only = self.here, self.host_filter
        visible = [r for r in rows if matches(r, self.filter_text) and (only is None or row_host(r, here) == only)]
        if here:
            self._cells = {r.name: (cell(row_host(r, here)), *row_cells(r)) for r in visible}
        else:
            self._cells = {r.name: row_cells(r) for r in visible}
        self._reorder(keep)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.apply(list(self.rows_by_name.values()))

    def set_here(self, here: str) -> None:
        """Name this host when the store is shared (adds the HOST column), "" when it is not."""
        if here == self.here:
            return
        self.here, self.host_filter = here, None
        self.columns = HOST_COLUMNS if here else COLUMNS
        self._width = sum(w + 1 for _, _, w in self.columns) + 1
        self._strips.clear()

    def cycle_host(self) -> str | None:
        """Show the next host's rows alone: this host, then the others by name, then all again."""
        hosts = hosts_in(list(self.rows_by_name.values()), self.here)
        if self.host_filter is None:
            self.host_filter = hosts[0]
        elif self.host_filter in hosts and hosts.index(self.host_filter) + 1 < len(hosts):
            self.host_filter = hosts[hosts.index(self.host_filter) + 1]
        else:
            self.host_filter = None
        self.apply(list(self.rows_by_name.values()))
        return self.host_filter

    def cycle_sort(self) -> str:
        keys = list(SORTS)
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self._reorder(self.selected)
        return self.sort_key

    def _reorder(self, keep: str | None) -> None:
        key = SORTS[self.sort_key]
        self.order = sorted(self._cells, key=lambda name: key(self.rows_by_name[name]))
        live = set(self.order)
        for cached in [k for k in self._strips if k[0] not in live]:
            del self._strips[cached]
        if keep is not None and keep in self._cells:
            self.cursor = self.order.index(keep)
        self.cursor = max(0, min(self.cursor, len(self.order) - 1))
        self.virtual_size = Size(self._width, len(self.order) + 1)
        self._scroll_to_cursor()
        self.refresh()
        self._announce()

    # --- cursor -------------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.size.height - 2))

    def move_to(self, index: int) -> None:
        if not self.order:
            return
        self.cursor = max(0, min(index, len(self.order) - 1))
        self._scroll_to_cursor()
        self.refresh()
        self._announce()

    def on_click(self, event: Click) -> None:
        if event.y >= 1:
            self.move_to(int(self.scroll_offset.y) + event.y - 1)

    def _scroll_to_cursor(self) -> None:
        rows_visible = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + rows_visible:
            self.scroll_to(y=self.cursor - rows_visible + 1, animate=False)

    def _announce(self) -> None:
        if self.selected != self._announced:
            self._announced = self.selected
            self.post_message(self.Highlighted(self.selected))

    # --- rendering ----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0:
            labels = [Text(f"{label}▼" if key == self.sort_key else label) for key, label, _ in self.columns]
            strip = self._strip(labels, self.get_component_rich_style("agent-table--header"))
            return strip.crop_extend(scroll_x, scroll_x + width, None)
        index = scroll_y + y - 1
        if index >= len(self.order):
            return Strip.blank(width)
        name = self.order[index]
        cells = self._cells[name]
        is_cursor = index == self.cursor
        # The cursor's style depends on focus (and the theme): a strip drawn before the table
        # had focus must not be reused once it has it, so the style is part of the cache key.
        style = self.get_component_rich_style("agent-table--cursor") if is_cursor else Style()
        cached = self._strips.get((name, is_cursor))
        if cached is None or cached[0] != cells or cached[1] != style:
            cached = (cells, style, self._strip(cells, style))
            self._strips[(name, is_cursor)] = cached
        return cached[2].crop_extend(scroll_x, scroll_x + width, None)

    def _strip(self, cells: Sequence[object], base: Style) -> Strip:
        segments: list[Segment] = []
        for value, (_, _, width) in zip(cells, self.columns, strict=True):
            text = value.copy() if isinstance(value, Text) else Text(str(value))
            text.truncate(width, overflow="ellipsis", pad=True)
            segments.append(Segment(" ", base))
            for part in text.render(self.app.console):
                segments.append(Segment(part.text, base + part.style if part.style else base))
        segments.append(Segment(" ", base))
        return Strip(segments).simplify()
