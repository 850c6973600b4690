"""Task windows are visible and nameable: `status` shows them per pool, and `logs`, `attach`,
`restart`, `down` and `send` take `pool.id`. Real tmux, a real supervise loop, a fake fixer."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import FleetHarness, pids_with_env, wait_for

pytestmark = pytest.mark.tmux

# The fake fixer: says which task it works on, then keeps working (until stopped).
FIXER = "echo fixing task {task_id}; exec sleep 60"
# One that also answers what is typed into its window, line by line.
READER = "echo fixing task {task_id}; while read line; do echo fixer got: $line; done"


def start(h: FleetHarness, pools: str) -> None:
    h.write(pools, supervisor=True)
    result = h.run("up")
    assert result.code == 0, result
    wait_for(lambda: "_supervisor" in h.tmux("list-windows", "-F", "#{window_name}"), what="the supervise loop")


def task_rows(h: FleetHarness) -> dict[str, dict[str, object]]:
    result = h.run("status", "--json")
    assert result.code == 0, result
    return {r["name"]: r for r in json.loads(result.out) if r.get("kind") == "task"}


def running(h: FleetHarness, name: str, attempt: int = 1) -> dict[str, object]:
    def ready() -> dict[str, object] | None:
        row = task_rows(h).get(name)
        return row if row and row["state"] == "running" and row["attempt"] == attempt else None

    found = wait_for(ready, timeout=20, what=f"{name} attempt {attempt} running", explain=lambda: str(task_rows(h)))
    assert isinstance(found, dict)
    return found


def test_status_shows_each_pools_task_windows(fleet_dir: FleetHarness) -> None:
    start(
        fleet_dir,
        f"""
    [agents.web]
    command = "sleep 60"

    [pools.fix]
    command = "{FIXER}"
    slots = 2

    [pools.docs]
    command = "{FIXER}"
    labels = ["docs"]
    """,
    )
    assert fleet_dir.run("task", "add", "fix the parser", "--pool", "fix").code == 0
    assert fleet_dir.run("task", "add", "fix the lexer", "--pool", "fix").code == 0
    row = running(fleet_dir, "fix.1")
    running(fleet_dir, "fix.2")
    assert row["pool"] == "fix" and row["task"] == 1 and row["title"] == "fix the parser"
    assert row["window"] and row["pid"] and row["activity"] == "-"
    windows = fleet_dir.tmux("list-windows", "-F", "#{window_name} #{window_id}").split()
    assert windows[windows.index("fix.1") + 1] == row["window"]
    agents = [r for r in json.loads(fleet_dir.run("status", "--json").out) if r.get("kind") != "task"]
    assert [a["name"] for a in agents] == ["web"]  # the agents' rows are as before

    text = fleet_dir.run("status").out
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["NAME", "STATE"] and lines[1].startswith("web")
    assert "pool fix: 2 task windows (slots 2)" in text and "pool docs: 0 task windows (slots 1)" in text
    header = lines.index("pool fix: 2 task windows (slots 2)") + 1
    assert lines[header].split() == ["TASK", "TITLE", "ATTEMPT", "STATE", "ACTIVITY", "RUNTIME", "WINDOW"]
    assert lines[header + 1].split()[0] == "1" and "fix the parser" in lines[header + 1]
    assert lines[header + 1].split()[-4:-1] == ["running", "-", lines[header + 1].split()[-2]]
    assert lines[header + 1].split()[-1] == "fix.1"

    only = fleet_dir.run("status", "fix.2")
    assert only.code == 0 and "fix.2" in only.out and "fix.1" not in only.out and "web" not in only.out
    assert fleet_dir.run("status", "fix.7").out.strip() == "fix.7: no task window runs by that name"
    assert fleet_dir.run("down").code == 0


def test_logs_attach_send_restart_and_down_take_a_task_window(
    fleet_dir: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    start(
        fleet_dir,
        f"""
    [pools.fix]
    command = "{READER}"
    """,
    )
    assert fleet_dir.run("task", "add", "fix the parser").code == 0
    first = running(fleet_dir, "fix.1")

    wait_for(lambda: "fixing task 1" in fleet_dir.run("logs", "fix.1").out, what="the task window's log")
    missing = fleet_dir.run("logs", "fix.7")
    assert missing.code == 2 and "fix.7 has no logs yet" in missing.err

    execs: list[list[str]] = []
    monkeypatch.setattr(os, "execvpe", lambda path, argv, env: execs.append(list(argv)))
    monkeypatch.delenv("TMUX", raising=False)
    assert fleet_dir.run("attach", "fix.1").code == 0
    assert execs and execs[0][-1] == first["window"] and "attach-session" in execs[0]
    nothing = fleet_dir.run("attach", "fix.9")
    assert nothing.code == 2 and "fix.9: no task window runs by that name (task windows: fix.1)" in nothing.err

    # A notice lands in the task window's inbox; a wake is typed into its pane, and the fixer reads it.
    notice = fleet_dir.run("send", "fix.1", "a note for later")
    assert notice.code == 0 and notice.out.strip().isdigit(), notice
    (note,) = json.loads(fleet_dir.run("inbox", "fix.1", "--json").out)
    assert (note["text"], note["from"], note["wake"]) == ("a note for later", "human", False), note
    woke = fleet_dir.run("send", "fix.1", "please hurry", "--wake")
    assert woke.code == 0, woke

    def pane() -> str:
        return fleet_dir.tmux("capture-pane", "-p", "-t", str(first["window"]))

    wait_for(lambda: "fixer got: please hurry" in pane(), what="the wake typed into fix.1's pane", explain=pane)
    assert "a note for later" not in pane()
    assert [e.agent for e in fleet_dir.fleet().store.events() if e.kind == "woke"] == ["fix.1"]

    restarted = fleet_dir.run("restart", "fix.1")
    assert restarted.code == 0, restarted
    assert "fix.1: stopped; the pool queues its task again" in restarted.err
    second = running(fleet_dir, "fix.1", attempt=2)
    assert second["pid"] != first["pid"]
    assert pids_with_env("FLEET_RUN", _run(fleet_dir, 1, attempt=1)) == []
    stops = [e for e in fleet_dir.fleet().store.events() if e.kind == "task-killed"]
    assert [(e.agent, e.data["why"], e.reason) for e in stops] == [("fix.1", "stop", "restarted by request")]
    requeued = [e for e in fleet_dir.fleet().store.events() if e.kind == "task-requeued"]
    assert [e.reason for e in requeued] == ["stop: restarted by request"]

    down = fleet_dir.run("down", "fix.1")
    assert down.code == 0, down
    assert pids_with_env("FLEET_RUN", _run(fleet_dir, 1, attempt=2)) == []
    assert "_supervisor" in fleet_dir.tmux("list-windows", "-F", "#{window_name}")  # only the window stopped
    again = fleet_dir.run("down", "fix.5")  # nothing runs there: said, not fatal
    assert again.code == 0 and "fix.5: no task window runs by that name; nothing to stop" in again.err
    assert fleet_dir.run("down").code == 0


def _run(h: FleetHarness, task: int, attempt: int) -> str:
    started = [e for e in h.fleet().store.events() if e.kind == "task-started" and e.data["task"] == task]
    return str(started[attempt - 1].data["run"])
