"""The shared store's password, printed by an agent that inherited it: masked everywhere it is shown."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import FleetHarness

pytestmark = pytest.mark.tmux

PASSWORD = "pg-pw-7c2e9a"  # the test cluster trusts every connection: any password works


@pytest.fixture
def on_pg(fleet_dir: FleetHarness, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FleetHarness]:
    """A fleet on a PostgreSQL store whose URL, with its password, comes from FLEETCTL_STORE_URL."""
    monkeypatch.setenv("FLEETCTL_STORE_URL", pg_url.replace("://fleet@", f"://fleet:{PASSWORD}@"))
    yield fleet_dir
    subprocess.run(["tmux", "-L", f"fleetctl-{fleet_dir.name}-alpha", "kill-server"], capture_output=True, check=False)


@pytest.mark.timeout(90)
def test_the_store_password_an_agent_prints_appears_nowhere(on_pg: FleetHarness) -> None:
    on_pg.write(
        """
    [agents.leaky]
    command = "echo failing with $FLEETCTL_STORE_URL; exit 1"
    min_uptime = "1s"
    max_respawns = 0
    """,
        extra_fleet='host = "alpha"',
    )
    up = on_pg.run("up")
    assert up.code == 1, up
    failure = [line for line in (up.out + up.err).splitlines() if line.startswith("leaky:")]
    assert len(failure) == 1 and "failing with postgresql://fleet:***@127.0.0.1:" in failure[0], up
    shown = [up.out, up.err]
    for args in (("events", "--json"), ("status", "--json"), ("status", "leaky"), ("logs", "leaky"), ("report",)):
        result = on_pg.run(*args)
        assert result.code in (0, 1), (args, result)
        shown += [result.out, result.err]
    assert "failing with postgresql://fleet:***@" in on_pg.run("logs", "leaky").out
    events = on_pg.run("events", "--json").out.splitlines()
    assert any("failing with postgresql://fleet:***@" in json.dumps(json.loads(e)) for e in events), events
    for text in shown:
        assert PASSWORD not in text
