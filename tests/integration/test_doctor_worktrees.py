"""`fleetctl doctor` reports the disk the pools' task worktrees use: count, total and the largest few."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.integration.test_task_review_accept import make_repo, start_pool, state_is

pytestmark = pytest.mark.tmux


@pytest.mark.timeout(90)
def test_doctor_counts_task_worktrees_and_names_the_largest(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    start_pool(fleet_dir, tmp_path, repo, "slots = 2")
    before = {c["check"]: c for c in json.loads(fleet_dir.run("doctor", "--json").out)}
    assert before["worktrees"]["detail"].startswith("no task worktrees in "), before["worktrees"]

    for title in ("one", "two", "three"):
        fleet_dir.run("task", "add", title)
    wait_for(
        lambda: all(state_is(fleet_dir, tid, "done") for tid in (1, 2, 3)),
        timeout=30,
        what="three tasks done",
        explain=fleet_dir.explain,
    )
    worktrees = fleet_dir.state_dir() / "worktrees" / "coder"
    (worktrees / "2" / "big.bin").write_bytes(b"x" * 3 * 1024 * 1024)
    (worktrees / "3" / "mid.bin").write_bytes(b"y" * 1024 * 1024)

    r = fleet_dir.run("doctor")
    (line,) = [line for line in r.out.splitlines() if line.split()[1] == "worktrees"]
    assert line.startswith("ok "), r.out
    detail = line.split(None, 2)[2]
    assert detail.startswith("3 task worktrees, 4.") and " MiB in " in detail, detail
    assert "largest: coder/2 3.0 MiB, coder/3 1.0 MiB, coder/1 " in detail, detail
    assert "fleetctl task prune" in detail
    assert fleet_dir.run("down").code == 0


def test_doctor_says_nothing_of_worktrees_without_worktree_pools(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 30"\nmin_uptime = "0.2s"\n')
    checks = [c["check"] for c in json.loads(fleet_dir.run("doctor", "--json").out)]
    assert "worktrees" not in checks and "config" in checks
