"""The header: how many agents are in each state, open tasks, and how old the data on screen is.

Every state that has an agent is counted (parked and backoff too); states with none are
left out. It wraps between items ("2 running" never breaks) when 80 columns are not enough.
"""

from __future__ import annotations

from rich.text import Text

from fleetctl.model import AgentState
from fleetctl.tui.format import STATE_STYLES, clock_text, duration, printable
from fleetctl.tui.observer import Snapshot
from fleetctl.tui.widgets.key_bar import WrappingBar

# What is well first, then what waits, then what needs a person, then what is not running.
HEADER_ORDER = (
    AgentState.RUNNING,
    AgentState.STARTING,
    AgentState.BACKOFF,
    AgentState.PARKED,
    AgentState.STALLED,
    AgentState.FAILED,
    AgentState.STOPPED,
    AgentState.COMPLETED,
)


class StatusBar(WrappingBar):
    """Renders the latest snapshot's totals; `tick()` only re-ages the timestamp."""

    def __init__(self, **kwargs: str | None) -> None:
        super().__init__([Text("fleetctl: observing…")], **kwargs)
        self.snapshot: Snapshot | None = None
        self.view_name = "agents"
        self.stale_after_s = 5.0

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
            if row.state in counts:  # another host's row may be unreachable: no agent state
                counts[row.state] += 1
        items = [Text(f" {printable(snap.fleet_name or 'fleetctl')} ", style="bold reverse")]
        shown = [state for state in HEADER_ORDER if counts[state]]
        if not shown:
            items.append(Text("no agents", style="dim"))
        for state in shown:
            item = Text(str(counts[state]), style="bold " + STATE_STYLES.get(state, ""))
            item.append(" " + state.value)
            items.append(item)
        tasks = Text("tasks open ")
        tasks.append("-" if snap.tasks is None else str(snap.tasks.open), style="bold")
        items.append(tasks)
        observed = Text(f"observed {clock_text(snap.time)}")
        age = now - snap.time
        if age > self.stale_after_s:
            observed.append(f" STALE {duration(age)}", style="bold reverse red")
        items.append(observed)
        if self.view_name:
            items.append(Text(f"[{self.view_name}]", style="bold"))
        self.set_items(items)
