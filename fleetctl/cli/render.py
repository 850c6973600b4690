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


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    return "-" if value is None or value == "" else printable(str(value))


def event_line(event: Event) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.time))
    who = printable(event.agent or "fleet")
    return f"{stamp}  {event.kind:<14} {who:<16} {printable(event.reason)}".rstrip()


def event_json(event: Event) -> str:
    return json.dumps(
        {
            "id": event.id,
            "time": event.time,
            "kind": event.kind,
            "agent": event.agent,
            "reason": event.reason,
            "data": event.data,
        },
        sort_keys=True,
    )
