"""Review as a person does it: show what a task did, diff it, accept it, reject it (and re-queue)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

AGENT = """
import json, pathlib, sys, time
task = json.load(open(sys.argv[1]))
ws, log = pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
with open(log / f"seen-{task['id']}.jsonl", "a") as f:
    f.write(json.dumps(task) + "\\n")
if "[wait]" in task["title"]:
    while not (log / f"go-{task['id']}").exists():
        time.sleep(0.05)
if "[readme]" in task["title"]:
    (ws / "README").write_text(f"task {task['id']}\\n")
else:
    (ws / f"file-{task['id']}.txt").write_text(task["title"] + "\\n")
print(f"task {task['id']} wrote its file", flush=True)
"""


def git(repo: Path, *args: str) -> str:
    argv = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("hi\n")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "init")
    return repo


def start_pool(h: FleetHarness, tmp_path: Path, repo: Path, pool: str) -> Path:
    """A worktree pool running AGENT (it logs each task file it gets to the returned dir), supervised."""
    log = tmp_path / "agent-log"
    log.mkdir(exist_ok=True)
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    command = f"{sys.executable} {script} {{task_file}} {{workspace}} {log}"
    h.write(f'[pools.coder]\ncommand = "{command}"\nworkspace = "worktree"\nrepo = "{repo}"\n{pool}\n', supervisor=True)
    result = h.run("up")
    assert result.code == 0, result
    wait_for(lambda: "_supervisor" in h.tmux("list-windows", "-F", "#{window_name}"), what="the supervise loop")
    return log


def task(h: FleetHarness, tid: int) -> dict[str, object]:
    return json.loads(h.run("task", "show", str(tid), "--json").out)  # type: ignore[no-any-return]


def state_is(h: FleetHarness, tid: int, state: str) -> bool:
    return task(h, tid)["state"] == state


def seen(log: Path, tid: int) -> list[dict[str, object]]:
    return [json.loads(line) for line in (log / f"seen-{tid}.jsonl").read_text().splitlines()]


@pytest.mark.timeout(90)
def test_show_diff_accept_and_reject_with_requeue(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    base = git(repo, "rev-parse", "HEAD")
    log = start_pool(fleet_dir, tmp_path, repo, 'gate = "grep pass file-{task_id}.txt"\nmax_attempts = 3')
    assert fleet_dir.run("task", "add", "first try").out.strip() == "1"
    wait_for(
        lambda: state_is(fleet_dir, 1, "needs-review"), timeout=30, what="a failed gate", explain=fleet_dir.explain
    )
    shown = task(fleet_dir, 1)
    workspace = fleet_dir.state_dir() / "worktrees" / "coder" / "1"
    assert (shown["worktree"], shown["branch"], shown["base"]) == (str(workspace), "fleet/1", base)
    assert "file-1.txt | 1 +" in str(shown["diff_stat"])
    (attempt,) = shown["attempts"]  # type: ignore[misc]
    assert (attempt["exit_code"], attempt["class"], attempt["gate_code"]) == (0, "gate failed", 1)
    text = fleet_dir.run("task", "show", "1").out
    assert f"worktree: {workspace}" in text and "branch:   fleet/1" in text and f"base:     {base}" in text
    assert "exit 0, gate failed, gate exit 1" in text
    diff = fleet_dir.run("task", "diff", "1")
    assert diff.code == 0 and "+++ b/file-1.txt" in diff.out and "+first try" in diff.out
    done = fleet_dir.run("task", "done", "1")
    assert (done.code, done.err.strip()) == (2, "error: task 1 is needs-review; only a running task can be marked done")
    accepted = fleet_dir.run("task", "accept", "1", "--by", "alice")
    assert accepted.code == 0 and accepted.out.strip() == "task 1 done, accepted by alice", accepted
    shown = task(fleet_dir, 1)
    assert (shown["state"], shown["reviewed_by"], shown["reason"]) == ("done", "alice", "accepted by alice")
    assert isinstance(shown["reviewed_at"], float)
    again = fleet_dir.run("task", "accept", "1")
    assert (again.code, again.err.strip()) == (2, "error: task 1 is done; only a needs-review task can be accepted")
    assert [e.data["by"] for e in fleet_dir.fleet().store.events() if e.kind == "task-accepted"] == ["alice"]

    # A task with acceptance criteria: rejected and re-queued, the next attempt is told why.
    tid = int(fleet_dir.run("task", "add", "second", "--acceptance", "the file says pass").out)
    wait_for(lambda: state_is(fleet_dir, tid, "needs-review"), timeout=30, what="the second gate to fail")
    requeued = fleet_dir.run("task", "reject", str(tid), "--requeue", "--note", "write pass into it", "--by", "bob")
    assert requeued.code == 0 and requeued.out.strip() == f"task {tid} queued, rejected by bob", requeued
    wait_for(
        lambda: len(seen(log, tid)) == 2 and state_is(fleet_dir, tid, "needs-review"),
        timeout=30,
        what="the second attempt",
    )
    first, second = seen(log, tid)
    assert first["acceptance"] == second["acceptance"] == "the file says pass"
    assert first["previous_attempts"] == []
    (before,) = second["previous_attempts"]  # type: ignore[misc]
    assert before["attempt"] == 1 and before["outcome"] == "needs-review"
    assert "gate failed (exit 1)" in before["reason"] and "review: write pass into it" in before["reason"]
    rejected = fleet_dir.run("task", "reject", str(tid), "--note", "still no pass")
    assert rejected.code == 0, rejected
    shown = task(fleet_dir, tid)
    assert shown["state"] == "failed" and str(shown["reason"]).endswith(": still no pass")
    assert fleet_dir.run("task", "reject", str(tid)).code == 2
