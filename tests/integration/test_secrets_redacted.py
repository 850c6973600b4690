"""An agent that prints its own secret: the value is masked in everything fleetctl stores or shows."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FleetHarness

pytestmark = pytest.mark.tmux

SECRET = "s3cr3t-value-8d1f"


@pytest.mark.timeout(90)
def test_a_secret_the_agent_prints_appears_nowhere(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(
        f"""
    [agents.leaky]
    command = "echo failing with $API_TOKEN; exit 1"
    min_uptime = "1s"
    max_respawns = 0
    env = {{ API_TOKEN = "{SECRET}" }}
    """
    )
    up = fleet_dir.run("up")
    assert up.code == 1, up
    assert "failing with ***" in up.out + up.err, up
    shown = [up.out, up.err]
    for args in (("events", "--json"), ("status", "--json"), ("status", "leaky"), ("logs", "leaky"), ("report",)):
        result = fleet_dir.run(*args)
        shown += [result.out, result.err]
    assert "failing with ***" in fleet_dir.run("logs", "leaky").out
    events = [json.loads(line) for line in fleet_dir.run("events", "--json").out.splitlines()]
    assert any("***" in json.dumps(e) for e in events), "the failure is still reported, masked"
    for text in shown:
        assert SECRET not in text
    for path in fleet_dir.state_dir().rglob("*"):
        if path.is_file() and path.suffix != ".log":  # the log is the pane's own bytes, never shown raw
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.timeout(120)
def test_doctor_masks_a_secret_in_what_it_quotes(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(
        f"""
    [agents.leaky]
    command = "echo Error: bad token $API_TOKEN; sleep 30"
    env = {{ API_TOKEN = "{SECRET}" }}
    """
    )
    result = fleet_dir.run("doctor", "leaky")
    assert "Error: bad token ***" in result.out + result.err, result
    assert SECRET not in result.out + result.err
