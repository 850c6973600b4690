"""The real aider in a pool against the loopback mock: it prints what each answer cost (counting
tokens itself), and `task show` gives the attempt that figure, from the attempt's own log."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.mockapi import MockAPI, Reply, clients

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.timeout(120)]


def test_task_show_gives_an_aider_attempt_the_cost_aider_printed(fleet_dir: FleetHarness, mock_api: MockAPI) -> None:
    mock_api.script(Reply(text="Task done."))
    work = clients.git_repo(fleet_dir.dir / "work")
    run = clients.prepare("aider", mock_api.url, Path(os.environ["HOME"]), work)
    argv = " ".join(run.argv)
    env = "\n".join(f'{key} = "{value}"' for key, value in run.env.items())
    fleet_dir.write(
        f"""
    [pools.coder]
    command = "{argv} --yes-always --no-gitignore --message 'Do the task.'"
    kind = "aider"
    cwd = "{work}"

    [pools.coder.env]
    {env}
    """,
        supervisor=True,
    )
    assert fleet_dir.run("up").code == 0
    assert fleet_dir.run("task", "add", "Say done").code == 0
    wait_for(
        lambda: json.loads(fleet_dir.run("task", "list", "--json").out)[0]["state"] not in ("queued", "running"),
        timeout=90,
        what="the task finished",
        explain=fleet_dir.explain,
    )
    # aider counts its tokens itself and prints what the answer cost; the attempt gives that figure.
    said = re.search(
        r"Tokens: (\d+) sent, (\d+) received\. Cost: \$([\d.]+) message", fleet_dir.run("logs", "coder.1").out
    )
    assert said is not None and float(said[3]) > 0, fleet_dir.run("logs", "coder.1").out
    shown = json.loads(fleet_dir.run("task", "show", "1", "--json").out)
    [attempt] = shown["attempts"]
    assert attempt["cost"] == float(said[3]), shown
    assert (attempt["usage"]["input_tokens"], attempt["usage"]["output_tokens"]) == (int(said[1]), int(said[2]))
    text = fleet_dir.run("task", "show", "1").out
    assert f"tokens: {said[1]} in, {said[2]} out" in text and f"cost ${float(said[3]):.4f}" in text, text
    assert fleet_dir.run("down").code == 0
