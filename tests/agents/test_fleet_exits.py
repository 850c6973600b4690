"""A real headless client under fleetctl, against the loopback mock API: aider exits 0 after a 401,
and fleetctl says auth (failed once, one alert saying auth, nothing respawned)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.mockapi import MockAPI, bad_key, clients

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.timeout(180)]


def test_aider_exit_0_after_a_401_is_auth_failed_once_with_one_alert(
    fleet_dir: FleetHarness, mock_api: MockAPI, tmp_path: Path
) -> None:
    clients.require("aider")
    mock_api.script(bad_key(times=100))
    run = clients.prepare("aider", mock_api.url, tmp_path / "home", clients.git_repo(tmp_path / "work"))
    command = shlex.join([*run.argv, "--message", "Say hello.", "--yes-always"])
    env = "\n".join(f"{key} = {json.dumps(value)}" for key, value in run.env.items())
    alerts = tmp_path / "alerts"
    fleet_dir.write(
        f"""
    [agents.aider]
    command = {json.dumps(command)}
    cwd = {json.dumps(str(run.cwd))}
    kind = "aider"
    restart = "always"
    min_uptime = "0.5s"
    backoff = "0.1s"
    [agents.aider.env]
    {env}
    """,
        extra_fleet=f'on_alert = "cat >> {alerts}; echo >> {alerts}"',
    )
    fleet_dir.run("up")

    # its screen may show the auth error (failed) a moment before it exits 0 (the run's class)
    def failed() -> bool:
        fleet_dir.run("reconcile")
        row = fleet_dir.status()["aider"]
        return row["state"] == "failed" and row["failure_class"] is not None

    wait_for(failed, timeout=150, interval=0.5, what="aider to fail and exit", explain=fleet_dir.explain)
    row = fleet_dir.status()["aider"]
    assert row["failure_class"] == "auth", row
    assert "auth" in str(row["reason"]) and "authenticate" in str(row["reason"]), row
    fleet_dir.run("reconcile")
    runs = fleet_dir.fleet().store.records(0)["aider"].runs
    assert len(runs) == 1  # never respawned
    wait_for(lambda: alerts.exists() and alerts.read_text().strip(), what="the alert")
    sent = [json.loads(line) for line in alerts.read_text().splitlines() if line.strip()]
    assert len(sent) == 1 and "auth" in sent[0]["reason"], sent
