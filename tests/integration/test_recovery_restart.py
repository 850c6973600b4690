"""A `restart` whose start fails after it stopped the agent says so, and the record blames
that restart (not `down`); the next reconcile starts the agent. Real tmux, real processes."""

from __future__ import annotations

import errno

import pytest

from fleetctl.runtime import launcher
from tests.conftest import FleetHarness, alive

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
