"""`task show` and `--json` name each attempt's host, and its cost (unknown for an outside claimer)."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import FleetHarness

pytestmark = pytest.mark.tmux


def test_task_show_names_each_attempts_host_and_an_unknown_cost(fleet_dir: FleetHarness) -> None:
    fleet_dir.write('[agents.a]\ncommand = "sleep 30"\n')
    assert fleet_dir.run("task", "add", "write the docs").out.strip() == "1"
    claimed = fleet_dir.run("task", "next", "--agent", "alice")
    assert claimed.code == 0 and json.loads(claimed.out)["id"] == 1, claimed
    host = socket.gethostname()

    text = fleet_dir.run("task", "show", "1")
    assert text.code == 0, text
    lines = text.out.splitlines()
    first = lines.index("attempts:") + 1
    assert lines[first].startswith("  #1 ") and lines[first].endswith(f" alice on {host}: running"), lines
    assert lines[first + 1] == "     cost unknown", lines

    (attempt,) = json.loads(fleet_dir.run("task", "show", "1", "--json").out)["attempts"]
    assert (attempt["agent"], attempt["host"], attempt["cost"]) == ("alice", host, None)
