"""Commands racing each other, and claimers killed mid-task: kill -9 of `down`, five `up`s at
once, `up` against `down`, ten `reconcile`s against one dead agent, and SIGKILLed task
claimers whose leases return their tasks. Trial counts as in test_kill9 (FLEETCTL_CHAOS_TRIALS)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.chaos.test_kill9 import (
    AGENTS,
    SEED,
    TRIALS,
    check_after_down,
    check_after_reconcile,
    fleet_file,
    kill9_after,
    runs_alive,
    start,
    windows,
)
from tests.conftest import FleetHarness, alive, wait_for

# `down` of three agents takes about half a second: land anywhere in it.
DOWN_KILL_WINDOW_SECONDS = (0.02, 0.6)

pytestmark = [pytest.mark.tmux, pytest.mark.chaos, pytest.mark.timeout(60 + 25 * TRIALS)]


def report(record_property: pytest.RecordProperty, summary: str) -> None:
    record_property("chaos", summary)
    print(summary)


def one_run_each(h: FleetHarness, trial: str) -> None:
    """Every agent runs, in one window, with the processes of exactly one run."""
    live = wait_for(
        lambda: (found := runs_alive(h)) and all(len(found.get(a, ())) == 1 for a in AGENTS) and found,
        timeout=5,
        what=f"{trial}: one live run per agent (seen {runs_alive(h)})",
    )
    assert isinstance(live, dict) and sorted(live) == sorted(AGENTS)
    assert sorted(windows(h)) == sorted(AGENTS), f"{trial}: windows {windows(h)}"


def test_kill9_of_down_then_down_then_up(fleet_dir: FleetHarness, record_property: pytest.RecordProperty) -> None:
    """A `down` killed half-way: the next `down` finishes the job, and `up` starts each agent once."""
    fleet_file(fleet_dir)
    rng = random.Random(SEED + 4)
    killed = 0
    started = time.monotonic()
    for i in range(TRIALS):
        assert fleet_dir.run_process("up").code == 0
        delay = rng.uniform(*DOWN_KILL_WINDOW_SECONDS)
        trial = f"trial {i} (seed {SEED + 4}, kill -9 of down at {delay:.2f}s)"
        killed += kill9_after(start(fleet_dir, "down"), delay)
        check_after_down(fleet_dir, trial)
        assert windows(fleet_dir) == [], trial
        assert fleet_dir.run_process("up").code == 0, trial
        one_run_each(fleet_dir, trial)
        check_after_down(fleet_dir, trial)
    took = time.monotonic() - started
    report(
        record_property, f"{TRIALS} trials of kill -9 of down (seed {SEED + 4}, {killed} killed mid-way) in {took:.0f}s"
    )


def test_five_concurrent_ups_start_each_agent_once(
    fleet_dir: FleetHarness, record_property: pytest.RecordProperty
) -> None:
    fleet_file(fleet_dir)
    started = time.monotonic()
    for i in range(TRIALS):
        procs = [start(fleet_dir, "up") for _ in range(5)]
        codes = [p.wait(timeout=60) for p in procs]
        trial = f"trial {i}: five concurrent ups exited {codes}"
        assert codes == [0] * 5, trial
        one_run_each(fleet_dir, trial)
        spawned = [e for e in fleet_dir.fleet().store.events() if e.kind == "spawned" and e.time >= started]
        assert len(spawned) == len(AGENTS) * (i + 1), f"{trial}: {len(spawned)} spawns"
        check_after_down(fleet_dir, trial)
    report(record_property, f"{TRIALS} trials of 5 concurrent ups in {time.monotonic() - started:.0f}s")


def test_up_racing_down_leaves_a_consistent_fleet(
    fleet_dir: FleetHarness, record_property: pytest.RecordProperty
) -> None:
    """Whichever wins, what runs is what status says, one run per agent, and one reconcile
    later every agent the store wants is running; a final down leaves nothing."""
    fleet_file(fleet_dir)
    rng = random.Random(SEED + 5)
    started = time.monotonic()
    for i in range(TRIALS):
        up = start(fleet_dir, "up")
        time.sleep(rng.uniform(0.0, 0.6))  # a random overlap, not a wait for a condition
        down = start(fleet_dir, "down")
        codes = (up.wait(timeout=60), down.wait(timeout=60))
        trial = f"trial {i} (seed {SEED + 5}): up and down exited {codes}"
        assert codes[1] == 0, trial
        live = runs_alive(fleet_dir)
        assert all(len(runs) == 1 for runs in live.values()), f"{trial}: {live}"
        check_after_reconcile(fleet_dir, trial)
        check_after_down(fleet_dir, trial)
    report(record_property, f"{TRIALS} trials of up racing down (seed {SEED + 5}) in {time.monotonic() - started:.0f}s")


def test_ten_concurrent_reconciles_respawn_a_dead_agent_once(
    fleet_dir: FleetHarness, record_property: pytest.RecordProperty
) -> None:
    fleet_file(fleet_dir)
    rng = random.Random(SEED + 6)
    assert fleet_dir.run_process("up").code == 0
    started = time.monotonic()
    for i in range(TRIALS):
        victim = rng.choice(AGENTS)
        pid = int(fleet_dir.status()[victim]["pid"])  # type: ignore[call-overload]
        before = len([e for e in fleet_dir.fleet().store.events(agent=victim) if e.kind == "respawned"])
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not alive(pid), timeout=5, what=f"{victim}'s pane process {pid} to die")  # noqa: B023
        procs = [start(fleet_dir, "reconcile") for _ in range(10)]
        codes = [p.wait(timeout=60) for p in procs]
        trial = f"trial {i} (seed {SEED + 6}, {victim} killed): ten reconciles exited {codes}"
        assert codes == [0] * 10, trial
        after = len([e for e in fleet_dir.fleet().store.events(agent=victim) if e.kind == "respawned"])
        assert after == before + 1, f"{trial}: {after - before} respawns"
        one_run_each(fleet_dir, trial)
    check_after_down(fleet_dir, "after the reconcile trials")
    report(
        record_property,
        f"{TRIALS} trials of 10 concurrent reconciles (seed {SEED + 6}) in {time.monotonic() - started:.0f}s",
    )


CLAIMER = """import json, subprocess, sys, time
config, name, work, lease = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
base = [sys.executable, "-m", "fleetctl", "-c", config, "task"]
while True:
    out = subprocess.run([*base, "next", "--agent", name, "--lease", lease], capture_output=True, text=True, check=True)
    task = json.loads(out.stdout)
    if task is None:  # nothing queued now: done when every task is, else a lease is still held
        listed = json.loads(subprocess.run([*base, "list", "--json"], capture_output=True, text=True).stdout)
        if all(t["state"] == "done" for t in listed):
            break
        time.sleep(0.1)
        continue
    print("claimed", task["id"], flush=True)
    time.sleep(work)  # the work; a killed claimer dies here, holding the lease
    done = subprocess.run([*base, "done", str(task["id"]), "--agent", name], capture_output=True, text=True)
    print("done" if done.returncode == 0 else "refused", task["id"], flush=True)
"""


def test_sigkilled_claimers_leases_return_their_tasks_and_each_task_is_done_once(
    fleet_dir: FleetHarness, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    fleet_dir.write("")
    tasks = 4 + 2 * TRIALS
    for n in range(tasks):
        assert fleet_dir.run("task", "add", f"task {n}").code == 0
    script = tmp_path / "claimer.py"
    script.write_text(CLAIMER)

    def claimer(name: str, work: float, lease: str) -> subprocess.Popen[str]:
        argv = [sys.executable, str(script), str(fleet_dir.path), name, str(work), lease]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    started = time.monotonic()
    # Each doomed claimer claims a task (all of them before any lease ends), hangs on it and is
    # SIGKILLed; the workers then take what is queued and, as the leases end, the rest.
    doomed = [claimer(f"doomed-{i}", 600, "8s") for i in range(TRIALS)]
    for proc in doomed:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until it has claimed: not a sleep
        assert line.startswith("claimed"), line
    for proc in doomed:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    workers = [claimer(f"worker-{i}", 0.05, "30s") for i in range(2)]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    done_lines = [line.split()[1] for out in outputs for line in out.splitlines() if line.startswith("done")]
    assert sorted(done_lines, key=int) == [str(n) for n in range(1, tasks + 1)], outputs
    listed = json.loads(fleet_dir.run("task", "list", "--json").out)
    assert sorted(t["state"] for t in listed) == ["done"] * tasks
    retried = [t for t in listed if t["attempt"] == 2]
    assert len(retried) == TRIALS, [(t["id"], t["attempt"]) for t in listed]  # the killed claimers' tasks
    assert all(t["attempt"] == 1 for t in listed if t not in retried)
    took = time.monotonic() - started
    report(record_property, f"{TRIALS} SIGKILLed claimers, {tasks} tasks each done once, in {took:.0f}s")
