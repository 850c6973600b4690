"""A state dir other users can read: every command that opens it says so, once, on stderr."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import FleetHarness

pytestmark = pytest.mark.tmux

AGENT = """
[agents.worker]
command = "sleep 30"
min_uptime = "200ms"

[pools.builders]
command = "sleep 30"
"""


def warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("warning: state dir")]


def open_state_dir(fleet_dir: FleetHarness, mode: int) -> None:
    state = fleet_dir.state_dir()
    state.mkdir()
    os.chmod(state, mode)  # whatever the umask


def supervise_stderr_start(fleet_dir: FleetHarness) -> str:
    """What `supervise` prints on stderr before its first pass; then it is stopped."""
    argv = [sys.executable, "-m", "fleetctl", "-c", str(fleet_dir.path), "supervise"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        out = b""
        deadline = time.monotonic() + 20
        while b"supervising fleet" not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                out += os.read(proc.stdout.fileno(), 4096)
        assert b"supervising fleet" in out, out
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    return err.decode()


@pytest.mark.timeout(90)
def test_a_state_dir_open_to_others_is_warned_about_by_each_command(
    fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet_dir.write(AGENT)
    open_state_dir(fleet_dir, 0o755)
    state = fleet_dir.state_dir()

    up = fleet_dir.run("up")
    assert up.code == 0, up
    status = fleet_dir.run("status", "--json")
    assert [row["name"] for row in json.loads(status.out)] == ["worker"], status  # stdout stays JSON
    results = {
        "up": up,
        "status --json": status,
        "status": fleet_dir.run("status"),
        "reconcile": fleet_dir.run("reconcile"),
        "task add": fleet_dir.run("task", "add", "a title"),
    }
    for command, result in results.items():
        assert warnings(result.err) == [
            f"warning: state dir {state} is open to group and other users (mode 0755): its database holds "
            f"the fleet's events, tasks and messages; run `chmod 700 {state}`"
        ], (command, result)
        assert "state dir" not in result.out, (command, result)
    assert len(warnings(supervise_stderr_start(fleet_dir))) == 1
    monkeypatch.setenv("FLEET_AGENT", "worker")  # an agent's own call: its output is the agent's to read
    from_agent = fleet_dir.run("task", "add", "from the agent")
    assert from_agent.code == 0 and from_agent.err == "", from_agent


@pytest.mark.timeout(90)
def test_a_private_state_dir_is_not_warned_about(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(AGENT)
    open_state_dir(fleet_dir, 0o700)
    results = [fleet_dir.run(*args) for args in (("up",), ("status",), ("reconcile",), ("task", "add", "a title"))]
    assert results[0].code == 0, results[0]
    for result in results:
        assert "state dir" not in result.out + result.err, result
    assert warnings(supervise_stderr_start(fleet_dir)) == []
