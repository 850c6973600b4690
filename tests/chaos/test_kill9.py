"""kill -9 of `up` and `reconcile` at seeded random moments, then what the user types next.

After every trial: no agent runs twice (one window, one run's processes per agent), every
agent runs after one `reconcile`, no run script holds a secret, and nothing the fleet
started is alive after `down`. A handful of trials in the default suite; set
FLEETCTL_CHAOS_TRIALS (and FLEETCTL_CHAOS_SEED) for a nightly run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, alive, pids_with_env, wait_for

TRIALS = int(os.environ.get("FLEETCTL_CHAOS_TRIALS", "3"))
SEED = int(os.environ.get("FLEETCTL_CHAOS_SEED", "16"))
SECRET = "s3cr3t-chaos-value"
AGENTS = ("a", "b", "c")
# Long enough to land anywhere in a command: while Python starts, while the scripts are
# written, while tmux opens the windows, while the runs are verified.
KILL_WINDOW_SECONDS = (0.05, 1.2)

pytestmark = [pytest.mark.tmux, pytest.mark.chaos, pytest.mark.timeout(40 + 25 * TRIALS)]


def fleet_file(h: FleetHarness) -> None:
    body = "".join(
        f'[agents.{name}]\ncommand = "sleep 600"\nmin_uptime = "0.3s"\nbackoff = "0s"\nmax_respawns = 1000\n'
        f'env = {{ API_TOKEN = "{SECRET}" }}\n'
        for name in AGENTS
    )
    h.write(body)


def start(h: FleetHarness, *args: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "fleetctl", "-c", str(h.path), *args]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill9_after(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL the command `delay` seconds in (True), unless it finished first (False)."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def runs_alive(h: FleetHarness) -> dict[str, set[str]]:
    """Each agent's runs that have a live process, read from the processes' own env."""
    out: dict[str, set[str]] = {}
    for pid in pids_with_env("FLEET_NAME", h.name):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        except OSError:
            continue
        agent, run = env.get(b"FLEET_AGENT"), env.get(b"FLEET_RUN")
        if agent and run and alive(pid):
            out.setdefault(agent.decode(), set()).add(run.decode())
    return out


def windows(h: FleetHarness) -> list[str]:
    return [w for w in h.tmux("list-windows", "-a", "-F", "#{window_name}").split() if not w.startswith("_")]


def scripts_with_secret(h: FleetHarness) -> list[Path]:
    runs = h.state_dir() / "runs"
    found = []
    for path in runs.glob("*.sh") if runs.exists() else ():
        try:
            if SECRET.encode() in path.read_bytes():
                found.append(path)
        except OSError:
            continue  # deleted while we looked
    return found


def wanted(h: FleetHarness) -> list[str]:
    """The agents the store wants running (a `up` killed early may not have said so yet)."""
    fleet = h.fleet()
    try:
        records = fleet.store.records(since=0.0) if fleet.store.path.exists() else {}
    finally:
        fleet.store.close()
    return sorted(name for name, record in records.items() if record.desired == "running")


def check_after_reconcile(h: FleetHarness, trial: str) -> None:
    result = h.run_process("reconcile")
    states = {name: row["state"] for name, row in h.status().items()}
    assert result.code == 0, f"{trial}: reconcile exited {result.code}: {result.out}{result.err}\n{h.explain()}"
    running = wanted(h)
    # What the killed command had not yet asked for stays stopped, with no window.
    expected = {name: "running" if name in running else "stopped" for name in AGENTS}
    assert states == expected, f"{trial}: after one reconcile: {states}\n{h.explain()}"
    assert sorted(windows(h)) == running, f"{trial}: windows {windows(h)}"
    if running != sorted(AGENTS):  # the user's next command: `up` again
        assert h.run_process("up").code == 0, f"{trial}: up after the killed up\n{h.explain()}"
        assert sorted(windows(h)) == sorted(AGENTS), f"{trial}: windows {windows(h)}"
    # Each agent's processes belong to one run, the one status reports.
    live = wait_for(
        lambda: (found := runs_alive(h)) and all(len(found.get(a, ())) == 1 for a in AGENTS) and found,
        timeout=5,
        what=f"{trial}: one live run per agent (seen {runs_alive(h)})",
    )
    assert isinstance(live, dict) and sorted(live) == sorted(AGENTS)
    assert scripts_with_secret(h) == [], f"{trial}: run scripts still hold the secret"


def check_after_down(h: FleetHarness, trial: str) -> None:
    result = h.run_process("down")
    assert result.code == 0, f"{trial}: down exited {result.code}: {result.out}{result.err}"
    wait_for(
        lambda: not pids_with_env("FLEET_NAME", h.name) and not h.processes(),
        timeout=5,
        what=f"{trial}: nothing the fleet started alive after down",
        explain=lambda: f"FLEET_NAME: {pids_with_env('FLEET_NAME', h.name)}, under its server: {h.processes()}",
    )
    assert scripts_with_secret(h) == [], f"{trial}: run scripts hold the secret after down"


def test_kill9_of_up_then_reconcile_then_down(fleet_dir: FleetHarness, record_property: pytest.RecordProperty) -> None:
    fleet_file(fleet_dir)
    rng = random.Random(SEED)
    killed = 0
    started = time.monotonic()
    for i in range(TRIALS):
        delay = rng.uniform(*KILL_WINDOW_SECONDS)
        trial = f"trial {i} (seed {SEED}, kill -9 of up at {delay:.2f}s)"
        killed += kill9_after(start(fleet_dir, "up"), delay)
        check_after_reconcile(fleet_dir, trial)
        check_after_down(fleet_dir, trial)
    summary = (
        f"{TRIALS} trials of kill -9 of up (seed {SEED}, {killed} killed mid-way) in {time.monotonic() - started:.0f}s"
    )
    record_property("chaos", summary)
    print(summary)


def test_kill9_of_reconcile_respawning_then_reconcile_then_down(
    fleet_dir: FleetHarness, record_property: pytest.RecordProperty
) -> None:
    fleet_file(fleet_dir)
    rng = random.Random(SEED + 1)
    killed = 0
    started = time.monotonic()
    for i in range(TRIALS):
        assert fleet_dir.run_process("up").code == 0
        # An agent dies: the reconcile that respawns it is the one killed.
        victim = rng.choice(AGENTS)
        pid = int(fleet_dir.status()[victim]["pid"])  # type: ignore[call-overload]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not alive(pid), timeout=5, what=f"{victim}'s pane process {pid} to die")  # noqa: B023
        delay = rng.uniform(*KILL_WINDOW_SECONDS)
        trial = f"trial {i} (seed {SEED + 1}, {victim} killed, kill -9 of reconcile at {delay:.2f}s)"
        killed += kill9_after(start(fleet_dir, "reconcile"), delay)
        check_after_reconcile(fleet_dir, trial)
        check_after_down(fleet_dir, trial)
    summary = (
        f"{TRIALS} trials of kill -9 of reconcile (seed {SEED + 1}, {killed} killed mid-way)"
        f" in {time.monotonic() - started:.0f}s"
    )
    record_property("chaos", summary)
    print(summary)


def test_kill9_of_up_then_down(fleet_dir: FleetHarness, record_property: pytest.RecordProperty) -> None:
    """The user gives up on a killed `up`: `down` alone must leave nothing running and no secret
    on disk, whatever the killed `up` had opened without recording it."""
    fleet_file(fleet_dir)
    rng = random.Random(SEED + 2)
    killed = 0
    started = time.monotonic()
    for i in range(TRIALS):
        delay = rng.uniform(*KILL_WINDOW_SECONDS)
        killed += kill9_after(start(fleet_dir, "up"), delay)
        check_after_down(fleet_dir, f"trial {i} (seed {SEED + 2}, kill -9 of up at {delay:.2f}s)")
        assert windows(fleet_dir) == []
    took = time.monotonic() - started
    summary = f"{TRIALS} trials of kill -9 of up then down (seed {SEED + 2}, {killed} killed mid-way) in {took:.0f}s"
    record_property("chaos", summary)
    print(summary)


def supervisor_pid(h: FleetHarness) -> int:
    panes = h.tmux("list-panes", "-a", "-F", "#{window_name} #{pane_pid} #{pane_dead}").splitlines()
    return next((int(p.split()[1]) for p in panes if p.startswith("_supervisor ") and p.endswith(" 0")), 0)


def test_kill9_of_supervise_then_reconcile_then_down(
    fleet_dir: FleetHarness, record_property: pytest.RecordProperty
) -> None:
    """The supervise loop is killed while an agent needs a respawn: one reconcile brings back
    both the agent and the loop."""
    body = "".join(
        f'[agents.{name}]\ncommand = "sleep 600"\nmin_uptime = "0.3s"\nbackoff = "0s"\nmax_respawns = 1000\n'
        for name in AGENTS
    )
    fleet_dir.write(body, supervisor=True)
    rng = random.Random(SEED + 3)
    started = time.monotonic()
    for i in range(TRIALS):
        assert fleet_dir.run_process("up").code == 0
        loop = wait_for(lambda: supervisor_pid(fleet_dir), timeout=10, what="the supervise loop")
        assert isinstance(loop, int)
        time.sleep(rng.uniform(0.0, 0.5))  # a random moment in the loop's life, not a wait for a condition
        os.kill(loop, signal.SIGKILL)
        victim = rng.choice(AGENTS)
        pid = int(fleet_dir.status()[victim]["pid"])  # type: ignore[call-overload]
        os.kill(pid, signal.SIGKILL)
        trial = f"trial {i} (seed {SEED + 3}, supervisor and {victim} killed)"
        check_after_reconcile(fleet_dir, trial)
        assert supervisor_pid(fleet_dir), f"{trial}: the supervise loop is not back after one reconcile"
        check_after_down(fleet_dir, trial)
    took = time.monotonic() - started
    summary = f"{TRIALS} trials of kill -9 of supervise (seed {SEED + 3}) in {took:.0f}s"
    record_property("chaos", summary)
    print(summary)
