"""on_done: merge a passed task's branch (fast-forward, merge commit, conflict) or open a PR."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.integration.test_task_review_accept import git, make_repo, start_pool, state_is, task

pytestmark = pytest.mark.tmux

GATE = 'gate = "test -s file-{task_id}.txt || grep task README"'


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").split()


@pytest.mark.timeout(90)
def test_merge_fast_forwards_into_the_current_branch_and_a_conflict_needs_review(
    fleet_dir: FleetHarness, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    log = start_pool(fleet_dir, tmp_path, repo, f'{GATE}\non_done = "merge"')
    fleet_dir.run("task", "add", "add a file")
    wait_for(lambda: state_is(fleet_dir, 1, "done"), timeout=30, what="task 1 done", explain=fleet_dir.explain)
    # Fast-forward: main (checked out in the repo) now has the task's commit and its file.
    assert (repo / "file-1.txt").read_text() == "add a file\n"
    assert git(repo, "log", "-1", "--format=%s") == "fleet task 1: add a file"
    assert git(repo, "status", "--porcelain") == ""
    shown = task(fleet_dir, 1)
    assert str(shown["result"]).startswith("merged fleet/1 into main (fast-forward, ")
    assert shown["merged"] == git(repo, "rev-parse", "main")
    # Done and merged: its worktree and branch are gone, and its diff still reads from git.
    assert not (fleet_dir.state_dir() / "worktrees" / "coder" / "1").exists()
    assert "fleet/1" not in branches(repo)
    assert "+add a file" in fleet_dir.run("task", "diff", "1").out

    # A conflict: main changes README while the task rewrites it.
    fleet_dir.run("task", "add", "rewrite readme [wait] [readme]")
    wait_for(lambda: (log / "seen-2.jsonl").exists(), timeout=30, what="task 2 to start")
    (repo / "README").write_text("changed on main\n")
    git(repo, "commit", "-q", "-am", "main moves on")
    (log / "go-2").touch()
    wait_for(lambda: state_is(fleet_dir, 2, "needs-review"), timeout=30, what="the conflict")
    shown = task(fleet_dir, 2)
    assert shown["reason"] == "merge of fleet/2 into main conflicts in: README"
    assert (repo / "README").read_text() == "changed on main\n" and git(repo, "status", "--porcelain") == ""
    assert (fleet_dir.state_dir() / "worktrees" / "coder" / "2").exists() and "fleet/2" in branches(repo)
    accepted = fleet_dir.run("task", "accept", "2")
    assert accepted.code == 1
    assert (
        accepted.err.splitlines()[0]
        == "error: task 2 stays needs-review: merge of fleet/2 into main conflicts in: README"
    )
    assert task(fleet_dir, 2)["state"] == "needs-review"


@pytest.mark.timeout(90)
def test_merge_commit_into_a_branch_not_checked_out(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    git(repo, "branch", "integration")
    log = start_pool(fleet_dir, tmp_path, repo, f'{GATE}\non_done = "merge"\nmerge_into = "integration"')
    fleet_dir.run("task", "add", "on its own [wait]")
    wait_for(lambda: (log / "seen-1.jsonl").exists(), timeout=30, what="task 1 to start")
    git(repo, "checkout", "-q", "integration")
    (repo / "other.txt").write_text("x\n")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-q", "-m", "integration moves on")
    git(repo, "checkout", "-q", "main")
    (log / "go-1").touch()
    wait_for(lambda: state_is(fleet_dir, 1, "done"), timeout=30, what="task 1 merged", explain=fleet_dir.explain)
    assert "(merge-commit, " in str(task(fleet_dir, 1)["result"])
    parents = git(repo, "log", "-1", "--format=%P", "integration").split()
    assert len(parents) == 2
    assert git(repo, "show", "integration:file-1.txt") == "on its own [wait]"
    assert git(repo, "show", "integration:other.txt") == "x"
    assert not (repo / "file-1.txt").exists()  # main and its working tree are untouched


@pytest.mark.timeout(90)
def test_pr_command_gets_quoted_placeholders_and_its_failure_needs_review(
    fleet_dir: FleetHarness, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    calls = tmp_path / "calls.jsonl"
    script = tmp_path / "pr.py"
    script.write_text(
        "import json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "print('https://example.invalid/pr/1')\n"
        "sys.exit(1 if 'broken' in sys.argv[2] else 0)\n"
    )
    import sys

    pr = f"{sys.executable} {script} {{branch}} {{title}} {{task_file}}"
    start_pool(fleet_dir, tmp_path, repo, f'{GATE}\non_done = "pr"\npr_command = "{pr}"')
    fleet_dir.run("task", "add", "it's a $(title) with spaces")
    wait_for(lambda: state_is(fleet_dir, 1, "done"), timeout=30, what="the PR", explain=fleet_dir.explain)
    assert task(fleet_dir, 1)["result"] == "https://example.invalid/pr/1"
    branch, title, task_file = json.loads(calls.read_text().splitlines()[0])
    assert (branch, title) == ("fleet/1", "it's a $(title) with spaces")
    assert json.loads(Path(task_file).read_text())["id"] == 1
    assert git(repo, "log", "-1", "--format=%s", "fleet/1") == "fleet task 1: it's a $(title) with spaces"
    fleet_dir.run("task", "add", "broken pr")
    wait_for(lambda: state_is(fleet_dir, 2, "needs-review"), timeout=30, what="the failed PR")
    reason = str(task(fleet_dir, 2)["reason"])
    assert reason == "pr_command failed (exit 1): https://example.invalid/pr/1"
    assert (
        subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "fleet/2"], capture_output=True).returncode
        == 0
    )


def test_on_done_needs_a_worktree_pool(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[pools.coder]\ncommand = "true"\non_done = "merge"\n')
    result = fleet_dir.run("task", "list")
    assert result.code == 2
    assert result.err.strip().endswith('pools.coder.on_done: "merge" needs workspace = "worktree" (a branch per task)')
    fleet_dir.write('[pools.coder]\ncommand = "true"\nworkspace = "worktree"\non_done = "pr"\n')
    result = fleet_dir.run("task", "list")
    assert result.code == 2 and "pr_command: required with on_done" in result.err


@pytest.mark.timeout(90)
def test_accepting_a_needs_review_task_merges_it(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    start_pool(fleet_dir, tmp_path, repo, 'gate = "grep pass file-{task_id}.txt"\non_done = "merge"')
    fleet_dir.run("task", "add", "good enough")
    wait_for(lambda: state_is(fleet_dir, 1, "needs-review"), timeout=30, what="the failed gate")
    assert not (repo / "file-1.txt").exists()  # a failed gate merges nothing
    accepted = fleet_dir.run("task", "accept", "1", "--by", "carol")
    assert accepted.code == 0, accepted
    assert accepted.out.startswith("task 1 done, accepted by carol: merged fleet/1 into main (fast-forward, ")
    assert (repo / "file-1.txt").read_text() == "good enough\n"
    assert task(fleet_dir, 1)["reviewed_by"] == "carol"
