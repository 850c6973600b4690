"""The one-line header: fleet totals and how old the data on screen is."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from fleetctl.model import AgentState
from fleetctl.tui.format import clock_text, duration
from fleetctl.tui.observer import Snapshot


class StatusBar(Static):
    """Renders the latest snapshot's totals; `tick()` only re-ages the timestamp."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("fleetctl: observing…", **kwargs)  # type: ignore[arg-type]
        self.snapshot: Snapshot | None = None
        self.view_name = "agents"
        self.stale_after_s = 5.0
        self._shown = Text()

    def show(self, snapshot: Snapshot, now: float, view_name: str) -> None:
        self.snapshot = snapshot
        self.view_name = view_name
        self.tick(now)

    def tick(self, now: float) -> None:
        snap = self.snapshot
        if snap is None:
            return
        counts = dict.fromkeys(AgentState, 0)
        for row in snap.rows:
            counts[row.state] += 1
        text = Text()
        text.append(f" {snap.fleet_name or 'fleetctl'} ", style="bold reverse")
        text.append("  running ")
        text.append(str(counts[AgentState.RUNNING]), style="bold green")
        text.append("  stalled ")
        text.append(str(counts[AgentState.STALLED]), style="bold red" if counts[AgentState.STALLED] else "")
        text.append("  failed ")
        text.append(str(counts[AgentState.FAILED]), style="bold red" if counts[AgentState.FAILED] else "")
        text.append("  tasks open ")
        text.append("-" if snap.tasks is None else str(snap.tasks.open), style="bold")
        age = now - snap.time
        text.append(f"  observed {clock_text(snap.time)}")
        if age > self.stale_after_s:
            text.append(f" STALE {duration(age)}", style="bold reverse red")
        if self.view_name:
            text.append(f"  [{self.view_name}]", style="bold")
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)
