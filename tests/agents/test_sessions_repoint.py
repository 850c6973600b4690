"""The real Claude Code against the loopback mock: when a newer conversation of the agent is on
disk than the one its store records (someone ran claude in the agent's own config dir), the
next start (here a respawn after kill -9) resumes the newer one and says so, naming both."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from fleetctl.sessions.locate import own_dir
from tests.agents.test_sessions_claude import _claude_pid, _ready, _shows, _type, interactive_claude
from tests.conftest import FleetHarness, wait_for
from tests.mockapi import MockAPI, Reply

# The waits add up to ~440 s: a slow run fails with their explanation, not pytest-timeout's.
pytestmark = [pytest.mark.agents, pytest.mark.tmux, pytest.mark.timeout(480)]


def test_a_newer_transcript_wins_over_the_recorded_session(fleet_dir: FleetHarness, mock_api: MockAPI) -> None:
    mock_api.script(Reply(text="Noted: PELICAN."), Reply(text="Noted: OTTER."), then=Reply(text="It was OTTER."))
    run = interactive_claude(fleet_dir, mock_api)
    assert fleet_dir.run("up").code == 0
    window = str(fleet_dir.status()["c"]["window"])
    wait_for(lambda: _ready(fleet_dir, window), timeout=60, what="claude at its prompt")
    _type(fleet_dir, window, "Remember the word PELICAN.")
    wait_for(lambda: "Noted: PELICAN." in fleet_dir.tmux("capture-pane", "-p", "-t", window), timeout=60)
    first = str(wait_for(lambda: fleet_dir.status()["c"]["session"], what="the first session on disk"))
    assert fleet_dir.run("reconcile").code == 0  # a pass records the session the run began

    # By hand, in the agent's own config dir and cwd: a newer conversation of this agent.
    by_hand = {**os.environ, **run.env, "CLAUDE_CONFIG_DIR": str(own_dir(fleet_dir.state_dir(), "c"))}
    argv = [run.argv[0], "-p", "Remember the word OTTER."]
    done = subprocess.run(argv, cwd=run.cwd, env=by_hand, capture_output=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    second = str(wait_for(lambda: fleet_dir.status()["c"]["session"] != first and fleet_dir.status()["c"]["session"]))

    # The agent's claude dies without a last write (a clean stop would touch its own transcript,
    # which would then be the newest); the respawn picks the newest conversation on disk.
    pid = fleet_dir.status()["c"]["pid"]
    target = _claude_pid(int(str(pid)))
    assert target is not None
    os.kill(target, signal.SIGKILL)
    wait_for(lambda: fleet_dir.run("reconcile").code == 0 and fleet_dir.status()["c"]["pid"] not in (None, pid), 90)
    repointed = [e for e in fleet_dir.fleet().store.events() if e.kind == "session-repointed"]
    assert [(e.data.get("from"), e.data.get("to")) for e in repointed] == [(first, second)]
    assert first in repointed[0].reason and second in repointed[0].reason

    window = str(fleet_dir.status()["c"]["window"])
    wait_for(
        lambda: _ready(fleet_dir, window) and _shows(fleet_dir, window, "Noted: OTTER."),
        timeout=60,
        what="claude at its prompt again, the newer conversation on screen",
    )
    asked = len(mock_api.model_requests)
    _type(fleet_dir, window, "Which word was it?")
    wait_for(lambda: any("Which word was it?" in r.text() for r in mock_api.model_requests[asked:]), timeout=60)
    request = next(r for r in mock_api.model_requests[asked:] if "Which word was it?" in r.text())
    assert "Remember the word OTTER." in request.text()  # it went on in the newer conversation
    assert "PELICAN" not in request.text()
    assert fleet_dir.status()["c"]["session"] == second
