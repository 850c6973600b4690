"""The tmux gateway against real tmux: window placement, failed windows in a batch."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fleetctl import plan as planner
from fleetctl.tmux import TmuxGateway, WindowRequest
from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

CRASH_LOOP = """
[agents.a]
command = "sleep 1.5; exit 3"
restart = "always"
backoff = "100ms"
min_uptime = "300ms"
max_respawns = 1000
[agents.b]
command = "sleep 1.5; exit 3"
restart = "always"
backoff = "100ms"
min_uptime = "300ms"
max_respawns = 1000
"""


def panes(h: FleetHarness) -> list[tuple[str, int, bool]]:
    """(window name, pane pid, dead) of every pane of the fleet's server."""
    rows = []
    for line in h.tmux("list-panes", "-a", "-F", "#{window_name} #{pane_pid} #{pane_dead}").splitlines():
        name, pid, dead = line.split()
        rows.append((name, int(pid), dead == "1"))
    return rows


def due(h: FleetHarness) -> set[str]:
    """The agents the next pass would start."""
    plan = h.fleet().views()[0]
    return {a.agent for a in plan.actions if isinstance(a, planner.Spawn)}


def live_supervisor(h: FleetHarness) -> int | None:
    return next((pid for name, pid, dead in panes(h) if name == "_supervisor" and not dead), None)


@pytest.mark.timeout(90)
def test_reconcile_restarts_a_killed_supervisor_while_agents_crash_loop(fleet_dir: FleetHarness) -> None:
    """The supervisor is killed after it recorded the agents' crashes, before their backoff ran
    out: the next pass both respawns them and reopens the supervisor's window, whose place
    must not be an index the respawned agents took meanwhile (issue 16, point 1)."""
    fleet_dir.write(CRASH_LOOP, supervisor=True)
    fleet_dir.run("up")
    killed = wait_for(lambda: live_supervisor(fleet_dir), what="the supervise loop", explain=fleet_dir.explain)
    os.kill(killed, signal.SIGKILL)  # type: ignore[arg-type]
    wait_for(lambda: live_supervisor(fleet_dir) is None, what="the supervisor's pane to die")
    # With nobody supervising, both agents end within ~2 s and stay dead.
    wait_for(
        lambda: all(dead for name, _, dead in panes(fleet_dir) if name in ("a", "b")),
        timeout=15,
        what="both agents to end unsupervised",
        explain=fleet_dir.explain,
    )
    # What the supervisor did before it died: one pass records both ends (and a backoff).
    fleet = fleet_dir.fleet()
    with fleet.store.lock():
        fleet.tick(supervisor=False)
    wait_for(lambda: due(fleet_dir) == {"a", "b"}, what="both respawns to be due", explain=fleet_dir.explain)
    result = fleet_dir.run("reconcile")
    said = result.out + result.err
    assert "in use" not in said and "new-window failed" not in said, said
    back = wait_for(lambda: live_supervisor(fleet_dir), what="the supervisor back", explain=fleet_dir.explain)
    assert back != killed


def request(name: str, tmp_path: Path, *argv: str) -> WindowRequest:
    return WindowRequest(name=name, argv=argv or ("sleep", "100"), cwd=str(tmp_path))


def windows(gateway: TmuxGateway) -> dict[str, str]:
    """Window name -> window id of the gateway's session, as tmux lists them."""
    lines = gateway.server.cmd("list-windows", "-t", f"={gateway.session}", "-F", "#{window_name} #{window_id}").stdout
    return dict(line.split() for line in lines)


def test_a_window_tmux_refuses_does_not_keep_the_others_from_opening(gateway: TmuxGateway, tmp_path: Path) -> None:
    # tmux refuses a command longer than its client message ("command too long").
    huge = request("huge", tmp_path, "sleep", "100", "x" * 20_000)
    batch = [huge, request("a", tmp_path), request("b", tmp_path), request("c", tmp_path)]
    result = gateway.open_windows(batch)
    assert {w.name for w in result.opened} == {"a", "b", "c"}
    assert [(f.name, f.reason) for f in result.failed] == [("huge", "command too long")]
    listed = windows(gateway)
    assert "huge" not in listed
    assert {w.name: w.window_id for w in result.opened} == {k: v for k, v in listed.items() if k in "abc"}


def test_windows_open_with_their_pipes_after_whatever_indexes_are_taken(gateway: TmuxGateway, tmp_path: Path) -> None:
    """Indexes taken by someone else between a look and the opening do not matter."""
    for index in (1, 2, 5):
        gateway.server.cmd("new-window", "-d", "-t", f"={gateway.session}:{index}", "-n", f"other{index}", "sleep 100")
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    batch = [
        WindowRequest(
            name=name, argv=("sh", "-c", f"echo hello {name}; sleep 100"), cwd=str(tmp_path), pipe=f"exec cat >> {log}"
        )
        for name, log in logs.items()
    ]
    calls = gateway.calls
    result = gateway.open_windows(batch, close_first=[windows(gateway)["other5"]])
    assert gateway.calls - calls == 1  # the whole batch, its pipes and the closing: one tmux call
    assert not result.failed and {w.name for w in result.opened} == {"a", "b"}
    assert set(windows(gateway)) == {"_fleet", "other1", "other2", "a", "b"}
    for name, log in logs.items():
        said = f"hello {name}"
        wait_for(lambda log=log, said=said: log.exists() and said in log.read_text(), what=f"{name}'s log")


def test_doctor_names_a_tmux_older_than_3_2a(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    real = shutil.which("tmux")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "tmux").write_text(f'#!/bin/sh\n[ "$1" = -V ] && {{ echo "tmux 3.1c"; exit 0; }}\nexec {real} "$@"\n')
    (shim / "tmux").chmod(0o755)
    fleet_dir.write('[agents.a]\ncommand = "sleep 100"\n')
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    argv = [sys.executable, "-m", "fleetctl", "-c", str(fleet_dir.path), "doctor"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc
    lines = [line for line in proc.stdout.splitlines() if line.split()[1:2] == ["tmux"]]
    assert lines == ["FAIL  tmux             tmux 3.1c is too old; fleetctl needs tmux >= 3.2a"], proc.stdout
    assert "Traceback" not in proc.stderr
    ok = fleet_dir.run("doctor", "--json")
    tmux_check = next(c for c in json.loads(ok.out) if c["check"] == "tmux")
    assert tmux_check["ok"] and tmux_check["detail"].startswith("tmux 3."), tmux_check
