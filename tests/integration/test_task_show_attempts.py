"""`task show` gives each attempt what a reviewer needs: when it ran, how it ended, the gate's last
lines and what it cost. Real git worktree, real gate, a pool whose kind reports usage by command."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.integration.test_task_review_accept import make_repo, task

pytestmark = pytest.mark.tmux

# The agent logs its usage as it answers (as an in-house client might), one JSON line each, beside
# an answer from long before this attempt that must not count for it; then it edits the worktree.
AGENT = """
import json, pathlib, sys, time
task = json.load(open(sys.argv[1]))
ws, log = pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
now = time.time()
answers = [
    {"time": now - 3600, "model": "m-1", "input_tokens": 99999, "output_tokens": 99999},
    {"time": now, "model": "m-1", "input_tokens": 1000, "output_tokens": 200},
    {"time": now, "model": "own", "input_tokens": 1, "output_tokens": 1, "cost_usd": 0.5},
]
with open(log / f"usage-{task['id']}.jsonl", "a") as f:
    f.writelines(json.dumps(a) + "\\n" for a in answers)
(ws / "change.txt").write_text("changed\\n")
"""

# The gate prints 15 numbered lines, then fails: the attempt keeps the last 10.
GATE = "for i in $(seq 1 15); do echo gate line $i; done; exit 1"


def stamp(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


@pytest.mark.timeout(60)
def test_task_show_gives_each_attempts_times_gate_tail_and_cost(fleet_dir: FleetHarness, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    log = tmp_path / "usage"
    log.mkdir()
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    fleet_dir.write(
        f"""
    [kinds.bot]
    session.usage = "command"
    session.usage_command = 'cat {log}/usage-"${{FLEET_AGENT#coder.}}".jsonl'
    prices."m-1" = {{ input = 2.0, output = 10.0 }}

    [pools.coder]
    command = "{sys.executable} {script} {{task_file}} {{workspace}} {log}"
    kind = "bot"
    workspace = "worktree"
    repo = "{repo}"
    gate = "{GATE}"
    """,
        supervisor=True,
    )
    assert fleet_dir.run("up").code == 0
    before = time.time()
    assert fleet_dir.run("task", "add", "change something").out.strip() == "1"
    wait_for(
        lambda: task(fleet_dir, 1)["state"] == "needs-review",
        timeout=30,
        what="the gate to fail",
        explain=fleet_dir.explain,
    )
    after = time.time()

    shown = task(fleet_dir, 1)
    (attempt,) = shown["attempts"]  # type: ignore[misc]
    started, ended = attempt["started"], attempt["ended"]
    assert isinstance(started, float) and isinstance(ended, float)
    assert before - 1 <= started <= ended <= after + 1, (before, started, ended, after)
    assert (attempt["agent"], attempt["host"]) == ("coder.1", socket.gethostname())
    assert (attempt["exit_code"], attempt["class"], attempt["gate_code"]) == (0, "gate failed", 1)
    assert attempt["gate_output"] == [f"gate line {i}" for i in range(6, 16)]
    expected = (1000 * 2.0 + 200 * 10.0) / 1e6 + 0.5  # the kind's prices, plus the client's own figure
    assert attempt["cost"] == pytest.approx(expected)
    used = attempt["usage"]
    assert (used["input_tokens"], used["output_tokens"], used["messages"]) == (1001, 201, 2), used

    text = fleet_dir.run("task", "show", "1").out.splitlines()
    first = next(i for i, line in enumerate(text) if line.startswith("  #1 "))
    assert text[first] == f"  #1 {stamp(started)} .. {stamp(ended)} coder.1 on {socket.gethostname()}: needs-review" + (
        f" ({shown['reason']})"
    ), text
    assert text[first + 1] == "     tokens: 1001 in, 201 out, 0 cache"
    assert text[first + 2] == "     exit 0, gate failed, gate exit 1, cost $0.5040"
    assert text[first + 3 : first + 13] == [f"     | gate line {i}" for i in range(6, 16)]
    assert "gate line 5" not in "\n".join(text)
    assert fleet_dir.run("down").code == 0


@pytest.mark.timeout(60)
def test_an_attempts_cost_is_unknown_when_its_usage_command_fails(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(
        """
    [kinds.bot]
    session.usage = "command"
    session.usage_command = "exit 3"

    [pools.coder]
    command = "echo done"
    kind = "bot"
    """,
        supervisor=True,
    )
    assert fleet_dir.run("up").code == 0
    assert fleet_dir.run("task", "add", "anything").code == 0
    wait_for(lambda: task(fleet_dir, 1)["state"] == "done", timeout=30, what="the task", explain=fleet_dir.explain)
    (attempt,) = task(fleet_dir, 1)["attempts"]  # type: ignore[misc]
    assert (attempt["cost"], attempt["usage"]) == (None, None)
    text = fleet_dir.run("task", "show", "1").out
    assert "exit 0, exited, cost unknown" in text and "tokens:" not in text
    assert fleet_dir.run("down").code == 0
