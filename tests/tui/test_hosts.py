"""The TUI of a fleet on a shared store: every host's agents with a HOST column, a host that
stopped reporting shown unreachable (never running), and `h` showing one host at a time.

The other hosts' reports are written into a real PostgreSQL store as their supervisors
write them (store.hosts.beat); this host's agent runs in a real tmux server."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetctl.store import StateStore
from fleetctl.tui.app import make_app
from fleetctl.tui.widgets.agent_table import AgentTable
from tests.conftest import FleetHarness
from tests.tui.conftest import run_async, screen_text, settle, until

pytestmark = pytest.mark.tmux

FLEET = """
[agents.here]
command = "sleep 600"
hosts = ["alpha"]
min_uptime = "0.2s"

[agents.there]
command = "sleep 600"
hosts = ["beta"]
"""


def report(url: str, state_dir: Path, host: str, seen: float, rows: list[dict[str, object]]) -> None:
    """Write a host's heartbeat and rows as its supervisor does."""
    store = StateStore(state_dir, url, host)
    try:
        store.hosts.beat(host, seen, 1.0, os.getpid(), rows)
    finally:
        store.close()


def line_of(text: str, name: str) -> str:
    return next((line for line in text.splitlines() if f" {name} " in line), "")


@pytest.fixture
def alpha(fleet_dir: FleetHarness) -> Iterator[FleetHarness]:
    """The fleet as host alpha; its tmux server (named after the host) goes even if the test fails."""
    yield fleet_dir
    subprocess.run(["tmux", "-L", f"fleetctl-{fleet_dir.name}-alpha", "kill-server"], capture_output=True, check=False)


@pytest.mark.timeout(60)
@run_async
async def test_every_hosts_agents_with_a_host_column_and_a_host_filter(
    alpha: FleetHarness, pg_url: str, tmp_path: Path
) -> None:
    fleet_dir = alpha
    fleet_dir.write(FLEET, extra_fleet=f'host = "alpha"\nstore = "{pg_url}"')
    assert fleet_dir.run("up").code == 0
    now = time.time()
    report(
        pg_url,
        tmp_path / "beta",
        "beta",
        now + 30,
        [{"name": "there", "state": "running", "pid": 4242, "uptime_s": 61.0}],
    )
    report(
        pg_url,
        tmp_path / "gamma",
        "gamma",
        now - 300,
        [{"name": "far", "state": "running", "pid": 77, "uptime_s": 5.0}],
    )
    app = make_app(fleet_dir.fleet, refresh=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.fleet_screen.query_one(AgentTable)

        def shown() -> list[str]:
            app.request_observe()
            return table.order

        await until(pilot, lambda: "far" in shown() and table.rows_by_name["here"].pid, 15, "every host's rows")
        await settle(pilot)
        text = screen_text(app)
        assert any(line.split()[:1] == ["HOST"] for line in text.splitlines()), text
        assert line_of(text, "here").split()[:3] == ["alpha", "here", "running"], text
        assert line_of(text, "there").split()[:5] == ["beta", "there", "running", "-", "4242"], text
        far = line_of(text, "far").split()
        assert far[:3] == ["gamma", "far", "unreachable"] and "77" not in far, text  # never shown as running
        assert "gamma (host)" in table.order

        await pilot.press("h")
        assert table.host_filter == "alpha" and table.order == ["here"]
        await pilot.press("h")
        assert table.host_filter == "beta" and table.order == ["there"]
        await settle(pilot)
        assert "host beta" in screen_text(app)
        await pilot.press("h")
        assert table.host_filter == "gamma" and sorted(table.order) == ["far", "gamma (host)"]
        await pilot.press("h")
        assert table.host_filter is None and len(table.order) == 4
    assert fleet_dir.run("down").code == 0
