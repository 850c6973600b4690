"""Messages: a wake is typed into a running agent's pane, a notice only lands in the inbox."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FleetHarness, wait_for

pytestmark = pytest.mark.tmux

# An agent that echoes every line typed into it, so a wake shows in its pane.
LISTENER = 'while read line; do echo \\"heard: $line\\"; done'


def pane(h: FleetHarness, window: str) -> str:
    return h.tmux("capture-pane", "-p", "-t", f"={h.name}:{window}")


def test_wake_reaches_the_pane_and_a_notice_does_not(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(f'[agents.worker]\ncommand = "{LISTENER}"\nmin_uptime = "0.2s"\n')
    assert fleet_dir.run("up").code == 0
    notice = fleet_dir.run("send", "worker", "quiet note", "--from", "alice")
    assert notice.code == 0, notice
    woke = fleet_dir.run("send", "worker", "please rebase now", "--wake")
    assert woke.code == 0, woke
    wait_for(lambda: "heard: please rebase now" in pane(fleet_dir, "worker"), what="the wake in the pane")
    assert "quiet note" not in pane(fleet_dir, "worker")
    inbox = json.loads(fleet_dir.run("inbox", "worker", "--json").out)
    assert [(m["from"], m["text"], m["wake"]) for m in inbox] == [
        ("alice", "quiet note", False),
        ("human", "please rebase now", True),
    ]
    assert inbox[1]["delivered"] is not None
    assert len(json.loads(fleet_dir.run("inbox", "worker", "--unread", "--ack", "--json").out)) == 2
    assert json.loads(fleet_dir.run("inbox", "worker", "--unread", "--json").out) == []


def test_a_wake_for_a_stopped_agent_is_typed_when_it_starts(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(f'[agents.worker]\ncommand = "{LISTENER}"\nmin_uptime = "0.2s"\n')
    assert fleet_dir.run("send", "worker", "good morning", "--wake").code == 0
    assert fleet_dir.fleet().store.pending_wakes()
    assert fleet_dir.run("up").code == 0
    fleet_dir.run("reconcile")  # the first pass after verification delivers pending wakes
    wait_for(lambda: "heard: good morning" in pane(fleet_dir, "worker"), what="the pending wake")
    assert not fleet_dir.fleet().store.pending_wakes()
    assert pane(fleet_dir, "worker").count("heard: good morning") == 1


def test_broadcast_with_a_key_is_delivered_once(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(
        f'[agents.a]\ncommand = "{LISTENER}"\nmin_uptime = "0.2s"\n'
        f'[agents.b]\ncommand = "{LISTENER}"\nmin_uptime = "0.2s"\n'
    )
    assert fleet_dir.run("up").code == 0
    for _ in range(3):
        assert fleet_dir.run("send", "*", "standup in 5", "--key", "standup-1", "--wake").code == 0
    wait_for(lambda: all("heard: standup in 5" in pane(fleet_dir, n) for n in "ab"), what="both wakes")
    fleet_dir.run("reconcile")
    assert [pane(fleet_dir, n).count("heard: standup in 5") for n in "ab"] == [1, 1]
    assert [len(json.loads(fleet_dir.run("inbox", n, "--json").out)) for n in "ab"] == [1, 1]


def test_bad_recipients_are_one_line_errors(fleet_dir: FleetHarness) -> None:
    fleet_dir.write(f'[agents.worker]\ncommand = "{LISTENER}"\n')
    r = fleet_dir.run("send", "wroker", "hi")
    assert r.code == 2 and r.err.strip() == (
        "error: no agent named 'wroker' (agents: worker; or `*` for all, `human` for people)"
    )
    r = fleet_dir.run("send", "human", "hi", "--wake")
    assert r.code == 2 and r.err.count("\n") == 1
    assert fleet_dir.run("send", "human", "blocked on credentials", "--from", "worker").code == 0
    assert json.loads(fleet_dir.run("inbox", "human", "--json").out)[0]["from"] == "worker"
