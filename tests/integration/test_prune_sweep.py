"""The supervise loop removes finished tasks' worktrees by itself (no `task prune`), never one that
waits for review. Real git worktrees, real gates, a real supervise loop with a short prune_every."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.integration.test_task_review_accept import git, make_repo, task

pytestmark = pytest.mark.tmux

# Writes file-<id>.txt holding the title; a title with [lock] also locks its worktree, so that git
# refuses to remove it when the task is merged (as when git fails, or the loop dies, right then).
AGENT = """
import json, pathlib, subprocess, sys
task = json.load(open(sys.argv[1]))
ws = pathlib.Path(sys.argv[2])
(ws / f"file-{task['id']}.txt").write_text(task["title"] + "\\n")
if "[lock]" in task["title"]:
    subprocess.run(["git", "-C", str(ws), "worktree", "lock", "--reason", "busy", str(ws)], check=True)
"""


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").split()


def events(h: FleetHarness, kind: str) -> list[str]:
    return [e.reason for e in h.fleet().store.events() if e.kind == kind]


@pytest.mark.timeout(90)
def test_the_supervise_loop_removes_merged_and_old_worktrees_and_keeps_one_in_review(
    fleet_dir: FleetHarness, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    command = f"{sys.executable} {script} {{task_file}} {{workspace}}"
    fleet_dir.write(
        f"""
    [pools.merger]
    command = "{command}"
    workspace = "worktree"
    repo = "{repo}"
    gate = "grep pass file-{{task_id}}.txt"
    on_done = "merge"
    slots = 2

    [pools.keeper]
    command = "{command}"
    workspace = "worktree"
    repo = "{repo}"
    gate = "grep pass file-{{task_id}}.txt"
    labels = ["keep"]
    worktree_keep = "2s"
    """,
        supervisor=True,
        extra_fleet='prune_every = "1s"',
    )
    assert fleet_dir.run("up").code == 0
    assert fleet_dir.run("task", "add", "merged pass [lock]", "--pool", "merger").out.strip() == "1"
    assert fleet_dir.run("task", "add", "no good", "--pool", "merger").out.strip() == "2"
    assert fleet_dir.run("task", "add", "kept pass", "--pool", "keeper").out.strip() == "3"
    worktrees = fleet_dir.state_dir() / "worktrees"
    wait_for(
        lambda: [task(fleet_dir, t)["state"] for t in (1, 2, 3)] == ["done", "needs-review", "done"],
        timeout=30,
        what="done, needs-review, done",
        explain=fleet_dir.explain,
    )
    merged = task(fleet_dir, 1)
    assert merged["merged"] is not None and merged["pruned"] is None
    assert (worktrees / "merger" / "1").is_dir() and "fleet/1" in branches(repo)  # git refused: it is locked
    assert any("task 1: worktree kept after the merge" in r for r in events(fleet_dir, "warning"))

    # Unlocked, the loop's next sweep removes it; task 3's goes once its worktree_keep has passed.
    git(repo, "worktree", "unlock", str(worktrees / "merger" / "1"))
    wait_for(  # a sweep removes the worktree, then its branch
        lambda: (
            not (worktrees / "merger" / "1").exists()
            and not (worktrees / "keeper" / "3").exists()
            and branches(repo) == ["fleet/2", "main"]
        ),
        timeout=20,
        what="the supervise loop to remove tasks 1's and 3's worktrees and branches",
        explain=lambda: (
            fleet_dir.run("events").out
            + fleet_dir.run("task", "prune", "--dry-run").out
            + fleet_dir.tmux("capture-pane", "-p", "-t", "_supervisor")
        ),
    )
    assert (worktrees / "merger" / "2").is_dir()
    pruned = sorted(events(fleet_dir, "task-pruned"))
    assert len(pruned) == 2 and pruned[0] == "task 1: done and merged", pruned
    assert pruned[1].startswith("task 3: done ") and pruned[1].endswith(" ago (worktree_keep 2s)"), pruned
    assert task(fleet_dir, 1)["pruned"] is not None and task(fleet_dir, 3)["pruned"] is not None
    assert task(fleet_dir, 2)["pruned"] is None
    assert "file-1.txt" in git(repo, "ls-files")  # merged into main before its worktree went
    assert fleet_dir.run("down").code == 0
