"""A `restart` whose start fails after it stopped the agent says so, and the record blames
that restart (not `down`); the next reconcile starts the agent. Real tmux, real processes."""

from __future__ import annotations

import errno

import pytest

from fleetctl.runtime import launcher
from tests.conftest import FleetHarness, alive, wait_for

pytestmark = pytest.mark.tmux


def test_a_restart_that_cannot_start_again_says_it_stopped_the_agent(
    fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet_dir.write("""
    [agents.w]
    command = "sleep 300"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0
    first = fleet_dir.status()["w"]["pid"]
    assert isinstance(first, int)

    def full(*_args: object, **_kwargs: object) -> object:  # the run script cannot be written
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(launcher, "window_request", full)
        result = fleet_dir.run("restart", "w")

    assert result.code == 1, result
    assert "w: stopped by this restart and not started again" in result.err, result
    assert "No space left on device" in result.err and "Traceback" not in result.err
    assert not alive(first)
    row = fleet_dir.status()["w"]
    assert "down" not in str(row["reason"]), row
    last = fleet_dir.fleet().store.records(since=0)["w"].current
    assert last is not None and last.stopped_by == "restart"

    assert fleet_dir.run("reconcile").code == 0
    again = fleet_dir.status()["w"]
    assert again["state"] in ("running", "starting") and again["pid"] not in (None, first), again


def test_restart_starts_an_agent_whose_run_is_over_but_not_a_failed_one(fleet_dir: FleetHarness) -> None:
    """As supervisorctl and pm2 do: a completed agent starts again on `restart`; a failed
    one is left for `reset` (as `up` leaves it), and says so."""
    fleet_dir.write("""
    [agents.done]
    command = "echo one run; sleep 0.5"
    restart = "never"
    min_uptime = "0.2s"

    [agents.broken]
    command = "sleep 0.5; exit 3"
    restart = "never"
    min_uptime = "0.2s"
    """)
    assert fleet_dir.run("up").code == 0

    def settled() -> bool:  # a pass recorded both ends: done completed, broken failed (restart = never)
        fleet_dir.run("reconcile")
        records = fleet_dir.fleet().store.records(0.0)
        return records["broken"].failed and fleet_dir.status()["done"]["state"] == "completed"

    wait_for(settled, what="both runs over and recorded")
    runs_before = len(fleet_dir.fleet().store.records(0.0)["done"].runs)

    result = fleet_dir.run("restart", "done")
    assert result.code == 0, result
    row = fleet_dir.status()["done"]
    assert row["state"] in ("running", "completed") and len(fleet_dir.fleet().store.records(0.0)["done"].runs) == 2
    assert runs_before == 1
    spawned = [e for e in fleet_dir.fleet().store.events() if e.kind == "spawned" and e.agent == "done"]
    assert [e.reason for e in spawned][-1] == "restart"

    refused = fleet_dir.run("restart", "broken")
    assert refused.code == 1 and "fleetctl reset broken" in refused.out + refused.err, refused
    assert fleet_dir.status()["broken"]["state"] == "failed"
    assert len(fleet_dir.fleet().store.records(0.0)["broken"].runs) == 1  # not started
