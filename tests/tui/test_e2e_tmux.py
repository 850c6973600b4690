"""`fleetctl tui` in a real terminal: a pane of a private tmux server, driven with send-keys
and read with capture-pane, as a person at a terminal would."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import REPO, FleetHarness, wait_for

pytestmark = pytest.mark.tmux

FLEET = """
[agents.alpha]
command = "sh -c 'echo alpha says hello; exec sleep 600'"
min_uptime = "0.2s"

[agents.beta]
command = "sh -c 'echo beta ready; exec sleep 600'"
min_uptime = "0.2s"
"""


class Terminal:
    """One 100x30 tmux pane on its own server, running a command as its terminal."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "tui")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "tui", *keys)

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        try:
            return str(wait_for(lambda: text in (s := self.screen()) and s, timeout, what=f"{text!r} on screen"))
        except BaseException:
            print(self.screen())  # shown by pytest on failure
            raise


@pytest.fixture
def terminal(fleet_dir: FleetHarness) -> Iterator[Terminal]:
    fleet_dir.write(FLEET)
    assert fleet_dir.run("up").code == 0
    term = Terminal(f"tui-{uuid.uuid4().hex[:8]}")
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "fleetctl", "-c", str(fleet_dir.path), "tui"])
    env = {"TERM": "xterm-256color", "PYTHONPATH": str(REPO), "TMUX_TMPDIR": os.environ["TMUX_TMPDIR"]}
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # remain-on-exit keeps the pane (and a traceback, if any) readable after the TUI quits
    term.tmux("new-session", "-d", "-s", "tui", "-x", "100", "-y", "30", f"env -u COLUMNS -u LINES {exports} {command}")
    term.tmux("set-option", "-t", "tui", "remain-on-exit", "on")
    yield term
    term.tmux("kill-server")


def test_tui_in_a_real_terminal(terminal: Terminal, fleet_dir: FleetHarness) -> None:
    screen = terminal.wait_for("beta")
    assert "─" * 100 in screen  # it uses the whole 100-column terminal
    assert "alpha" in screen and "running" in screen
    terminal.wait_for("alpha says hello")  # the selected agent's pane, live
    terminal.keys("/")
    terminal.wait_for("filter: name")  # the box is up and focused before anything is typed into it
    terminal.keys("-l", "bet")
    wait_for(lambda: "alpha" not in terminal.screen().split("NAME", 1)[1].split("──", 1)[0], 10, what="alpha hidden")
    terminal.wait_for("beta ready")  # the only row left is selected; its pane shows
    terminal.keys("Escape")
    terminal.wait_for("alpha ")
    terminal.keys("Up")
    terminal.wait_for("alpha says hello")
    terminal.keys("k")
    terminal.wait_for("Kill alpha (pid")  # the confirmation comes first
    terminal.keys("n")
    terminal.wait_for("was not killed")
    terminal.keys("q")
    wait_for(
        lambda: terminal.tmux("display-message", "-p", "-t", "tui", "#{pane_dead}").strip() == "1",
        10,
        what="the TUI to exit",
    )
    assert fleet_dir.status()["alpha"]["state"] == "running"
