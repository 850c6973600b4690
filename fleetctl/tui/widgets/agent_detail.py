"""The selected agent: why it is in its state, its output's last lines, its recent events."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from fleetctl.model import AgentState
from fleetctl.tui.format import cell, clock_text, duration, printable, state_text
from fleetctl.tui.observer import Detail

DEFAULT_REASONS = {
    AgentState.STOPPED: "stopped: not running and not wanted",
    AgentState.COMPLETED: "completed: exited cleanly",
}
EVENT_AGENT_WIDTH = 12
EVENTS_SHOWN = 4


def default_reason(row: Any) -> str:
    """What a state means when status gives no reason (a port is verified only if there is one)."""
    if row.state is AgentState.RUNNING:
        return "running: window, pid and port verified" if row.port else "running: window and pid verified"
    state: AgentState = row.state
    return DEFAULT_REASONS.get(state, state.value)


def why_text(row: Any) -> Text:
    """The header lines of the close-up: identity, then the reason for the state."""
    text = Text()
    text.append(printable(row.name), style="bold")
    text.append("  ")
    text.append_text(state_text(row.state))
    text.append(f"  pid {cell(row.pid)}  port {cell(row.port)}  up {duration(row.uptime_s)}")
    text.append(f"  respawns {row.respawns}/{row.max_respawns}")
    if row.task is not None:
        text.append(f"  task #{row.task}")
    text.append("\n")
    conversation = session_text(row)
    if conversation:
        text.append(conversation + "\n")
    text.append("why: ", style="bold")
    text.append(printable(row.reason) if row.reason else default_reason(row))
    extra = []
    if row.last_exit:
        extra.append(f"last exit {row.last_exit}")
    if row.failure_class:
        extra.append(f"class {row.failure_class}")
    if row.next_retry_s is not None:
        extra.append(f"retry in {duration(row.next_retry_s)}")
    if extra:
        text.append("  (" + ", ".join(extra) + ")", style="dim")
    return text


def session_text(row: Any) -> str:
    """Its own line, so a long session id never pushes the identity line off the screen."""
    parts = []
    session = getattr(row, "session", None)
    if session:
        parts.append(f"session {printable(session)} ({duration(getattr(row, 'session_age_s', None))} old)")
    spent = usage_text(getattr(row, "usage", None))
    if spent:
        parts.append(spent)
    return "  ".join(parts)


def usage_text(usage: dict[str, object] | None) -> str:
    """The current run's tokens and cost, as the kind's client recorded them ('' when unknown)."""
    if not usage:
        return ""
    tokens = f"{usage.get('input_tokens', 0)} in, {usage.get('output_tokens', 0)} out"
    cost = usage.get("cost_usd")
    return f"run {tokens}" + ("" if cost is None else f", ${float(str(cost)):.2f}")


def event_text(event: Any, with_agent: bool = False) -> Text:
    """One event on one line: fixed columns (time, agent, kind) first, the reason last, so a
    long reason is what gets cut with `…`, never the agent's name."""
    text = Text(f"{clock_text(event.time)} ", style="dim", no_wrap=True, overflow="ellipsis", end="")
    if with_agent:
        agent = Text(printable(event.agent or "fleet"), style="bold" if event.agent else "dim")
        agent.truncate(EVENT_AGENT_WIDTH, overflow="ellipsis", pad=True)
        text.append_text(agent)
        text.append(" ")
    text.append(f"{printable(event.kind):<13}", style=kind_style(event.kind))
    text.append(f" {printable(event.reason)}")
    return text


def kind_style(kind: str) -> str:
    if kind in ("start-failed", "gave-up", "killed", "stalled", "timed-out", "alert", "config-error", "exited"):
        return "red"
    if kind in ("backoff", "parked", "warning", "health-failed", "fallback"):
        return "yellow"
    if kind in ("verified", "spawned", "respawned", "adopted", "reset"):
        return "green"
    return ""


def set_text(widget: Static, content: Text | str) -> None:
    """Update a fixed-size static only when its content changed (no layout pass)."""
    if getattr(widget, "_fleet_shown", None) != content:
        widget._fleet_shown = content  # type: ignore[attr-defined]
        widget.update(content, layout=False)


class PaneTail(Widget):
    """The last lines of the agent's output that fit: as many as the close-up has room for."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = Text("…", style="dim")
        self.lines: list[str] = []
        self.error: str | None = None

    def show(self, title: Text, lines: list[str], error: str | None = None) -> None:
        if (title, lines, error) != (self.title, self.lines, self.error):
            self.title, self.lines, self.error = title, lines, error
            self.refresh()

    def render(self) -> Text:
        room = max(0, self.size.height - 1 - (1 if self.error else 0))
        body = self.title.copy()
        for line in self.lines[-room:] if room else []:
            body.append("\n" + printable(line), style="")
        if self.error:
            body.append(f"\n{self.error}", style="red")
        return body


class AgentDetail(Vertical):
    """The why line, the output, the events; set from above, nothing here reads the fleet."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.agent: str | None = None
        self.detail: Detail | None = None

    def compose(self) -> ComposeResult:
        yield Static("no agent selected", id="why")
        yield PaneTail(id="pane")
        yield Static("", id="agent-events")

    def show_row(self, row: Any | None) -> None:
        why = self.query_one("#why", Static)
        if row is None:
            self.agent = None
            self.detail = None
            set_text(why, "no agent selected")
            self.query_one(PaneTail).show(Text(""), [])
            self._show_events(Text(""))
            return
        if row.name != self.agent:
            self.agent = row.name
            self.detail = None
            self.query_one(PaneTail).show(Text("…", style="dim"), [])
            self._show_events(Text(""))
        set_text(why, why_text(row))

    def show_detail(self, detail: Detail) -> None:
        if detail.name != self.agent:
            return
        self.detail = detail
        lines = trim_blank(detail.lines)
        if lines:
            source = "pane" if detail.source == "pane" else "log"
            title = Text(f"── {source} (l: whole log) ──", style="dim", no_wrap=True, overflow="ellipsis")
        else:
            title = Text("── no output yet ──", style="dim", no_wrap=True)
        self.query_one(PaneTail).show(title, lines, detail.error)
        events = Text("── events ──", style="dim", no_wrap=True, overflow="ellipsis")
        for event in detail.events[-EVENTS_SHOWN:]:  # the newest
            events.append("\n")
            events.append_text(event_text(event))
        if not detail.events:
            events.append("\nnone recorded", style="dim")
        self._show_events(events)

    def _show_events(self, events: Text) -> None:
        box = self.query_one("#agent-events", Static)
        if getattr(box, "_fleet_shown", None) != events:
            box._fleet_shown = events  # type: ignore[attr-defined]
            box.update(events)  # its height follows the number of events


def trim_blank(lines: tuple[str, ...] | list[str]) -> list[str]:
    """Drop blank lines at both ends (a tall pane is mostly empty at the bottom)."""
    out = list(lines)
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return out
