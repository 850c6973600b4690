"""The TUI lists running task windows (`pool.id`) under the agents, with their task and
attempt, and shows a task window's output in its close-up. Real tmux, a real supervise loop."""

from __future__ import annotations

import pytest

from fleetctl.tui.app import make_app
from fleetctl.tui.widgets.agent_table import AgentTable
from tests.conftest import FleetHarness, wait_for
from tests.tui.conftest import run_async, screen_text, until

pytestmark = pytest.mark.tmux

FLEET = """
[agents.alpha]
command = "sh -c 'echo alpha ready; exec sleep 600'"
min_uptime = "0.2s"

[pools.fix]
command = "echo fixing task {task_id}; exec sleep 600"
max_attempts = 2
"""


@run_async
async def test_a_running_task_window_is_a_row_with_its_output(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(FLEET, supervisor=True)
    assert fleet_dir.run("up").code == 0
    assert fleet_dir.run("task", "add", "fix the parser").code == 0
    wait_for(lambda: "fix.1" in fleet_dir.tmux("list-windows", "-F", "#{window_name}"), timeout=20, what="fix.1")
    app = make_app(fleet_dir.fleet, refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.fleet_screen.query_one(AgentTable)

        def shown() -> object:
            r = table.rows_by_name.get("fix.1")
            if r is None or r.pid is None:
                app.request_observe()
                return None
            return r

        row = await until(pilot, shown, 15, "the task window's row")
        assert table.rows_by_name.keys() == {"alpha", "fix.1"}
        assert row.task == 1 and row.state.value == "running"  # type: ignore[attr-defined]
        assert row.reason == "task 1 (running): fix the parser"  # type: ignore[attr-defined]
        text = screen_text(app)
        line = next(line for line in text.splitlines() if "fix.1" in line)
        assert "running" in line and "#1" in line and "0/1" in line  # attempt 1 of 2: no retry used
        table.move_to(table.order.index("fix.1"))

        def close_up() -> object:
            return "fixing task 1" in screen_text(app)

        await until(pilot, close_up, 15, "the task window's output in the close-up")

        await pilot.press("r")  # restart: the window stops, the pool runs the task again (attempt 2)

        def second_attempt() -> object:
            r = table.rows_by_name.get("fix.1")
            if r is None or r.respawns != 1 or r.pid is None:
                app.request_observe()
                return None
            return r

        again = await until(pilot, second_attempt, 20, "attempt 2 of the task window")
        assert again.pid != row.pid  # type: ignore[attr-defined]
    assert fleet_dir.run("down").code == 0
