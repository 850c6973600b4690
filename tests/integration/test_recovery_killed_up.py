"""An `up` that dies after opening its windows but before recording (or verifying) the runs:
the live agents are adopted by the next command, never reported as stopped by `down` and
never started a second time. Real tmux, real processes."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.conftest import FleetHarness, alive, wait_for

pytestmark = pytest.mark.tmux

AGENTS = """
[agents.w]
command = "sleep 300"
replicas = 3
min_uptime = "0.3s"
"""
NAMES = ("w-1", "w-2", "w-3")


class Killed(BaseException):
    """Stands for the SIGKILL: nothing after it runs, no handler sees it."""


def windows(h: FleetHarness) -> dict[str, int]:
    """Each agent window's pane pid, as tmux shows it."""
    out = h.tmux("list-panes", "-a", "-F", "#{window_name} #{pane_pid} #{pane_dead}")
    return {n: int(p) for n, p, dead in (line.split() for line in out.splitlines()) if n in NAMES and dead == "0"}


def spawned(h: FleetHarness) -> int:
    return sum(1 for e in h.fleet().store.events() if e.kind in ("spawned", "respawned"))


def assert_adopted(h: FleetHarness, pids: dict[str, int]) -> None:
    rows = h.status()
    for name in NAMES:
        row = rows[name]
        assert row["pid"] == pids[name], rows
        assert row["state"] in ("running", "starting"), rows
        assert "fleetctl down" not in str(row["reason"]), rows
    before = spawned(h)
    result = h.run("reconcile")
    assert result.code == 0, result
    assert windows(h) == pids  # the same processes in the same windows
    assert all(alive(p) for p in pids.values())
    assert spawned(h) == before  # nothing was started a second time
    assert {row["pid"] for row in h.status().values()} == set(pids.values())


def test_an_up_that_dies_before_recording_its_runs(fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """After up + down, a second `up` opens the windows and dies before recording any run. The
    new tmux server numbers its panes from %1 again, the ids the runs that `down` ended had."""
    fleet_dir.write(AGENTS)
    assert fleet_dir.run("up").code == 0
    assert fleet_dir.run("down").code == 0
    fleet = fleet_dir.fleet()

    def die(*_args: object) -> None:
        raise Killed

    monkeypatch.setattr(fleet.store, "add_run", die)
    with pytest.raises(Killed):
        fleet.up()
    fleet.store.close()
    pids = windows(fleet_dir)
    assert sorted(pids) == list(NAMES)
    assert_adopted(fleet_dir, pids)


def test_an_up_killed_once_its_windows_exist(fleet_dir: FleetHarness) -> None:
    """SIGKILL of a real `up` process as soon as tmux shows its windows (before or after it
    recorded the runs: either way the agents run once and are kept)."""
    fleet_dir.write(AGENTS)
    assert fleet_dir.run("up").code == 0
    assert fleet_dir.run("down").code == 0
    argv = [sys.executable, "-m", "fleetctl", "-c", str(fleet_dir.path), "up"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(windows(fleet_dir)) == len(NAMES), timeout=20, interval=0.002, what="the windows")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    pids = windows(fleet_dir)
    assert sorted(pids) == list(NAMES)
    assert_adopted(fleet_dir, pids)
