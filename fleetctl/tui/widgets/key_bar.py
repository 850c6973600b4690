"""A footer that wraps instead of cutting keys off, so every binding shows at 80 columns."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static

KEY_NAMES = {"slash": "/", "escape": "esc", "ctrl+p": "^p"}


def key_text(keys: Iterable[tuple[str, str]]) -> Text:
    """'r restart  d stop ...' with each key and its label kept on one line."""
    text = Text(no_wrap=False)
    for i, (key, label) in enumerate(keys):
        if i:
            text.append("  ")
        text.append(KEY_NAMES.get(key, key), style="bold reverse")
        text.append("\u00a0" + label.replace(" ", "\u00a0"))
    return text


class KeyBar(Static):
    """Given (key, label) pairs once; renders them, wrapped to the terminal's width."""

    def __init__(self, keys: Iterable[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(key_text(keys), **kwargs)  # type: ignore[arg-type]
