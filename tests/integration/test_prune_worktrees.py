"""Worktrees go when their task no longer needs them, never while someone may still look at them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.integration.test_task_review_accept import git, make_repo, start_pool, state_is, task

pytestmark = pytest.mark.tmux


def prune_rows(h: FleetHarness, *args: str) -> dict[int, list[str]]:
    result = h.run("task", "prune", *args)
    assert result.code == 0, result
    rows = result.out.splitlines()[1:]
    return {int(line.split()[0]): line.split() for line in rows}


@pytest.mark.timeout(90)
def test_prune_keeps_open_tasks_and_removes_old_finished_ones(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    log = start_pool(
        fleet_dir, tmp_path, repo, 'gate = "grep pass file-{task_id}.txt"\nslots = 3\nworktree_keep = "1s"'
    )
    fleet_dir.run("task", "add", "one pass")
    fleet_dir.run("task", "add", "two")
    fleet_dir.run("task", "add", "three pass [wait]")
    wait_for(
        lambda: (
            state_is(fleet_dir, 1, "done")
            and state_is(fleet_dir, 2, "needs-review")
            and state_is(fleet_dir, 3, "running")
        ),
        timeout=30,
        what="done, needs-review and running",
        explain=fleet_dir.explain,
    )
    worktrees = fleet_dir.state_dir() / "worktrees" / "coder"
    dry = prune_rows(fleet_dir, "--dry-run")
    assert {t: row[1] for t, row in dry.items()} == {1: "done", 2: "needs-review", 3: "running"}
    assert dry[2][2] == dry[3][2] == "kept"
    # The done task is kept for worktree_keep (1s) after it finished, then due.
    wait_for(
        lambda: prune_rows(fleet_dir, "--dry-run")[1][2:4] == ["would", "remove"],
        timeout=10,
        what="worktree_keep to pass",
    )
    assert sorted(p.name for p in worktrees.iterdir()) == ["1", "2", "3"]  # a dry run removes nothing
    rows = prune_rows(fleet_dir)
    assert (rows[1][2], rows[2][2], rows[3][2]) == ("removed", "kept", "kept")
    assert sorted(p.name for p in worktrees.iterdir()) == ["2", "3"]
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["fleet/2", "fleet/3", "main"]
    assert task(fleet_dir, 1)["pruned"] is not None
    assert "pruned" in fleet_dir.run("task", "show", "1").out
    # A rejected task and a finished one go once their keep has passed; nothing is left.
    assert fleet_dir.run("task", "reject", "2").code == 0
    (log / "go-3").touch()
    wait_for(lambda: state_is(fleet_dir, 3, "done"), timeout=30, what="task 3 to finish")
    wait_for(
        lambda: all(row[2] == "removed" for row in prune_rows(fleet_dir).values()) and not any(worktrees.iterdir()),
        timeout=10,
        what="the rest to be pruned",
    )
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]
    assert prune_rows(fleet_dir) == {}
    # A retry after pruning makes a fresh worktree, and show reads the new one.
    assert fleet_dir.run("task", "retry", "2").code == 0
    wait_for(lambda: state_is(fleet_dir, 2, "needs-review"), timeout=30, what="the retried task's gate")
    shown = task(fleet_dir, 2)
    assert shown["pruned"] is None and shown["base"] == git(repo, "rev-parse", "main")
    assert "file-2.txt | 1 +" in str(shown["diff_stat"])
