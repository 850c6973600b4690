"""Pure rendering: records -> table text or JSON. No I/O here.

Text that came from agents, tasks or messages is shown through `printable`, so an escape sequence
in a title (`\\x1b[2J`) is shown as text and never acted on by the terminal; JSON keeps it exact.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence

from fleetctl.model import Event

STATUS_SCHEMA_VERSION = 1

# C0 controls, DEL and C1 controls (a lone \x9b is a CSI to some terminals).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LAYOUT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str, keep_layout: bool = False) -> str:
    """text with every control character shown as an escape (`\\x1b`); keep_layout leaves tabs and newlines."""
    pattern = _CONTROL_BUT_LAYOUT if keep_layout else _CONTROL
    return pattern.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    width: int | None = None,
    keep: Sequence[str] = (),
) -> str:
    """Columns two spaces apart. With `width`, the table is fitted to it (see fit_widths): a
    column that must give way loses its end to `…`, the last column first, the `keep` columns
    (by header) last of all; none is dropped."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    if width is not None:
        kept = [max(len(h), w) if h in keep else len(h) for h, w in zip(headers, widths, strict=True)]
        widths = fit_widths(widths, kept, width)
        widths = fit_widths(widths, [len(h) for h in headers], width)
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(truncate(c, w).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def fit_widths(widths: Sequence[int], minimum: Sequence[int], total: int) -> list[int]:
    """Column widths whose line fits `total` characters: the last column (the free text) gives
    way first, then the widest of the others, none below its minimum (its header's width)."""
    fitted = list(widths)
    over = sum(fitted) + 2 * (len(fitted) - 1) - total
    if over <= 0 or not fitted:
        return fitted
    give = min(over, fitted[-1] - minimum[-1])
    fitted[-1] -= give
    over -= give
    while over > 0:
        spare = [i for i in range(len(fitted)) if fitted[i] > minimum[i]]
        if not spare:
            break  # narrower than the headers: keep every column, let the terminal cut the line
        widest = max(spare, key=lambda i: fitted[i] - minimum[i])
        fitted[widest] -= 1
        over -= 1
    return fitted


def truncate(text: str, width: int) -> str:
    """text cut to `width` characters, the cut shown by a final `…`."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def terminal_width() -> int | None:
    """The width to fit tables to: $COLUMNS, else the terminal's; None when output goes to a
    pipe or a file (a script gets whole lines)."""
    import os
    import shutil
    import sys

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    return shutil.get_terminal_size().columns


def _cell(value: object) -> str:
    return "-" if value is None or value == "" else printable(str(value))


def event_line(event: Event) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.time))
    who = printable(event.agent or "fleet")
    where = f"{printable(event.host)}  " if event.host else ""
    return f"{stamp}  {where}{event.kind:<14} {who:<16} {printable(event.reason)}".rstrip()


def event_json(event: Event) -> str:
    return json.dumps(
        {
            "id": event.id,
            "time": event.time,
            "kind": event.kind,
            "agent": event.agent,
            "reason": event.reason,
            "data": event.data,
            "host": event.host,
        },
        sort_keys=True,
    )
