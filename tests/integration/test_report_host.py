"""`report --host` on a one-machine store: its one host is the whole report, another host
is a usage error (one line, exit 2). The shared-store case is in test_hosts_remote_actions."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FleetHarness

pytestmark = pytest.mark.tmux


@pytest.mark.timeout(60)
def test_report_host_on_a_sqlite_store_names_its_one_host(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 100"\n', extra_fleet='host = "alpha"')
    assert fleet_dir.run("up").code == 0
    whole = json.loads(fleet_dir.run("report", "--json").out)
    mine = json.loads(fleet_dir.run("report", "--host", "alpha", "--json").out)
    assert [a["name"] for a in mine["agents"]] == [a["name"] for a in whole["agents"]] == ["a"]
    assert mine["agents"][0]["runs_started"] == 1 and mine["totals"] == whole["totals"]
    other = fleet_dir.run("report", "--host", "beta")
    assert other.code == 2 and other.out == "", other
    assert other.err.strip().splitlines() == [
        "error: --host beta: this fleet's store is not shared; its one host is alpha "
        "(`[fleet] store` names a shared one)"
    ]
    assert fleet_dir.run("down").code == 0
