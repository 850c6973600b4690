"""Issue 4 acceptance for pools: real tmux, real git, real processes, the real supervise loop."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from fleetctl.model import TaskState
from tests.conftest import EXAMPLES, FleetHarness, pids_with_env, wait_for

pytestmark = pytest.mark.tmux

AGENT = f"{sys.executable} {EXAMPLES / 'task_agent.py'} --task-file {{task_file}} --workdir {{workspace}}"
FINAL = {"done", "failed", "needs-review", "needs-human", "cancelled"}


def start(h: FleetHarness, pool: str, *, env: str = "", extra_fleet: str = "") -> None:
    """Write a pool-only fleet and bring up its supervise loop (in its own tmux window)."""
    h.write(
        f'[pools.coder]\ncommand = "{AGENT}"\n{pool}\n' + (f"[pools.coder.env]\n{env}\n" if env else ""),
        supervisor=True,
        extra_fleet=extra_fleet,
    )
    result = h.run("up")
    assert result.code == 0, result
    wait_for(lambda: "_supervisor" in h.tmux("list-windows", "-F", "#{window_name}"), what="the supervise loop")


def tasks(h: FleetHarness) -> dict[int, dict[str, object]]:
    return {t["id"]: t for t in json.loads(h.run("task", "list", "--json").out)}


def all_final(h: FleetHarness, n: int) -> bool:
    current = tasks(h)
    return len(current) == n and all(t["state"] in FINAL for t in current.values())


def events(h: FleetHarness, kind: str) -> list:  # type: ignore[type-arg]
    return [e for e in h.fleet().store.events() if e.kind == kind]


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_200_tasks_on_4_slots_end_final_each_run_once(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    start(
        fleet_dir,
        'slots = 4\nmax_attempts = 3\ngate = "test $(( {task_id} % 10 )) -ne 7"\nbreaker_threshold = 1000',
        env=f'TASK_AGENT_FAIL_RATE = "0.3"\nTASK_AGENT_LEDGER = "{ledger}"',
    )
    lines = [json.dumps({"title": f"task {i}" + (" [done-cli]" if i % 25 == 0 else "")}) for i in range(200)]
    (tmp_path / "backlog.jsonl").write_text("\n".join(lines) + "\n")
    assert fleet_dir.run("task", "import", str(tmp_path / "backlog.jsonl")).code == 0
    running_max = 0

    def finished() -> bool:
        nonlocal running_max
        panes = fleet_dir.tmux("list-panes", "-s", "-F", "#{window_name} #{pane_dead}").splitlines()
        running_max = max(running_max, sum(1 for p in panes if p.startswith("coder.") and p.endswith(" 0")))
        return all_final(fleet_dir, 200)

    wait_for(finished, timeout=130, interval=0.2, what="200 tasks to end")
    final = tasks(fleet_dir)
    states = Counter(t["state"] for t in final.values())
    assert set(states) <= {"done", "needs-review", "needs-human"}, states
    assert states["done"] > 100 and states["needs-review"] > 0, states
    assert not (ledger / "duplicates").exists()  # no task ever ran twice at once
    assert 0 < running_max <= 4  # live task windows never exceed the pool's slots
    claimed = Counter(e.data["task"] for e in events(fleet_dir, "task-claimed"))
    runs = Counter(int(line.split()[0]) for line in (ledger / "runs").read_text().splitlines())
    for tid, task in final.items():
        assert claimed[tid] == task["attempt"] == runs[tid], (tid, task)
        if task["state"] == "needs-human":
            assert task["attempt"] == 3 and "3 of 3 attempts failed" in str(task["reason"])
    assert all(final[i]["state"] == "needs-review" for i in final if i % 10 == 7 and final[i]["state"] != "needs-human")
    done_cli = [t for t in final.values() if "[done-cli]" in str(t["title"]) and t["state"] == "done"]
    assert done_cli and all(t["result"] == f"RESULT-{t['id']}.txt" for t in done_cli)


@pytest.mark.timeout(60)
def test_a_hanging_agent_is_killed_at_wall_timeout_then_needs_human(fleet_dir: FleetHarness) -> None:
    start(fleet_dir, 'slots = 1\nwall_timeout = "1s"\nmax_attempts = 2\nstop_timeout = "1s"')
    tid = int(fleet_dir.run("task", "add", "wait forever [hang]").out)
    wait_for(lambda: tasks(fleet_dir)[tid]["state"] == "needs-human", timeout=30, what="needs-human")
    show = json.loads(fleet_dir.run("task", "show", str(tid), "--json").out)
    assert show["attempt"] == 2
    assert [a["outcome"] for a in show["attempts"]] == ["requeued", "needs-human"]
    assert all("wall: ran" in a["reason"] and "over wall_timeout 1s" in a["reason"] for a in show["attempts"])
    assert "2 of 2 attempts failed; last: wall: ran" in show["reason"]
    killed = events(fleet_dir, "task-killed")
    assert len(killed) == 2 and "waiting for something that never comes" in killed[0].data["output"]
    for e in killed:
        assert pids_with_env("FLEET_RUN", str(e.data["run"])) == []  # the whole group is gone
    assert [e.reason for e in events(fleet_dir, "alert")][-1].startswith("needs-human: task 1: 2 of 2 attempts")


@pytest.mark.timeout(60)
def test_breaker_opens_after_identical_failures_and_pauses_dispatch(fleet_dir: FleetHarness) -> None:
    start(fleet_dir, 'slots = 1\nmax_attempts = 1\nbreaker_threshold = 2\nbreaker_cooldown = "1h"')
    for i in range(5):
        fleet_dir.run("task", "add", f"broken {i} [fail]")
    wait_for(
        lambda: events(fleet_dir, "breaker-opened"), timeout=30, what="the breaker to open", explain=fleet_dir.explain
    )
    opened = events(fleet_dir, "breaker-opened")[0]
    assert opened.reason == "2 consecutive failures: exited with code 3: Error: simulated failure of task N"
    breaker_alerts = [e.reason for e in events(fleet_dir, "alert") if e.reason.startswith("breaker")]
    assert breaker_alerts == [f"breaker-open: dispatch paused: {opened.reason}"]  # one alert
    fleet_dir.run("task", "add", "one more", "--priority", "0")  # wakes the loop: still nothing is dispatched
    fleet_dir.run("reconcile")
    states = Counter(t["state"] for t in tasks(fleet_dir).values())
    assert states == {"needs-human": 2, "queued": 4}, states
    assert fleet_dir.run("reset", "coder").code == 0
    wait_for(
        lambda: tasks(fleet_dir)[6]["state"] == "done",
        timeout=30,
        what="dispatch to resume after reset",
        explain=fleet_dir.explain,
    )


@pytest.mark.timeout(60)
def test_worktree_per_task_and_a_failing_worktree_never_blocks(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (repo / "README").write_text("hi\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    start(fleet_dir, f'slots = 2\nworkspace = "worktree"\nrepo = "{repo}"\nmax_attempts = 1')
    tid = int(fleet_dir.run("task", "add", "write a result").out)
    wait_for(lambda: tasks(fleet_dir)[tid]["state"] == "done", timeout=30, what="the task to finish")
    workspace = fleet_dir.state_dir() / "worktrees" / "coder" / str(tid)
    assert (workspace / f"RESULT-{tid}.txt").read_text() == "write a result\n"
    assert (workspace / "README").exists()
    branch = subprocess.run(
        ["git", "-C", str(workspace), "branch", "--show-current"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert branch == f"fleet/{tid}"
    # A branch that is checked out elsewhere makes `git worktree add` fail for that task only.
    subprocess.run([*git, "branch", "fleet/2"], check=True)
    subprocess.run([*git, "worktree", "add", "-q", str(tmp_path / "elsewhere"), "fleet/2"], check=True)
    bad = int(fleet_dir.run("task", "add", "doomed").out)
    good = int(fleet_dir.run("task", "add", "fine").out)
    wait_for(
        lambda: {tasks(fleet_dir)[bad]["state"], tasks(fleet_dir)[good]["state"]} == {"needs-human", "done"},
        timeout=30,
        what="one task to fail on git, the next to run",
    )
    failed = [e for e in events(fleet_dir, "task-workspace-failed") if e.data["task"] == bad]
    assert failed and "fatal:" in failed[0].reason and "fleet/2" in failed[0].reason
    assert "workspace: git worktree add" in str(tasks(fleet_dir)[bad]["reason"])


@pytest.mark.timeout(60)
def test_cancel_closes_a_running_tasks_window(fleet_dir: FleetHarness) -> None:
    start(fleet_dir, "slots = 1")
    tid = int(fleet_dir.run("task", "add", "long [hang]").out)
    wait_for(lambda: f"coder.{tid}" in fleet_dir.tmux("list-windows", "-F", "#{window_name}"), what="the window")
    run = tasks(fleet_dir)[tid]["run"]
    assert pids_with_env("FLEET_RUN", str(run))
    assert fleet_dir.run("task", "cancel", str(tid)).code == 0
    wait_for(lambda: f"coder.{tid}" not in fleet_dir.tmux("list-windows", "-F", "#{window_name}"), what="close")
    wait_for(lambda: not pids_with_env("FLEET_RUN", str(run)), what="the agent's processes to end")
    assert tasks(fleet_dir)[tid]["state"] == TaskState.CANCELLED.value


def test_down_stops_task_windows_and_the_server(fleet_dir: FleetHarness) -> None:
    start(fleet_dir, "slots = 1")
    tid = int(fleet_dir.run("task", "add", "long [hang]").out)
    wait_for(lambda: f"coder.{tid}" in fleet_dir.tmux("list-windows", "-F", "#{window_name}"), what="the window")
    run = str(tasks(fleet_dir)[tid]["run"])
    assert pids_with_env("FLEET_RUN", run)
    result = fleet_dir.run("down")
    assert result.code == 0, result
    assert pids_with_env("FLEET_RUN", run) == []
    assert fleet_dir.tmux("list-sessions") == ""  # nothing keeps the server alive
