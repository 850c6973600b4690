"""The tmux gateway against real tmux: window placement, failed windows in a batch."""

from __future__ import annotations

import os
import signal

import pytest

from fleetctl import plan as planner
from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

CRASH_LOOP = """
[agents.a]
command = "sleep 1.5; exit 3"
restart = "always"
backoff = "100ms"
min_uptime = "300ms"
max_respawns = 1000
[agents.b]
command = "sleep 1.5; exit 3"
restart = "always"
backoff = "100ms"
min_uptime = "300ms"
max_respawns = 1000
"""


def panes(h: FleetHarness) -> list[tuple[str, int, bool]]:
    """(window name, pane pid, dead) of every pane of the fleet's server."""
    rows = []
    for line in h.tmux("list-panes", "-a", "-F", "#{window_name} #{pane_pid} #{pane_dead}").splitlines():
        name, pid, dead = line.split()
        rows.append((name, int(pid), dead == "1"))
    return rows


def due(h: FleetHarness) -> set[str]:
    """The agents the next pass would start."""
    plan = h.fleet().views()[0]
    return {a.agent for a in plan.actions if isinstance(a, planner.Spawn)}


def live_supervisor(h: FleetHarness) -> int | None:
    return next((pid for name, pid, dead in panes(h) if name == "_supervisor" and not dead), None)


@pytest.mark.timeout(90)
def test_reconcile_restarts_a_killed_supervisor_while_agents_crash_loop(fleet_dir: FleetHarness) -> None:
    """The supervisor is killed after it recorded the agents' crashes, before their backoff ran
    out: the next pass both respawns them and reopens the supervisor's window, whose place
    must not be an index the respawned agents took meanwhile (issue 16, point 1)."""
    fleet_dir.write(CRASH_LOOP, supervisor=True)
    fleet_dir.run("up")
    killed = wait_for(lambda: live_supervisor(fleet_dir), what="the supervise loop", explain=fleet_dir.explain)
    os.kill(killed, signal.SIGKILL)  # type: ignore[arg-type]
    wait_for(lambda: live_supervisor(fleet_dir) is None, what="the supervisor's pane to die")
    # With nobody supervising, both agents end within ~2 s and stay dead.
    wait_for(lambda: all(dead for name, _, dead in panes(fleet_dir) if name in ("a", "b")), timeout=15,
             what="both agents to end unsupervised", explain=fleet_dir.explain)  # fmt: skip
    # What the supervisor did before it died: one pass records both ends (and a backoff).
    fleet = fleet_dir.fleet()
    with fleet.store.lock():
        fleet.tick(supervisor=False)
    wait_for(lambda: due(fleet_dir) == {"a", "b"}, what="both respawns to be due", explain=fleet_dir.explain)
    result = fleet_dir.run("reconcile")
    said = result.out + result.err
    assert "in use" not in said and "new-window failed" not in said, said
    back = wait_for(lambda: live_supervisor(fleet_dir), what="the supervisor back", explain=fleet_dir.explain)
    assert back != killed
