"""The real Claude Code, interactive in a fleet, against the loopback mock: killed with SIGKILL in
the middle of an answer, it comes back in the same conversation. Its transcript grows, and the
mock sees the earlier messages in the next request."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.mockapi import MockAPI, Reply, clients

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.timeout(240)]


def _type(fleet_dir: FleetHarness, window: str, text: str) -> None:
    """Type a prompt the way a person does: the text, then Enter on its own."""
    fleet_dir.tmux("send-keys", "-t", window, "-l", text)
    wait_for(lambda: text in fleet_dir.tmux("capture-pane", "-p", "-t", window), what="the prompt typed")
    fleet_dir.tmux("send-keys", "-t", window, "Enter")


def _ready(fleet_dir: FleetHarness, window: str) -> bool:
    return _shows(fleet_dir, window, "? for shortcuts")


def _shows(fleet_dir: FleetHarness, window: str, text: str) -> bool:
    return text in fleet_dir.tmux("capture-pane", "-p", "-t", window)


def _claude_pid(agent_pid: int) -> int | None:
    """The claude process in the agent's tree (the window's process or a child of it)."""
    todo = [agent_pid]
    while todo:
        pid = todo.pop()
        try:
            if b"claude" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return None


def interactive_claude(fleet_dir: FleetHarness, mock_api: MockAPI) -> clients.ClientRun:
    """Agent `c`: an interactive Claude Code in a git repo of its own, pointed at the mock."""
    work = clients.git_repo(fleet_dir.dir / "work")
    run = clients.prepare("claude", mock_api.url, Path(os.environ["HOME"]), work)
    env = "\n".join(f'{key} = "{value}"' for key, value in run.env.items())
    fleet_dir.write(f"""
    [agents.c]
    command = "{run.argv[0]}"
    kind = "claude"
    cwd = "{work}"
    start_timeout = "30s"
    min_uptime = "1s"
    backoff = "0.2s"

    [agents.c.env]
    {env}
    """)
    return run


def test_claude_killed_mid_answer_resumes_its_session(fleet_dir: FleetHarness, mock_api: MockAPI) -> None:
    mock_api.script(
        Reply(text="Noted: the word is PELICAN.", input_tokens=30, output_tokens=8),
        Reply(text="Working on the long task", delay=120),  # killed while this streams
        then=Reply(text="The word was PELICAN."),
    )
    interactive_claude(fleet_dir, mock_api)
    assert fleet_dir.run("up").code == 0
    row = fleet_dir.status()["c"]
    window, pid = str(row["window"]), int(str(row["pid"]))
    wait_for(lambda: _ready(fleet_dir, window), timeout=60, what="claude at its prompt")

    _type(fleet_dir, window, "Remember the word PELICAN.")
    wait_for(lambda: "Noted: the word is PELICAN." in fleet_dir.tmux("capture-pane", "-p", "-t", window), timeout=60)
    session = str(wait_for(lambda: fleet_dir.status()["c"]["session"], what="the session on disk"))
    own = fleet_dir.state_dir() / "sessions" / "c" / "projects"
    [transcript] = list(own.glob(f"*/{session}.jsonl"))
    assert not (Path(os.environ["HOME"]) / ".claude" / "projects").exists()  # the agent's own dir, not the user's

    _type(fleet_dir, window, "Now start the long task.")
    wait_for(lambda: mock_api.saw("Now start the long task."), timeout=60, what="the second prompt sent")
    before = transcript.stat().st_size
    target = _claude_pid(pid)
    assert target is not None
    os.kill(target, signal.SIGKILL)

    wait_for(lambda: fleet_dir.run("reconcile").code == 0 and fleet_dir.status()["c"]["pid"] not in (None, pid), 90)
    row = fleet_dir.status()["c"]
    window = str(row["window"])
    # A person types once the earlier conversation is back on screen, not at the first prompt:
    # a loaded machine draws the prompt before the resumed transcript is read.
    wait_for(
        lambda: _ready(fleet_dir, window) and _shows(fleet_dir, window, "Noted: the word is PELICAN."),
        timeout=60,
        what="claude at its prompt again, the earlier conversation on screen",
    )
    resumed = [e for e in fleet_dir.fleet().store.events() if e.kind == "session-resumed"]
    assert [e.data.get("session") for e in resumed] == [session]

    asked = len(mock_api.model_requests)
    _type(fleet_dir, window, "Which word was it?")
    wait_for(lambda: any("Which word was it?" in r.text() for r in mock_api.model_requests[asked:]), timeout=60)
    request = next(r for r in mock_api.model_requests[asked:] if "Which word was it?" in r.text())
    assert "Remember the word PELICAN." in request.text()  # the earlier conversation went with it
    assert "Noted: the word is PELICAN." in request.text()
    wait_for(lambda: transcript.stat().st_size > before, what="the same transcript growing")
    assert fleet_dir.status()["c"]["session"] == session
    # This run's tokens: the one answer since the respawn (the mock's default, 12 in and 5 out).
    used = wait_for(
        lambda: (u := fleet_dir.status()["c"]["usage"]) and u["messages"] == 1 and u,
        what="usage",
        explain=lambda: repr(fleet_dir.status()["c"]) + "\n" + transcript.read_text()[-3000:],
    )
    assert (used["input_tokens"], used["output_tokens"]) == (12, 5), used


def test_report_totals_equal_what_the_mock_counted(fleet_dir: FleetHarness, mock_api: MockAPI) -> None:
    mock_api.script(
        Reply(text="First.", input_tokens=41, output_tokens=7),
        Reply(text="Second.", input_tokens=83, output_tokens=11),
    )
    work = clients.git_repo(fleet_dir.dir / "work")
    run = clients.prepare("claude", mock_api.url, Path(os.environ["HOME"]), work)
    env = "\n".join(f'{key} = "{value}"' for key, value in run.env.items())
    fleet_dir.write(f"""
    [kinds.claude.prices."claude-opus-4-8"]
    input = 5.0
    output = 25.0

    [agents.c]
    command = "{run.argv[0]} -p 'Say hi.'"
    kind = "claude"
    cwd = "{work}"
    restart = "never"
    min_uptime = "0s"

    [agents.c.env]
    {env}
    """)
    fleet_dir.run("up")
    wait_for(lambda: fleet_dir.status()["c"]["state"] == "completed", timeout=60, what="the first run done")
    fleet_dir.run("restart", "c")  # resumes the session: the mock answers the second time
    wait_for(lambda: len(mock_api.model_requests) == 2, timeout=60, what="the second request")
    wait_for(lambda: fleet_dir.status()["c"]["state"] == "completed", timeout=60, what="the second run done")

    sent, received = mock_api.usage()
    assert (sent, received) == (41 + 83, 7 + 11)
    report = json.loads(fleet_dir.run("report", "--json").out)["usage"]
    total = report["total"]
    assert (total["input_tokens"], total["output_tokens"], total["messages"]) == (sent, received, 2)
    assert total["cost_usd"] == pytest.approx((sent * 5.0 + received * 25.0) / 1e6)
    assert report["agents"]["c"] == total
    assert [day["tokens"] for day in report["days"].values()] == [total["tokens"]]
    text = fleet_dir.run("report").out
    assert f"c                {sent} in, {received} out" in text, text
    metrics = fleet_dir.run("metrics").out
    label = f'agent="c",fleet="{fleet_dir.name}"'
    assert f'fleetctl_agent_tokens_total{{{label},type="input"}} {float(sent)}' in metrics, metrics
    assert f"fleetctl_agent_cost_usd_total{{{label}}} {total['cost_usd']}" in metrics, metrics


def test_task_show_gives_each_attempt_its_tokens_and_cost(fleet_dir: FleetHarness, mock_api: MockAPI) -> None:
    mock_api.script(Reply(text="Task done.", input_tokens=57, output_tokens=9))
    work = clients.git_repo(fleet_dir.dir / "work")
    run = clients.prepare("claude", mock_api.url, Path(os.environ["HOME"]), work)
    env = "\n".join(f'{key} = "{value}"' for key, value in run.env.items())
    fleet_dir.write(
        f"""
    [pools.coder]
    command = "{run.argv[0]} -p --model claude-haiku-4-5 'Do the task.'"
    kind = "claude"
    cwd = "{work}"

    [pools.coder.env]
    {env}

    [kinds.claude]
    prices."claude-haiku-4-5" = {{ input = 1000.0, output = 10000.0 }}
    """,
        supervisor=True,
    )
    assert fleet_dir.run("up").code == 0
    assert fleet_dir.run("task", "add", "Say done").code == 0
    wait_for(
        lambda: json.loads(fleet_dir.run("task", "list", "--json").out)[0]["state"] not in ("queued", "running"),
        timeout=90,
        what="the task finished",
    )
    shown = json.loads(fleet_dir.run("task", "show", "1", "--json").out)
    [attempt] = shown["attempts"]
    used = attempt["usage"]
    assert (used["input_tokens"], used["output_tokens"]) == mock_api.usage() == (57, 9), shown
    cost = (57 * 1000.0 + 9 * 10000.0) / 1e6  # priced by the fleet file's amended table
    assert attempt["cost"] == used["cost_usd"] == pytest.approx(cost), shown
    text = fleet_dir.run("task", "show", "1").out
    assert "tokens: 57 in, 9 out" in text and f"cost ${cost:.4f}" in text, text
    report = json.loads(fleet_dir.run("report", "--json").out)["usage"]
    assert report["tasks"]["1"] == report["pools"]["coder"] == report["total"] == used
