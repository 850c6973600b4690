"""The selected agent: why it is in its state, its pane's last lines, its recent events."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from fleetctl.model import AgentState
from fleetctl.tui.format import cell, clock_text, duration, state_text
from fleetctl.tui.observer import Detail

DEFAULT_REASONS = {
    AgentState.RUNNING: "running: window, pid and port verified",
    AgentState.STOPPED: "stopped: not running and not wanted",
    AgentState.COMPLETED: "completed: exited cleanly",
}


def why_text(row: Any) -> Text:
    """The header lines of the close-up: identity, then the reason for the state."""
    text = Text()
    text.append(row.name, style="bold")
    text.append("  ")
    text.append_text(state_text(row.state))
    text.append(f"  pid {cell(row.pid)}  port {cell(row.port)}  up {duration(row.uptime_s)}")
    text.append(f"  respawns {row.respawns}/{row.max_respawns}")
    if row.task is not None:
        text.append(f"  task #{row.task}")
    text.append("\n")
    reason = row.reason or DEFAULT_REASONS.get(row.state, row.state.value)
    text.append("why: ", style="bold")
    text.append(reason)
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


def event_text(event: Any) -> Text:
    text = Text(f"{clock_text(event.time)} ", style="dim", no_wrap=True, overflow="ellipsis")
    text.append(f"{event.kind:<13}", style=kind_style(event.kind))
    text.append(f" {event.reason}")
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


class AgentDetail(Vertical):
    """Three statics, set from above; nothing here reads the fleet."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.agent: str | None = None
        self.detail: Detail | None = None

    def compose(self) -> ComposeResult:
        yield Static("no agent selected", id="why")
        yield Static("", id="pane")
        yield Static("", id="agent-events")

    def show_row(self, row: Any | None) -> None:
        why = self.query_one("#why", Static)
        if row is None:
            self.agent = None
            self.detail = None
            set_text(why, "no agent selected")
            set_text(self.query_one("#pane", Static), "")
            set_text(self.query_one("#agent-events", Static), "")
            return
        if row.name != self.agent:
            self.agent = row.name
            self.detail = None
            set_text(self.query_one("#pane", Static), Text("…", style="dim"))
            set_text(self.query_one("#agent-events", Static), "")
        set_text(why, why_text(row))

    def show_detail(self, detail: Detail) -> None:
        if detail.name != self.agent:
            return
        self.detail = detail
        self._render_detail()

    def on_resize(self) -> None:
        if self.detail is not None and self.detail.name == self.agent:
            self._render_detail()

    def _render_detail(self) -> None:
        detail = self.detail
        assert detail is not None
        pane = self.query_one("#pane", Static)
        lines = trim_blank(detail.lines)
        room = max(1, pane.size.height - 1 - (1 if detail.error else 0))
        if lines:
            title = "pane" if detail.source == "pane" else "log"
            body = Text(f"── {title} ──\n", style="dim", no_wrap=True, overflow="ellipsis")
            body.append("\n".join(lines[-room:]), style="")
        else:
            body = Text("── no output yet ──", style="dim", no_wrap=True)
        if detail.error:
            body.append(f"\n{detail.error}", style="red")
        set_text(pane, body)
        events = Text("── events ──", style="dim", no_wrap=True, overflow="ellipsis")
        for event in detail.events:
            events.append("\n")
            events.append_text(event_text(event))
        if not detail.events:
            events.append("\nnone recorded", style="dim")
        set_text(self.query_one("#agent-events", Static), events)


def trim_blank(lines: tuple[str, ...] | list[str]) -> list[str]:
    """Drop blank lines at both ends (a tall pane is mostly empty at the bottom)."""
    out = list(lines)
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return out
