"""Other hosts' rows in the TUI (a fleet on a shared store): what `status --all` shows, as
rows the agents table draws beside this host's own, each with its host.

Pure: the rows come from the hosts' last reports (runtime.status_all.other_rows). A row of a
host that stopped reporting is `unreachable`, never shown as running; its pane is on that
host, so it has no window to capture here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fleetctl.model import AgentState
from fleetctl.record import record


class HostState(enum.Enum):
    """States a reported row can have beside an agent's own."""

    UNREACHABLE = "unreachable"
    REPORTED = "reported"  # a state this fleetctl does not know (a newer host wrote it)


@record
class HostRow:
    """One agent or task window of another host, as its last report said."""

    name: str
    host: str
    state: AgentState | HostState
    pid: int | None = None
    port: int | None = None
    window: str | None = None  # never captured here: the pane is on the other host
    uptime_s: float | None = None
    respawns: int = 0
    max_respawns: int = 0
    last_exit: object = None
    last_output_s: float | None = None
    reason: str = ""
    next_retry_s: float | None = None
    failure_class: str | None = None
    task: int | None = None
    activity: str | None = None


def _state(value: object) -> AgentState | HostState:
    text = str(value)
    if text == HostState.UNREACHABLE.value:
        return HostState.UNREACHABLE
    try:
        return AgentState(text)
    except ValueError:
        return HostState.REPORTED


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def host_row(row: Mapping[str, Any]) -> HostRow:
    """A row of `status --all --json` (another host's) as the table's row."""
    host = str(row.get("host") or "")
    kind = row.get("kind")
    name = f"{host} (host)" if kind == "host" else str(row.get("name") or "?")
    task = row.get("task")
    return HostRow(
        name=name,
        host=host,
        state=_state(row.get("state")),
        pid=_int(row.get("pid")),
        uptime_s=_num(row.get("uptime_s")),
        respawns=_int(row.get("respawns")) or max(0, (_int(row.get("attempt")) or 1) - 1),
        max_respawns=_int(row.get("max_respawns")) or 0,
        last_exit=row.get("last_exit"),
        last_output_s=_num(row.get("last_output_s")),
        reason=str(row.get("reason") or row.get("title") or ""),
        next_retry_s=_num(row.get("next_retry_s")),
        task=task if isinstance(task, int) else None,
        activity=str(row["activity"]) if row.get("activity") else None,
    )


def host_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[HostRow, ...]:
    return tuple(host_row(r) for r in rows)


def row_host(row: Any, here: str) -> str:
    """The host of a table row: another host's row says so; this host's rows are `here`."""
    return str(getattr(row, "host", None) or here)


def hosts_in(rows: Sequence[Any], here: str) -> list[str]:
    """The hosts the rows belong to, this one first, then the others by name."""
    others = sorted({row_host(r, here) for r in rows} - {here})
    return [here, *others]
