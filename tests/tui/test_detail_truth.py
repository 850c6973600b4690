"""The close-up tells the truth about a real fleet: the recorded exit of a dead pane (not the
status tmux gives the window's wrapper), no port claimed for an agent without one, and the
agent's newest events after a down and an up, as `fleetctl events --agent` lists them."""

from __future__ import annotations

import pytest

from fleetctl.tui.app import make_app
from fleetctl.tui.widgets.agent_table import AgentTable
from tests.conftest import FleetHarness
from tests.tui.conftest import run_async, screen_text, settle, until

pytestmark = pytest.mark.tmux

FLEET = """
[agents.plain]
command = "sh -c 'echo plain ready; exec sleep 600'"
min_uptime = "0.2s"
stop_timeout = "2s"

[agents.quits]
command = "sh -c 'echo quits starting; echo error: boom; exit 3'"
restart = "never"
min_uptime = "1s"
"""


def close_up(text: str) -> list[str]:
    """The close-up's lines: from the agent's identity line under the table to the key bar."""
    lines = text.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("──────"))
    return [line.strip() for line in lines[start + 1 : -2]]


def shown_events(text: str) -> list[str]:
    lines = close_up(text)
    return [line for line in lines[lines.index("── events ──") + 1 :] if line.strip()]


def cli_events(fleet: FleetHarness, agent: str) -> list[tuple[str, str, str]]:
    """`fleetctl events --agent NAME` as (time, kind, reason), oldest first."""
    out = []
    for line in fleet.run("events", "--agent", agent).out.splitlines():
        _, clock, kind, name, reason = line.split(maxsplit=4)
        assert name == agent
        out.append((clock, kind, reason))
    return out


def tui_events(text: str) -> list[tuple[str, str, str]]:
    out = []
    for line in shown_events(text):
        clock, kind, reason = line.split(maxsplit=2)
        out.append((clock, kind, reason))
    return out


@run_async
async def test_the_close_up_of_a_real_fleet_says_what_is_true(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(FLEET)
    assert fleet_dir.run("up").code == 1  # quits fails its start: exit code 3
    assert fleet_dir.status()["quits"]["last_exit"] == "code 3"
    assert fleet_dir.run("down", "plain").code == 0
    assert fleet_dir.run("up", "plain").code == 0
    newest = cli_events(fleet_dir, "plain")
    assert [kind for _, kind, _ in newest] == ["spawned", "verified", "killed", "spawned", "verified"]
    app = make_app(fleet_dir.fleet, refresh=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.fleet_screen.query_one(AgentTable)
        assert table.selected == "plain"
        await until(pilot, lambda: tui_events(screen_text(app)), 10, "plain's events in the close-up")
        lines = close_up(screen_text(app))
        assert lines[1].startswith("why: running: window and pid verified"), lines  # no port to verify
        assert "port -" in lines[0]
        assert tui_events(screen_text(app)) == newest[-4:]  # the newest, as `events --agent` ends

        table.move_to(table.order.index("quits"))
        await until(pilot, lambda: "Pane is dead" in screen_text(app), 10, "quits's dead pane")
        text = screen_text(app)
        pane = close_up(text)
        dead = pane.index("Pane is dead (last exit code 3)")
        assert pane[dead - 2 : dead] == ["quits starting", "error: boom"], text  # its last words, in view
        assert "status 0" not in text  # what tmux says of the window's wrapper, not of the agent
