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
# pyte draws what it does not parse: device control strings (ESC P … ESC \) would leave their
# letters on the line. And it reads a CSI with a "<", "=" or ">" marker as if it had none, so
# xterm's modifyOtherKeys (`CSI > 4 ; 2 m`) would turn on underline and dim, and the kitty
# keyboard's `CSI < u` would restore the cursor: such sequences change nothing on screen; drop them.
_DCS = re.compile(rb"\x1bP.*?\x1b\\", re.DOTALL)
_MARKED_CSI = re.compile(rb"\x1b\[[<=>][0-?]*[ -/]*[@-~]")
_OPEN_CSI = re.compile(rb"\x1b\[[0-?]*[ -/]*\Z")
_HELD_MAX = 65536  # an unterminated DCS longer than this is fed as it is


class _Screen(pyte.Screen):
    """A pyte screen that keeps, as text, each line scrolled off its top (the scrollback)."""

    def __init__(self, columns: int, rows: int, scrollback: int, color: bool = False) -> None:
        super().__init__(columns, rows)
        self.scrolled: deque[str] = deque(maxlen=scrollback)
        self.total_scrolled = 0  # lines ever scrolled off, to number lines across the scrollback's cap
        self.color = color

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if top == 0 and self.cursor.y == bottom:
            self.scrolled.append(self.text(self.buffer[0]))
            self.total_scrolled += 1
        super().index()

    def text(self, line: Any) -> str:
        return _line_sgr(line, self.columns) if self.color else _line_text(line, self.columns)


def _line_text(line: Any, columns: int) -> str:
    # A wide character's second cell holds "", so joining the cells gives the text as shown.
    # Only up to the last cell written: the rest is blank (a third of render's time, measured).
    if not line:
        return ""
    return "".join(line[x].data for x in range(min(max(line) + 1, columns))).rstrip()


def _sgr_names() -> dict[str, str]:
    codes: dict[str, str] = {}
    for table, offset in ((pyte.graphics.FG_ANSI, 0), (pyte.graphics.FG_AIXTERM, 0)):
        for code, name in table.items():
            codes.setdefault(f"fg:{name}", str(code + offset))
    for table in (pyte.graphics.BG_ANSI, pyte.graphics.BG_AIXTERM):
        for code, name in table.items():
            codes.setdefault(f"bg:{name}", str(code))
    return codes


_SGR = _sgr_names()
_FLAGS = (
    ("bold", "1"),
    ("italics", "3"),
    ("underscore", "4"),
    ("blink", "5"),
    ("reverse", "7"),
    ("strikethrough", "9"),
)


def _colour(where: str, value: str) -> str | None:
    if value == "default":
        return None
    named = _SGR.get(f"{where}:{value}")
    if named is not None:
        return named
    if len(value) == 6:
        try:
            r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            return None
        return f"{38 if where == 'fg' else 48};2;{r};{g};{b}"
    return None


def _style(char: Any) -> str:
    codes = [code for flag, code in _FLAGS if getattr(char, flag)]
    codes += [c for c in (_colour("fg", char.fg), _colour("bg", char.bg)) if c is not None]
    return ";".join(codes)


def _line_sgr(line: Any, columns: int) -> str:
    """The line's text with its colours and attributes as SGR sequences (for `logs --color`)."""
    text = _line_text(line, columns)
    out: list[str] = []
    current = ""
    for x in range(len(text)):
        char = line[x]
        style = _style(char)
        if style != current:
            out.append(f"\x1b[0;{style}m" if style else "\x1b[0m")
            current = style
        out.append(char.data)
    if current:
        out.append("\x1b[0m")
    return "".join(out).rstrip()


class ScreenText:
    """A terminal fed bytes bit by bit (a followed log); `lines()` is what it shows so far.
    With `color`, each line carries its colours as SGR sequences."""

    def __init__(
        self,
        columns: int = DEFAULT_COLUMNS,
        rows: int = DEFAULT_ROWS,
        scrollback: int = DEFAULT_SCROLLBACK,
        color: bool = False,
    ) -> None:
        self._screen = _Screen(columns, rows, scrollback, color)
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
        data = _MARKED_CSI.sub(b"", _DCS.sub(b"", data))
        self._stream.feed(data)

    def lines(self) -> list[str]:
        """Scrollback then screen, without the blank rows below the last line written."""
        screen = self._screen
        shown = [screen.text(screen.buffer[y]) for y in range(screen.lines)]
        while shown and not shown[-1]:
            shown.pop()
        return [*screen.scrolled, *shown]

    def settled(self, after: int) -> tuple[list[str], int]:
        """The lines numbered `after` and later that are done: scrolled off, or above the cursor
        (a program writing line by line does not come back to them). Returns them and the number
        to pass next time, so a follower prints each settled line once."""
        screen = self._screen
        first = screen.total_scrolled - len(screen.scrolled)  # the number of the oldest line kept
        end = screen.total_scrolled + screen.cursor.y
        start = max(after, first)
        if start >= end:
            return [], max(after, first)
        rows = [screen.text(screen.buffer[y]) for y in range(screen.cursor.y)]
        kept = [*screen.scrolled, *rows]
        return kept[start - first : end - first], end


def _unfinished(data: bytes) -> int | None:
    """Where a trailing escape sequence that may still be incomplete starts (None: there is none)."""
    esc = data.rfind(b"\x1b", max(0, len(data) - 2))
    if esc >= 0 and data[esc:] in (b"\x1b", b"\x1bP"):
        return esc
    csi = _OPEN_CSI.search(data, max(0, len(data) - 64))
    if csi is not None:
        return csi.start()
    start = data.rfind(b"\x1bP")
    if start >= 0 and data.find(b"\x1b\\", start + 2) < 0:
        return start
    return None


def render(data: bytes, columns: int = DEFAULT_COLUMNS, rows: int = DEFAULT_ROWS, color: bool = False) -> list[str]:
    """The lines `data` leaves on a terminal `columns` wide, scrollback included (with `color`,
    their colours as SGR sequences)."""
    text = ScreenText(columns, rows, color=color)
    text.feed(data)
    return text.lines()
