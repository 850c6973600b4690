"""Pure rendering: records -> table text or JSON. No I/O here."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from fleetctl.model import Event

STATUS_SCHEMA_VERSION = 1


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def event_line(event: Event) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.time))
    who = event.agent or "fleet"
    return f"{stamp}  {event.kind:<14} {who:<16} {event.reason}".rstrip()


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
