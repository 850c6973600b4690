"""Pane output as the screen showed it: raw terminal bytes played through a terminal emulator.

An agent's log holds what its program wrote to the terminal: colours, cursor moves, spinner
frames redrawn with carriage returns, whole-screen redraws. Reading those bytes as text
glues the frames together (`?forshortcuts·←foragents`). Feeding them to pyte's screen
instead gives the lines a person saw: each redraw lands on the cells it overwrote, and a
line that scrolled off the top is kept, as a terminal's scrollback keeps it.

Pure: no tmux, no files; callers hand in bytes (from a log file, a capture) and get lines.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import pyte
from pyte.screens import Margins

DEFAULT_COLUMNS = 200  # fleet windows are made this wide, so lines wrap where they wrapped on screen
DEFAULT_ROWS = 50
DEFAULT_SCROLLBACK = 5000
# pyte draws what it does not parse: device control strings (ESC P … ESC \) and CSI sequences
# with a "<" or "=" marker (kitty keyboard `CSI < u`) would leave their letters on the line.
_DCS = re.compile(rb"\x1bP.*?\x1b\\", re.DOTALL)
_MARKED_CSI = re.compile(rb"\x1b\[[<=]")
_HELD_MAX = 65536  # an unterminated DCS longer than this is fed as it is


class _Screen(pyte.Screen):
    """A pyte screen that keeps, as text, each line scrolled off its top (the scrollback)."""

    def __init__(self, columns: int, rows: int, scrollback: int) -> None:
        super().__init__(columns, rows)
        self.scrolled: deque[str] = deque(maxlen=scrollback)

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if top == 0 and self.cursor.y == bottom:
            self.scrolled.append(_line_text(self.buffer[0], self.columns))
        super().index()


def _line_text(line: Any, columns: int) -> str:
    # A wide character's second cell holds "", so joining the cells gives the text as shown.
    return "".join(line[x].data for x in range(columns)).rstrip()


class ScreenText:
    """A terminal fed bytes bit by bit (a followed log); `lines()` is what it shows so far."""

    def __init__(
        self, columns: int = DEFAULT_COLUMNS, rows: int = DEFAULT_ROWS, scrollback: int = DEFAULT_SCROLLBACK
    ) -> None:
        self._screen = _Screen(columns, rows, scrollback)
        # A bare "\n" starts a new line (the tty added "\r" for the pane; a log written by hand has none).
        self._screen.set_mode(pyte.modes.LNM)
        self._stream = pyte.ByteStream(self._screen)
        self._held = b""

    def feed(self, data: bytes) -> None:
        """Bytes in any chunks: a sequence cut between two chunks is held until it is whole."""
        data = self._held + data
        self._held = b""
        cut = _unfinished(data)
        if cut is not None and len(data) - cut < _HELD_MAX:
            data, self._held = data[:cut], data[cut:]
        data = _MARKED_CSI.sub(b"\x1b[>", _DCS.sub(b"", data))
        self._stream.feed(data)

    def lines(self) -> list[str]:
        """Scrollback then screen, without the blank rows below the last line written."""
        shown = [line.rstrip() for line in self._screen.display]
        while shown and not shown[-1]:
            shown.pop()
        return [*self._screen.scrolled, *shown]


def _unfinished(data: bytes) -> int | None:
    """Where a trailing escape sequence that may still be incomplete starts (None: there is none)."""
    esc = data.rfind(b"\x1b", max(0, len(data) - 2))
    if esc >= 0 and data[esc:] in (b"\x1b", b"\x1b[", b"\x1bP"):
        return esc
    start = data.rfind(b"\x1bP")
    if start >= 0 and data.find(b"\x1b\\", start + 2) < 0:
        return start
    return None


def render(data: bytes, columns: int = DEFAULT_COLUMNS, rows: int = DEFAULT_ROWS) -> list[str]:
    """The lines `data` leaves on a terminal `columns` wide, scrollback included."""
    text = ScreenText(columns, rows)
    text.feed(data)
    return text.lines()
