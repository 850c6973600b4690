"""A real interactive client under fleetctl, against the loopback mock API: Claude Code at its
prompt reads `waiting`; `send --wake` pastes a prompt, submits it and sees it go `working`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.conftest import FleetHarness, wait_for
from tests.mockapi import MockAPI, Reply, clients

pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.timeout(180)]


def test_claude_waits_then_a_woken_prompt_makes_it_work(
    fleet_dir: FleetHarness, mock_api: MockAPI, tmp_path: Path
) -> None:
    clients.require("claude")
    mock_api.script(Reply(text="Pelicans fly in lines.", delay=8.0, times=5))
    run = clients.prepare("claude", mock_api.url, tmp_path / "home", clients.git_repo(tmp_path / "work"))
    env = "\n".join(f"{key} = {json.dumps(value)}" for key, value in run.env.items())
    fleet_dir.write(f"""
    [agents.coder]
    command = {json.dumps(shlex.join(run.argv))}
    cwd = {json.dumps(str(run.cwd))}
    kind = "claude"
    min_uptime = "0.5s"
    [agents.coder.env]
    {env}
    """)
    assert fleet_dir.run("up").code == 0

    def activity() -> str:
        fleet_dir.run("reconcile")
        return str(fleet_dir.status()["coder"]["activity"])

    wait_for(
        lambda: activity() == "waiting",
        timeout=60,
        interval=0.5,
        what="claude at its prompt",
        explain=fleet_dir.explain,
    )
    result = fleet_dir.run("send", "coder", "Name the pelican-7431 in one word.", "--wake")
    assert result.code == 0 and "it is working" in result.out, (
        result,
        fleet_dir.tmux("capture-pane", "-p", "-t", "coder"),
    )
    wait_for(lambda: mock_api.saw("pelican-7431"), timeout=30, what="the prompt to reach the API")
