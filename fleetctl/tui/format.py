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

__all__ = ["STATE_STYLES", "cell", "clock_text", "duration", "next_text", "printable", "state_text"]


def printable(text: object) -> str:
    """Text from outside (task titles, messages, reasons) with control characters shown escaped.

    An ESC or a carriage return in a title must not steer the terminal or break a line of
    the table: it is shown as `\\x1b` or `\\r`, as Python writes it.
    """
    value = str(text)
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def state_text(state: AgentState) -> Text:
    return Text(state.value, style=STATE_STYLES.get(state, ""))


def clock_text(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def cell(value: object) -> str:
    return "-" if value is None or value == "" else printable(value)


def next_text(state: AgentState, next_retry_s: float | None) -> Text:
    """When something happens next by itself: the retry of a backoff, the end of a park."""
    if next_retry_s is None:
        return Text("-", style="dim")
    if state is AgentState.PARKED:
        return Text(f"park {duration(next_retry_s)}", style="yellow")
    return Text(f"retry {duration(next_retry_s)}", style="yellow")
