"""A full disk: the state dir on a real 2 MB tmpfs, filled up. Each command either does its
whole job or changes nothing, and says which (a restart that stopped an agent and could not
start it again says so); `down` still stops everything."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, alive, pids_with_env, wait_for

pytestmark = pytest.mark.tmux


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs of our own (mounting needs root, as CI runs; skipped where it is refused)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def up_a_on(h: FleetHarness, disk: Path) -> None:
    """Agents a and b with their state on `disk`; a is started."""
    h.write(
        """
    [defaults]
    min_uptime = "0.2s"
    [agents.a]
    command = "sleep 300"
    [agents.b]
    command = "sleep 301"
    """,
        extra_fleet=f'state_dir = "{disk}"',
    )
    assert h.run("up", "a").code == 0


def fill(directory: Path) -> None:
    """Write until the file system says ENOSPC, to the last byte: a gap smaller than one
    64 KiB block would still take a run's small script."""
    with (directory / "filler").open("wb", buffering=0) as f:
        for chunk in (65536, 4096, 512, 64, 8, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * chunk)


@pytest.mark.timeout(60)
def test_full_disk_up_status_restart_change_nothing_and_down_stops_all(
    small_disk: Path, fleet_dir: FleetHarness
) -> None:
    up_a_on(fleet_dir, small_disk)
    pid = fleet_dir.status()["a"]["pid"]
    assert isinstance(pid, int)
    fill(small_disk)

    up = fleet_dir.run("up")
    assert up.code == 2 and "the disk is full" in up.err and "Traceback" not in up.err
    assert "b" not in fleet_dir.tmux("list-windows", "-F", "#{window_name}").split(), "up started b anyway"

    status = fleet_dir.status()  # reading needs no space
    assert status["a"]["state"] == "running" and status["a"]["pid"] == pid and status["b"]["state"] == "stopped"

    restart = fleet_dir.run("restart", "a")  # the stop works; the new run cannot be recorded
    # Either its script found no room, or it did (SQLite gave pages back as its write failed)
    # and the window opened unrecorded: both are said, and reconcile settles both below.
    said = ("a: stopped by this restart and not started again", "a: restarted, but the start could not be recorded")
    assert restart.code == 1 and any(line in restart.err for line in said), restart.err
    assert "disk is full" in restart.err and "fleetctl reconcile" in restart.err
    assert not alive(pid)

    (small_disk / "filler").unlink()  # space again: reconcile brings a back (after its backoff, when
    # the restart could not record its stop and the end looks like a crash)
    wait_for(
        lambda: fleet_dir.run("reconcile").code in (0, 3) and fleet_dir.status()["a"]["state"] == "running",
        timeout=15,
        what="a running again",
    )
    again = fleet_dir.status()["a"]
    assert again["pid"] != pid
    pid = again["pid"]
    assert isinstance(pid, int)

    fill(small_disk)
    down = fleet_dir.run("down")
    assert down.code == 0, down.err
    assert "a: stopped" in down.out
    # Recorded when SQLite still finds room in its files; otherwise stopped from the truth, and said so.
    assert down.err == "" or ("not recorded" in down.err and "the disk is full" in down.err), down.err
    assert not alive(pid)
    assert pids_with_env("FLEET_NAME", fleet_dir.name) == []
    assert os.path.exists(small_disk / "fleet.db"), "the database was moved aside"


@pytest.mark.timeout(60)
def test_disk_full_after_windows_opened_up_says_what_it_started_and_reconcile_adopts_it(
    small_disk: Path, fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleetctl.tmux import TmuxGateway

    up_a_on(fleet_dir, small_disk)
    opened = TmuxGateway.open_windows

    def open_then_fill(self: TmuxGateway, *args: object, **kwargs: object) -> object:
        result = opened(self, *args, **kwargs)  # type: ignore[arg-type]
        fill(small_disk)  # the disk fills up right after b's window opened
        return result

    monkeypatch.setattr(TmuxGateway, "open_windows", open_then_fill)
    up = fleet_dir.run("up", "b")
    monkeypatch.setattr(TmuxGateway, "open_windows", opened)
    assert up.code == 1 and "the disk is full" in up.err and "Traceback" not in up.err  # 1: something changed
    assert "nothing was changed" not in up.err
    windows = fleet_dir.tmux("list-panes", "-a", "-F", "#{window_name} #{pane_pid}").split("\n")
    started = [line.split()[1] for line in windows if line.startswith("b ")]
    assert started, "b's window is gone"
    assert f"started b (pid {started[0]}) but could not record it" in up.err, up.err
    assert "`fleetctl reconcile` adopts what runs" in up.err

    (small_disk / "filler").unlink()
    assert fleet_dir.run("reconcile").code == 0
    b = fleet_dir.status()["b"]
    assert b["state"] == "running" and str(b["pid"]) == started[0], "b was started a second time"
