"""Secrets an agent prints are replaced with *** before fleetctl stores or shows them."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FleetHarness

pytestmark = pytest.mark.tmux

SECRET = "s3cr3t-value"


def test_a_secret_the_agent_prints_is_stored_and_shown_only_as_stars(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(f"""
    [agents.leaky]
    command = "echo failing with $API_TOKEN; exit 1"
    env = {{ API_TOKEN = "{SECRET}" }}
    min_uptime = "0.5s"
    max_respawns = 0
    """)  # fmt: skip
    up = fleet_dir.run("up")
    assert up.code != 0
    assert "failing with ***" in up.out + up.err  # the user still sees what the agent said
    shown = {
        "up": up.out + up.err,
        "events --json": fleet_dir.run("events", "--json").out,
        "status --json": fleet_dir.run("status", "--json").out,
        "status": fleet_dir.run("status").out,
        "doctor": (lambda r: r.out + r.err)(fleet_dir.run("doctor")),
        "logs": fleet_dir.run("logs", "leaky").out,
        "logs --raw": fleet_dir.run("logs", "leaky", "--raw").out,
    }
    for what, text in shown.items():
        assert SECRET not in text, what
    events = [json.loads(line) for line in shown["events --json"].splitlines()]
    assert any("failing with ***" in json.dumps(e) for e in events), shown["events --json"]
    for path in fleet_dir.state_dir().glob("fleet.db*"):
        assert SECRET.encode() not in path.read_bytes(), path
    assert "failing with ***" in shown["doctor"] and "failing with ***" in shown["logs"]
