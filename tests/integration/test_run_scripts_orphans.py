"""Run scripts that belong to no live run (a killed `up` wrote them, then never opened their
windows) hold the run's env, secrets included: the next pass deletes them."""

from __future__ import annotations

import pytest

from tests.conftest import FleetHarness

pytestmark = pytest.mark.tmux


def _orphan(h: FleetHarness) -> tuple:  # type: ignore[type-arg]
    runs = h.state_dir() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    script = runs / "0badc0ffee00.sh"
    script.write_text("{\nexport API_TOKEN=s3cr3t-left-behind\n/bin/sh -c 'sleep 1'\n}\n")
    return script


@pytest.mark.timeout(60)
def test_reconcile_deletes_a_script_of_no_run_and_keeps_the_agent(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(
        """
    [agents.a]
    command = "sleep 300"
    min_uptime = "0s"
    """
    )
    assert fleet_dir.run("up").code == 0
    pid = fleet_dir.status()["a"]["pid"]
    script = _orphan(fleet_dir)
    assert fleet_dir.run("reconcile").code == 0
    assert not script.exists()
    assert fleet_dir.status()["a"]["pid"] == pid, "the live agent is left alone"
    assert fleet_dir.run("down").code == 0


@pytest.mark.timeout(60)
def test_down_deletes_a_script_of_no_run(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(
        """
    [agents.a]
    command = "sleep 300"
    min_uptime = "0s"
    """
    )
    assert fleet_dir.run("up").code == 0
    script = _orphan(fleet_dir)
    assert fleet_dir.run("down").code == 0
    assert not script.exists()
    assert not list((fleet_dir.state_dir() / "runs").glob("*.sh"))
