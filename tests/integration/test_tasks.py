"""The task CLI as people and agents use it: input errors, pulling work, immediate dispatch."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, FleetHarness, wait_for

pytestmark = pytest.mark.tmux

POOL = f'[pools.coder]\ncommand = "{sys.executable} {EXAMPLES / "task_agent.py"} --task-file {{task_file}}"\n'


def test_add_list_show_and_bad_input(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    fleet_dir.write(POOL)
    body = tmp_path / "body.md"
    body.write_text("Steps:\n1. reproduce\n")
    first = fleet_dir.run(
        "task",
        "add",
        "Fix flaky test",
        "--body-file",
        str(body),
        "--priority",
        "1",
        "--label",
        "python",
        "--label",
        "ci",
        "--key",
        "issue-7",
    )
    assert first.code == 0 and first.out.strip() == "1"
    assert fleet_dir.run("task", "add", "Fix flaky test again", "--key", "issue-7").out.strip() == "1"
    assert fleet_dir.run("task", "add", "Later", "--pool", "coder").out.strip() == "2"
    listing = fleet_dir.run("task", "list", "--state", "queued").out.splitlines()
    assert listing[0].split() == ["ID", "STATE", "PRI", "POOL", "ATTEMPT", "AGENT", "TITLE", "REASON"]
    assert [line.split()[0] for line in listing[1:]] == ["1", "2"]
    shown = json.loads(fleet_dir.run("task", "show", "1", "--json").out)
    assert (shown["body"], shown["labels"], shown["priority"], shown["key"]) == (
        "Steps:\n1. reproduce\n",
        ["ci", "python"],
        1,
        "issue-7",
    )
    assert "Steps:" in fleet_dir.run("task", "show", "1").out
    pri = "error: priority: expected an integer from 0 (most urgent) to 4, got 7"
    pool = 'error: pool: expected a pool of the fleet file (pools: coder), got "nope"'
    for args, message in [
        (("task", "add", " "), "error: title: expected a non-empty title"),
        (("task", "add", "x", "--priority", "7"), pri),
        (("task", "add", "x", "--pool", "nope"), pool),
        (("task", "show", "99"), "error: no task 99"),
        (("task", "next", "--agent", "w", "--pool", "nope"), "error: no pool named 'nope' (pools: coder)"),
    ]:
        r = fleet_dir.run(*args)
        assert (r.code, r.err.strip()) == (2, message), args


def test_import_names_file_line_and_key_and_adds_nothing(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    fleet_dir.write(POOL)
    path = tmp_path / "backlog.jsonl"
    path.write_text('{"title": "a"}\n{"title": "b", "pool": "coder"}\n{"title": "c", "priority": "high"}\n')
    r = fleet_dir.run("task", "import", str(path))
    assert r.code == 2
    assert r.err.strip() == f'error: {path}:3: priority: expected an integer from 0 (most urgent) to 4, got "high"'
    assert json.loads(fleet_dir.run("task", "list", "--json").out) == []
    path.write_text('{"title": "a"}\n{"title": "b", "pool": "coder", "labels": ["x"]}\n')
    assert fleet_dir.run("task", "import", str(path)).out.split() == ["1", "2"]


def test_agents_pull_work_and_finish_it_from_their_own_process(fleet_dir: FleetHarness) -> None:
    fleet_dir.write("")  # no pools: tasks are pulled
    fleet_dir.run("task", "add", "low", "--priority", "3")
    fleet_dir.run("task", "add", "urgent", "--priority", "0")
    claimed = fleet_dir.run_process("task", "next", "--agent", "worker-1", "--json")
    assert claimed.code == 0, claimed
    task = json.loads(claimed.out)
    assert (task["id"], task["title"], task["attempt"]) == (2, "urgent", 1)
    assert fleet_dir.run_process("task", "done", "2", "--result", "merged").code == 0
    other = json.loads(fleet_dir.run_process("task", "next", "--agent", "worker-2").out)
    assert other["id"] == 1
    failed = fleet_dir.run_process("task", "fail", "1", "--reason", "cannot reproduce")
    assert failed.code == 0, failed
    assert fleet_dir.run_process("task", "next", "--agent", "worker-1").out.strip() == "null"
    listed = json.loads(fleet_dir.run("task", "list", "--json").out)
    states = {t["id"]: (t["state"], t["result"], t["reason"]) for t in listed}
    assert states == {2: ("done", "merged", "reported done"), 1: ("failed", None, "cannot reproduce")}
    r = fleet_dir.run("task", "done", "1")
    assert r.code == 2 and r.err.strip() == "error: task 1 is failed; only a running task can be marked done"
    assert fleet_dir.run("task", "retry", "1").code == 0
    assert json.loads(fleet_dir.run("task", "next", "--agent", "w").out)["attempt"] == 2


@pytest.mark.timeout(60)
def test_task_add_wakes_dispatch_at_once(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(POOL + 'slots = 1\n[pools.coder.env]\nTASK_AGENT_SECONDS = "30"\n', supervisor=True)
    assert fleet_dir.run("up").code == 0
    wait_for(lambda: "_supervisor" in fleet_dir.tmux("list-windows", "-F", "#{window_name}"), what="supervise")
    wait_for(lambda: fleet_dir.fleet().store.meta().get("supervise_cycles"), what="the loop to go idle")
    start = time.monotonic()
    tid = fleet_dir.run("task", "add", "now please").out.strip()
    wait_for(
        lambda: f"coder.{tid}" in fleet_dir.tmux("list-windows", "-F", "#{window_name}"),
        timeout=10,
        interval=0.01,
        what="the task's window",
    )
    # The idle loop sleeps up to 60 s: only the wake FIFO explains a window within seconds.
    assert time.monotonic() - start < 5
