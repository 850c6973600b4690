"""Nothing escapes `down`: a process that leaves its group and clears its environment stays in
its run's tree (the wrapper is a child subreaper), so the stops that walk the tree end it."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, alive, wait_for

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are Linux only"),
]

# In a subshell that exits at once: the escaped process is orphaned straight away, in its
# own session, with no FLEET_* variable left. It writes its pid for the test.
ESCAPE = "(setsid env -i sh -c 'echo $$ > {pidfile}; exec sleep 300' &)"


def read_pid(path: Path) -> int:
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text.isdigit() else 0


@pytest.fixture
def escaped(tmp_path: Path) -> Iterator[Path]:
    """The pid file the escaping process writes; that process (and only it) is killed afterwards."""
    pidfile = tmp_path / "escaped.pid"
    yield pidfile
    pid = read_pid(pidfile)
    if pid and alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[1])


@pytest.mark.timeout(60)
def test_down_kills_a_process_that_left_its_group_and_env(fleet_dir: FleetHarness, escaped: Path) -> None:
    fleet_dir.write(f"""
    [agents.evasive]
    command = "{ESCAPE.format(pidfile=escaped)}; exec sleep 1000"
    min_uptime = "0s"
    """)
    assert fleet_dir.run("up").code == 0
    pid = wait_for(lambda: read_pid(escaped), timeout=10, what="the escaped process's pid")
    assert isinstance(pid, int) and alive(pid)
    pane_pid = fleet_dir.status()["evasive"]["pid"]
    # Its parent exited: it was re-parented to the wrapper (the pane's process), not to init.
    assert parent_of(pid) == pane_pid
    assert fleet_dir.run("down").code == 0
    wait_for(lambda: not alive(pid), timeout=10, what=f"the escaped process {pid} to be gone after down")


@pytest.mark.timeout(60)
def test_a_run_that_ends_takes_its_escaped_leftovers_with_it(fleet_dir: FleetHarness, escaped: Path) -> None:
    fleet_dir.write(f"""
    [agents.once]
    command = "{ESCAPE.format(pidfile=escaped)}; sleep 0.5; exit 0"
    min_uptime = "0s"
    restart = "never"
    """)
    assert fleet_dir.run("up").code == 0
    pid = wait_for(lambda: read_pid(escaped), timeout=10, what="the escaped process's pid")
    assert isinstance(pid, int)
    wait_for(lambda: not alive(pid), timeout=10, what=f"the run's leftover {pid} to end with the run")


@pytest.mark.timeout(60)
def test_down_kills_an_escaped_process_whose_wrapper_was_killed(fleet_dir: FleetHarness, escaped: Path) -> None:
    """The wrapper (the subreaper) is SIGKILLed from outside: its orphan goes to init, out of every
    tree, group and environment the sweeps know. The fleet's cgroup still holds it."""
    from fleetctl import cgroups

    fleet_dir.write(f"""
    [agents.evasive]
    command = "{ESCAPE.format(pidfile=escaped)}; exec sleep 1000"
    min_uptime = "0s"
    restart = "never"
    """)
    assert fleet_dir.run("up").code == 0
    record = fleet_dir.state_dir() / cgroups.RECORD
    if not record.exists():
        pytest.skip("no cgroup v2 subtree can be made here (needs root or a delegated user scope)")
    fleet_cgroup = Path(record.read_text().strip())
    pid = wait_for(lambda: read_pid(escaped), timeout=10, what="the escaped process's pid")
    assert isinstance(pid, int)
    os.kill(fleet_dir.status()["evasive"]["pid"], signal.SIGKILL)
    wait_for(lambda: parent_of(pid) != fleet_dir.status()["evasive"]["pid"], what="the orphan to leave the tree")
    assert pid in cgroups.pids(fleet_dir.state_dir())
    assert fleet_dir.run("down").code == 0
    wait_for(lambda: not alive(pid), timeout=5, what="the escaped process to be gone")
    assert not fleet_cgroup.exists(), "down left the fleet's cgroup behind"
