"""A scrollable list of one-line texts that follows its end, for the events and log views.

Following: while the view is scrolled to its last line, new lines keep it there; scrolled
up (to read something), it stays put. With `truncate`, a line wider than the view is cut
with `…` (the events view: fixed columns first, so only the reason is cut); without it,
the view scrolls sideways (the log view: output is kept whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LineView(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_up", "up", show=False),
        Binding("down", "scroll_down", "down", show=False),
        Binding("left", "scroll_left", "left", show=False),
        Binding("right", "scroll_right", "right", show=False),
        Binding("pageup", "page_up", "page up", show=False),
        Binding("pagedown", "page_down", "page down", show=False),
        Binding("home", "scroll_home", "first", show=False),
        Binding("end", "scroll_end", "last", show=False),
    ]

    class Scrolled(Message):
        """The view moved up or down: whether it is following may have changed."""

    def __init__(self, *, truncate: bool = False, max_lines: int = 10_000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.truncate = truncate
        self.max_lines = max_lines
        self.lines: list[Text] = []
        self._widest = 0
        self._following = True

    @property
    def following(self) -> bool:
        """True unless the person scrolled up from the last line (new lines then scroll it into view)."""
        return self._following

    def follow(self) -> None:
        """Jump to the last line and keep to it."""
        self._following = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def set_lines(self, lines: Sequence[Text | str]) -> None:
        """Show exactly these lines (the log view, re-rendered as the output grows)."""
        self.lines = [line if isinstance(line, Text) else Text(line) for line in lines[-self.max_lines :]]
        self._widest = max((line.cell_len for line in self.lines), default=0)
        self._resized()

    def append(self, lines: Sequence[Text | str]) -> None:
        """Add lines at the end (the events view)."""
        if not lines:
            return
        new = [line if isinstance(line, Text) else Text(line) for line in lines]
        self.lines.extend(new)
        del self.lines[: max(0, len(self.lines) - self.max_lines)]
        self._widest = max(self._widest, *(line.cell_len for line in new))
        self._resized()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._following = round(new_value) >= self.max_scroll_y
            self.post_message(self.Scrolled())

    def on_resize(self) -> None:
        if self._following:
            self.scroll_end(animate=False, x_axis=False)

    def _resized(self) -> None:
        self.virtual_size = Size(0 if self.truncate else self._widest, len(self.lines))
        if self._following:
            self.scroll_end(animate=False, x_axis=False)  # once the new size is laid out
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        index = scroll_y + y
        if index >= len(self.lines):
            return Strip.blank(width, self.rich_style)
        line = self.lines[index]
        if self.truncate:
            line = line.copy()
            line.truncate(width, overflow="ellipsis")
            scroll_x = 0
        segments = [
            Segment(s.text, self.rich_style + s.style if s.style else self.rich_style)
            for s in line.render(self.app.console)
        ]
        return Strip(segments).crop_extend(scroll_x, scroll_x + width, self.rich_style)
