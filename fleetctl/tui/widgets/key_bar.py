"""Bars of short items that wrap between items, never inside one ("2 running", "r restart").

Textual wraps text at any space, so "1 2 3 views" could end one line with "3" and start
the next with "views". These bars wrap themselves, item by item, at their own width.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

KEY_NAMES = {"slash": "/", "escape": "esc", "ctrl+p": "^p"}
GAP = "  "


def wrap_items(items: Sequence[Text], width: int) -> Text:
    """The items on as few lines as fit `width`, GAP between them; an item wider than a line
    gets a line of its own."""
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    used = 0
    for item in items:
        if used and used + len(GAP) + item.cell_len > width:
            out.append("\n")
            used = 0
        elif used:
            out.append(GAP)
            used += len(GAP)
        out.append_text(item)
        used += item.cell_len
    return out


class WrappingBar(Widget):
    """Renders its items wrapped to its width; as tall as that takes (use `height: auto`)."""

    DEFAULT_CSS = "WrappingBar { height: auto; }"

    def __init__(self, items: Iterable[Text] = (), **kwargs: str | None) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.items: list[Text] = list(items)

    def set_items(self, items: Iterable[Text]) -> None:
        new = list(items)
        if new == self.items:
            return
        width = self.content_size.width or 1
        taller = self._lines(new, width) != self._lines(self.items, width)
        self.items = new
        self.refresh(layout=taller)

    def render(self) -> Text:
        return wrap_items(self.items, self.content_size.width or 1)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._lines(self.items, width)

    @staticmethod
    def _lines(items: Sequence[Text], width: int) -> int:
        return wrap_items(items, width).plain.count("\n") + 1


def key_items(keys: Iterable[tuple[str, str]]) -> list[Text]:
    """'r restart', 'd stop', …: each key shown as a key cap, then what it does."""
    items = []
    for key, label in keys:
        item = Text(KEY_NAMES.get(key, key), style="bold reverse")
        item.append(" " + label)
        items.append(item)
    return items


class KeyBar(WrappingBar):
    """Given (key, label) pairs once: every binding shows, even at 80 columns."""

    def __init__(self, keys: Iterable[tuple[str, str]], **kwargs: str | None) -> None:
        super().__init__(key_items(keys), **kwargs)
