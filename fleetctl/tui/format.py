"""Pure text helpers shared by the TUI widgets (the TUI never imports fleetctl.cli)."""

from __future__ import annotations

import time

from rich.text import Text

from fleetctl.humanize import duration
from fleetctl.model import AgentState

STATE_STYLES: dict[AgentState, str] = {
    AgentState.RUNNING: "green",
    AgentState.STARTING: "yellow",
    AgentState.BACKOFF: "yellow",
    AgentState.PARKED: "yellow",
    AgentState.STALLED: "bold red",
    AgentState.FAILED: "bold red",
    AgentState.STOPPED: "dim",
    AgentState.COMPLETED: "dim",
}


def state_text(state: AgentState) -> Text:
    return Text(state.value, style=STATE_STYLES.get(state, ""))


def clock_text(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def cell(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def breaker_text(state: AgentState, next_retry_s: float | None, explicit: object = None) -> Text:
    """The respawn breaker as a person reads it: open (gave up), waiting to retry, or closed."""
    if isinstance(explicit, str) and explicit:
        return Text(explicit, style="bold red" if explicit.startswith("open") else "")
    if state is AgentState.FAILED:
        return Text("open", style="bold red")
    if state is AgentState.PARKED:
        return Text(f"park {duration(next_retry_s)}", style="yellow")
    if state is AgentState.BACKOFF:
        return Text("wait" if next_retry_s is None else f"wait {duration(next_retry_s)}", style="yellow")
    return Text("closed", style="dim")
