"""An interactive agent whose screen shows an auth error never gets past it by itself: fleetctl
shows it failed with reason auth, alerts once, respawns nothing and leaves its pane alone."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for

pytestmark = [pytest.mark.tmux, pytest.mark.timeout(60)]

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "screens"


def test_an_auth_screen_is_failed_once_with_one_alert_and_the_pane_left(
    fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    alerts = tmp_path / "alerts"
    fleet_dir.write(
        f"""
    [agents.coder]
    command = "cat {SCREENS / "claude" / "auth.txt"}; exec sleep 1000"
    kind = "claude"
    restart = "always"
    min_uptime = "0.2s"
    idle_timeout = "1s"
    """,
        extra_fleet=f'on_alert = "cat >> {alerts}; echo >> {alerts}"',
    )
    up = fleet_dir.run("up")  # it may already read the screen: then it says so and exits 1
    assert up.code == 0 or (up.code == 1 and "coder: auth: Invalid API key" in up.out), up

    def state() -> str:
        fleet_dir.run("reconcile")
        return str(fleet_dir.status()["coder"]["state"])

    wait_for(lambda: state() == "failed", what="coder failed", explain=fleet_dir.explain)
    row = fleet_dir.status()["coder"]
    assert (row["activity"], row["reason"]) == ("auth", "auth: Invalid API key · Fix external API key"), row
    past_idle = time.monotonic() + 1.5
    while time.monotonic() < past_idle:  # passes past idle_timeout: no kill, no respawn, no second alert
        assert state() == "failed"
    assert len(fleet_dir.fleet().store.records(0)["coder"].runs) == 1
    sent = [json.loads(line) for line in alerts.read_text().splitlines() if line.strip()]
    assert [(s["event"], s["reason"]) for s in sent] == [("failed", row["reason"])], sent
    panes = fleet_dir.tmux("list-panes", "-a", "-F", "#{window_name} #{pane_dead}").split("\n")
    assert "coder 0" in panes, panes
    assert "Invalid API key" in fleet_dir.tmux("capture-pane", "-p", "-t", "coder")
